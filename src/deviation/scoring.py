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

from .io.schema import InputSchema

__all__ = [
    "SCORE_CHUNK_ROWS",
    "decision_scores",
    "final_estimator",
    "has_decisions",
    "model_input",
    "model_schema",
    "scored_frame",
    "threshold",
]

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
    if saved is not None:
        return saved if isinstance(saved, InputSchema) else InputSchema.from_dict(saved)
    first = model.steps[0][1] if hasattr(model, "steps") else None
    if first is not None and getattr(first, "input_kind_", None) == "dataframe":
        names = [str(n) for n in first.feature_names_in_]
        return InputSchema.from_feature_kinds(names, list(first.categorical_features_))
    return None


def model_input(model: Any, X: Any) -> Any:
    """``X`` as the model takes it: a DataFrame for a Pipeline, float64 numbers for a DevNet alone."""
    if hasattr(model, "steps") or not isinstance(X, pd.DataFrame):
        return X
    return X.to_numpy(dtype=np.float64)


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
        for name in ids.columns:
            columns[str(name)] = ids[name].to_numpy()
    columns["score"] = scores
    if has_decisions(model):
        est = final_estimator(model)
        cut = threshold(model, confidence)
        columns["p_value"] = est.p_values_from_scores(scores)
        columns["is_anomaly"] = (scores > cut).astype(np.int8)
    return pd.DataFrame(columns, index=index if index is not None else pd.RangeIndex(len(scores)))
