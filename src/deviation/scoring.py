"""The one path from a model and rows to ``score``, ``p_value`` and ``is_anomaly``.

The command line (in memory and streamed), :func:`deviation.scale.score_file`,
:func:`deviation.scale.score_dask` and explanations all build their scored
rows here, so a row gets the same columns, values and id text whichever path
scores it.

A model is a fitted :class:`~deviation.DevNet`, a scikit-learn ``Pipeline``
ending in one (the command line's models), or a score blend (ranking scores
only: no p-value or threshold).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import DataError
from .io.schema import InputSchema

__all__ = [
    "SCORE_CHUNK_ROWS",
    "decision_scores",
    "feature_scores",
    "final_estimator",
    "has_decisions",
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
    """True when the model's scores have p-values and a threshold (DevNet), False for a blend."""
    return hasattr(final_estimator(model), "p_values_from_scores")


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


def scored_frame(
    model: Any,
    scores: np.ndarray,
    *,
    ids: pd.DataFrame | None = None,
    confidence: float | None = None,
    index: pd.Index | None = None,
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
        1 where ``score > threshold`` (the prior's one-sided test, Proposition
        4.1 of Pang et al., KDD 2019).
    index : pandas.Index, optional
        Index of the result (Dask partitions keep theirs).

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
    columns["score"] = scores
    if has_decisions(model):
        est = final_estimator(model)
        cut = threshold(model, confidence)
        columns["p_value"] = est.p_values_from_scores(scores)
        columns["is_anomaly"] = (scores > cut).astype(np.int8)
    return pd.DataFrame(columns, index=index if index is not None else pd.RangeIndex(len(scores)))
