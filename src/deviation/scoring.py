"""The one path from a model and rows to ``score``, ``p_value`` and ``is_anomaly``.

The command line (in memory and streamed), :func:`deviation.scale.score_file`,
:func:`deviation.scale.score_dask` and explanations all build their scored
rows here, so a row gets the same columns, values and id text whichever path
scores it.

A model is a fitted :class:`~deviation.DevNet`, a scikit-learn ``Pipeline``
ending in one (the command line's models), a score blend or a CatBoost
pipeline saved by ``deviation compare`` (ranking scores only, unless they
were calibrated: then conformal p-values and a threshold too).

``is_anomaly`` is a per-row decision at a confidence (the row's p-value at
most ``1 - confidence``; conformal when the model has calibration scores, see
:mod:`deviation.calibration`), or one over all the rows scored together:
Benjamini-Hochberg at a false discovery rate, or the ``k`` highest scores
(:func:`decide_all`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import DataError
from .io.schema import InputSchema
from .scored import scored_columns

logger = logging.getLogger(__name__)

__all__ = [
    "SCORE_CHUNK_ROWS",
    "calibrate_model",
    "decide_all",
    "decision_scores",
    "feature_scores",
    "final_estimator",
    "has_decisions",
    "id_notes",
    "model_features",
    "model_input",
    "model_schema",
    "source_columns",
    "used_columns",
    "scored_frame",
    "threshold",
]

#: Columns the scored output adds after the ids (``row`` is explain's row position).
OUTPUT_COLUMNS = ("row", "score", "p_value", "is_anomaly")

#: Rows scored at a time, so that transient copies stay small whatever the input size.
SCORE_CHUNK_ROWS = 65_536


def final_estimator(model: Any) -> Any:
    """The last step of a Pipeline, or the model itself.

    Parameters
    ----------
    model : DevNet, Pipeline or ScoreBlend

    Returns
    -------
    object
        The estimator that computes scores (and p-values, for DevNet).
    """
    return model.steps[-1][1] if hasattr(model, "steps") else model


def has_decisions(model: Any) -> bool:
    """True when the model's scores have p-values and a threshold.

    A DevNet always has (conformal, or the prior's without calibration
    scores); a blend or a CatBoost rival only once calibrated
    (:class:`deviation.calibration.ConformalMixin`).
    """
    from .estimator import DevNet

    est = final_estimator(model)
    if isinstance(est, DevNet):
        return True
    return getattr(est, "calibration_scores_", None) is not None and hasattr(est, "p_values_from_scores")


def model_schema(model: Any) -> InputSchema | None:
    """How the model's training file was read, to read files to score the same way.

    The schema saved with the model (``input_schema_``) when there is one;
    for a model saved before schemas existed, the preprocessor's columns
    (its categorical columns as text, the others numeric); otherwise None.

    Parameters
    ----------
    model : DevNet, Pipeline or ScoreBlend

    Returns
    -------
    InputSchema or None
    """
    saved = getattr(model, "input_schema_", None)
    if saved is None and hasattr(model, "members_"):
        # a blend: the columns its members' preprocessing uses
        parts = [model_schema(member) for _, member in model.members_]
        columns: dict[str, str] = {}
        for part in parts:
            if part is None:
                return None
            columns.update(part.columns)
        return InputSchema(format="csv", columns=columns)
    first = model.steps[0][1] if hasattr(model, "steps") else None
    used = used_columns(first)
    if saved is not None:
        schema = saved if isinstance(saved, InputSchema) else InputSchema.from_dict(saved)
        if used is not None and schema.columns:
            # columns the preprocessing left out (ids, free text, constants) are neither needed nor read
            schema.columns = {name: kind for name, kind in schema.columns.items() if name in used}
        return schema
    if used is not None:
        # saved without a schema (e.g. by deviation compare): read each used column as its kind needs
        return InputSchema(format="csv", columns=used)
    if first is not None and getattr(first, "input_kind_", None) == "dataframe":
        names = [str(n) for n in first.feature_names_in_]
        return InputSchema.from_feature_kinds(names, list(first.categorical_features_))
    return None


def used_columns(preprocessor: Any) -> dict[str, str] | None:
    """The input columns a fitted preprocessor uses, with the reader kind each is read as.

    Columns it left out (identifiers, free text, constants) are not listed.
    None when the preprocessor has no column kinds (arrays, or model files
    written before column typing).

    Parameters
    ----------
    preprocessor : Preprocessor or None

    Returns
    -------
    dict of str to str or None
        ``numeric`` for plain numbers and 0/1 columns; ``text`` for
        categories, dates and numbers written as text (parsed by the
        preprocessing).
    """
    kinds = getattr(preprocessor, "column_kinds_", None)
    if not kinds:
        return None
    used = {}
    for kind in kinds:
        if kind.kind in ("identifier", "text", "constant"):
            continue
        plain_number = kind.kind in ("numeric", "binary") and not kind.spec
        used[kind.name] = "numeric" if plain_number else "text"
    return used


def id_notes(model: Any, columns: Sequence[str] | None, id_column: Any = None) -> list[str]:
    """Why a scored file's output may lack the ids of its rows: one sentence per case, none when all is well.

    Two cases, for a file scored without ``id_column``: the model's
    preprocessing classified some of the file's columns as identifiers
    (column kind ``identifier``, :mod:`deviation.preprocess.kinds`) while its
    training named no id column, so nothing is copied to the output; or the
    model has id columns (its input schema's ``id_columns``) that the file
    lacks, so those ids are missing from the output.

    Parameters
    ----------
    model : DevNet, Pipeline or ScoreBlend
    columns : sequence of str or None
        The scored file's column names (None: an array format, no names).
    id_column : str, sequence of str or None
        The id columns asked for; any given: no note.

    Returns
    -------
    list of str
    """
    if id_column is not None or not columns:
        return []
    present = set(map(str, columns))
    schema = model_schema(model)
    saved = [str(c) for c in (schema.id_columns if schema is not None else None) or []]
    notes = []
    missing = [c for c in saved if c not in present]
    if missing:
        which = (f"id column {missing[0]!r} is" if len(missing) == 1 else
                 f"id columns {', '.join(map(repr, missing))} are")
        notes.append(f"the model's {which} not in the scored file, so the output has no ids from it; name the "
                     "file's id column with --id-column NAME")
    if not saved:
        kinds = []
        for pre in _preprocessors(model):
            kinds += [k.name for k in (getattr(pre, "column_kinds_", None) or []) if k.kind == "identifier"]
        found = [c for c in dict.fromkeys(map(str, kinds)) if c in present]
        if found:
            notes.append(f"column {found[0]!r} looks like an identifier (left out of the features) and is not copied "
                         f"to the output; --id-column {found[0]} would copy it next to the scores")
    return notes


def _preprocessors(model: Any) -> list[Any]:
    """The Preprocessors of a pipeline, or of each member of a blend."""
    if hasattr(model, "members_"):
        return [p for _, member in model.members_ for p in _preprocessors(member)]
    if hasattr(model, "steps"):
        return [model.steps[0][1]]
    return []


def source_columns(model: Any) -> dict[str, str]:
    """For each feature the preprocessing gives, the input column it comes from.

    A date column's parts (``when.hour``, ...) come from ``when``; other
    features are their column. Empty for a model without column kinds.
    """
    first = model.steps[0][1] if hasattr(model, "steps") else None
    kinds = getattr(first, "column_kinds_", None) or []
    return {feature: kind.name for kind in kinds for feature in kind.features}


def model_input(model: Any, X: Any) -> Any:
    """``X`` as the model takes it: float64 numbers for a DevNet alone, as read for pipelines and blends."""
    if hasattr(model, "steps") or hasattr(model, "members_") or not isinstance(X, pd.DataFrame):
        return X
    return X.to_numpy(dtype=np.float64)


def model_features(model: Any, X: Any) -> Any:
    """``X`` as the model's scoring step reads it: through a Pipeline's preprocessing steps.

    With :func:`feature_scores`, the two halves of :func:`decision_scores`, so that a
    stream can preprocess the next batch while the current one is scored
    (:func:`deviation.scale.score_file`). A DevNet alone or a blend reads
    :func:`model_input` of ``X``.

    Parameters
    ----------
    model : DevNet, Pipeline or ScoreBlend
    X : DataFrame, ndarray or sparse matrix of shape (n_rows, n_features)

    Returns
    -------
    ndarray, sparse matrix or DataFrame of shape (n_rows, n_model_features)
    """
    X = model_input(model, X)
    if hasattr(model, "steps"):
        for _, step in model.steps[:-1]:
            if step is not None and step != "passthrough":
                X = step.transform(X)
    return X


def feature_scores(model: Any, Z: Any) -> np.ndarray:
    """Scores of rows already through :func:`model_features`: the scoring step's ``decision_function``.

    Returns
    -------
    numpy.ndarray of shape (n_rows,), float64
    """
    return np.asarray(final_estimator(model).decision_function(Z), dtype=np.float64)


def decision_scores(
    model: Any,
    X: Any,
    *,
    chunk_rows: int = SCORE_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Scores of the rows of ``X``, computed ``chunk_rows`` rows at a time.

    Parameters
    ----------
    model : DevNet, Pipeline or ScoreBlend
    X : DataFrame, ndarray or sparse matrix of shape (n_rows, n_features)
    chunk_rows : int
    progress : callable, optional
        Called with the number of rows of each scored chunk.

    Returns
    -------
    numpy.ndarray of shape (n_rows,), float64
        DevNet's z-scores (the paper's deviation scores), or a blend's ranking scores.
    """
    X = model_input(model, X)
    n = X.shape[0]
    scores = np.empty(n, dtype=np.float64)
    take = (lambda a, b: X.iloc[a:b]) if hasattr(X, "iloc") else (lambda a, b: X[a:b])
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        scores[start:stop] = model.decision_function(take(start, stop))
        if progress is not None:
            progress(stop - start)
    return scores


def threshold(model: Any, confidence: float | None = None) -> float | None:
    """The score above which a row is flagged at ``confidence`` (default: the model's); None for a blend."""
    est = final_estimator(model)
    if not has_decisions(model):
        return None
    return float(est.threshold_for(est.confidence if confidence is None else confidence))


def calibrate_model(model: Any, X: Any, y: Any = None) -> Any:
    """Recalibrate a model on fresh, mostly normal rows as read from a file, without retraining.

    The rows go through the model as when scoring (a pipeline's
    preprocessing, then the estimator's ``calibrate``): see
    :meth:`deviation.DevNet.calibrate` and
    :class:`deviation.calibration.ConformalMixin`.

    Parameters
    ----------
    model : DevNet, Pipeline or ScoreBlend
    X : DataFrame, ndarray or sparse matrix of shape (n_rows, n_features)
    y : array-like of shape (n_rows,), optional
        Rows with 1 (known anomalies) are left out.

    Returns
    -------
    model
        The same object, recalibrated; its estimator's ``calibration_drift_``
        compares the new calibration scores with the previous ones.

    Raises
    ------
    DataError
        When the model cannot be calibrated, or no row is left.
    """
    est = final_estimator(model)
    if not hasattr(est, "calibrate"):
        raise DataError(f"a {type(est).__name__} cannot be calibrated; calibrate a DevNet, blend or CatBoost model")
    if hasattr(model, "steps"):
        X = model[:-1].transform(X)
    elif not hasattr(model, "members_"):
        X = model_input(model, X)
    est.calibrate(X, y)
    return model


def decide_all(model: Any, scores: np.ndarray, *, fdr: float | None = None, top: int | None = None) -> np.ndarray:
    """Decisions over all the rows scored together: Benjamini-Hochberg at ``fdr``, or the ``top`` highest.

    Parameters
    ----------
    model : DevNet, Pipeline or ScoreBlend
        A blend allows ``top`` only (it has no p-values).
    scores : ndarray of shape (n_rows,)
        Every row's score: the procedures compare each row with all the others.
    fdr : float in (0, 1), optional
        Flag the rows Benjamini-Hochberg rejects at this false discovery rate
        (:func:`deviation.calibration.benjamini_hochberg`), on the model's
        p-values (conformal when it has calibration scores, else the prior's,
        with a warning).
    top : int >= 1, optional
        Flag the ``top`` rows with the highest scores (ties: earlier rows first).

    Returns
    -------
    ndarray of shape (n_rows,), int8

    Raises
    ------
    DataError
        When both or neither of ``fdr`` and ``top`` is given, or ``fdr`` for a blend.
    """
    from .calibration import benjamini_hochberg, top_k

    if (fdr is None) == (top is None):
        raise DataError("give exactly one of fdr (a false discovery rate) and top (a number of rows)")
    if top is not None:
        return top_k(scores, int(top)).astype(np.int8)
    if not has_decisions(model):
        raise DataError("a blend's scores have no p-values, so no false discovery control; use top instead")
    est = final_estimator(model)
    if getattr(est, "calibration_scores_", None) is None:
        logger.warning(
            "the model has no calibration scores: Benjamini-Hochberg runs on the prior's p-values, which hold "
            "only if normal rows score as N(prior_mean, prior_std); calibrate the model first (deviation calibrate)"
        )
    return benjamini_hochberg(est.p_values_from_scores(scores), float(fdr)).astype(np.int8)


def scored_frame(
    model: Any,
    scores: np.ndarray,
    *,
    ids: pd.DataFrame | None = None,
    confidence: float | None = None,
    index: pd.Index | None = None,
    is_anomaly: np.ndarray | None = None,
) -> pd.DataFrame:
    """The scored rows: the id columns (verbatim), ``score``, ``p_value`` and ``is_anomaly``.

    Parameters
    ----------
    model : DevNet, Pipeline or ScoreBlend
        The model that computed ``scores``.
    scores : numpy.ndarray of shape (n_rows,)
    ids : pandas.DataFrame of shape (n_rows, n_ids), optional
        Columns copied first, as they are.
    confidence : float in (0, 1), optional
        Confidence of ``is_anomaly`` (default: the model's). ``is_anomaly`` is
        1 where ``score > threshold``, that is where ``p_value <= 1 -
        confidence``: conformal p-values when the model has calibration scores
        (Bates et al., Annals of Statistics 2023), else the prior's one-sided
        test (Proposition 4.1 of Pang et al., KDD 2019).
    index : pandas.Index, optional
        Index of the result (Dask partitions keep theirs).
    is_anomaly : ndarray of shape (n_rows,), optional
        Decisions taken over all the rows (:func:`decide_all`), written instead
        of the per-row test (also for a blend).

    Returns
    -------
    pandas.DataFrame
        float64 ``score`` and ``p_value``, int8 ``is_anomaly``; a blend gives
        ``score`` only.
    """
    scores = np.asarray(scores, dtype=np.float64)
    columns: dict[str, Any] = {}
    if ids is not None:
        taken = [str(n) for n in ids.columns if str(n) in OUTPUT_COLUMNS]
        if taken:
            raise DataError(
                f"id column {taken[0]!r} has the name of an output column ({', '.join(OUTPUT_COLUMNS)}); "
                "rename it in the file (or copy it under another name) to keep both"
            )
        for name in ids.columns:
            columns[str(name)] = ids[name].to_numpy()
    if has_decisions(model):
        p_values, cut = final_estimator(model).p_values_from_scores(scores), threshold(model, confidence)
    else:
        p_values = cut = None
    columns.update(scored_columns(scores, p_values, cut, is_anomaly))
    return pd.DataFrame(columns, index=index if index is not None else pd.RangeIndex(len(scores)))
