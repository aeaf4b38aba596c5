"""The columns of scored rows, built here only: ``score``, ``p_value``, ``is_anomaly``.

:func:`deviation.scoring.scored_frame` (every command, Dask, explanations)
and the all-numeric path of ``deviation score`` (:mod:`deviation.scale.numeric`)
both take their columns from :func:`scored_columns`, so a row gets the same
names, dtypes and values from either. NumPy only: the numeric path imports
neither pandas nor scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["scored_columns"]


def scored_columns(
    scores: Any,
    p_values: np.ndarray | None = None,
    threshold: float | None = None,
    is_anomaly: Any = None,
) -> dict[str, np.ndarray]:
    """``score``, then ``p_value`` and ``is_anomaly`` when the model decides.

    Parameters
    ----------
    scores : array-like of shape (n_rows,)
    p_values : ndarray of shape (n_rows,), optional
        The rows' p-values (a model without them, such as a blend, gives ``score`` only).
    threshold : float, optional
        With ``p_values``: ``is_anomaly`` is 1 where ``score > threshold``, that
        is where ``p_value <= 1 - confidence``.
    is_anomaly : array-like of shape (n_rows,), optional
        Decisions taken over all the rows (``deviation.scoring.decide_all``),
        written instead of the per-row test.

    Returns
    -------
    dict of str to ndarray
        float64 ``score`` and ``p_value``, int8 ``is_anomaly``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    columns = {"score": scores}
    if p_values is not None:
        columns["p_value"] = np.asarray(p_values, dtype=np.float64)
        columns["is_anomaly"] = (scores > threshold).astype(np.int8)
    if is_anomaly is not None:
        columns["is_anomaly"] = np.asarray(is_anomaly, dtype=np.int8)
    return columns
