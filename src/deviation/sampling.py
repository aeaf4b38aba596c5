"""Balanced mini-batches: every batch half labeled anomalies, half unlabeled rows.

As in Algorithm 1 (step 4) and the authors' code, positions alternate
unlabeled / labeled anomaly and every row is drawn uniformly with replacement.
All batches of a fit are drawn up front from a ``numpy.random.Generator``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["balanced_batches"]


def balanced_batches(
    rng: np.random.Generator,
    unlabeled_idx: np.ndarray,
    anomaly_idx: np.ndarray,
    n_batches: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the row indices and labels of ``n_batches`` balanced batches.

    Parameters
    ----------
    rng : numpy.random.Generator
    unlabeled_idx : ndarray of int
        Rows with label 0.
    anomaly_idx : ndarray of int
        Rows with label 1 (labeled anomalies).
    n_batches : int
    batch_size : int
        Even number; half of each batch comes from each group.

    Returns
    -------
    rows : ndarray of shape (n_batches, batch_size)
        Row indices; even positions are unlabeled rows, odd ones anomalies.
    labels : ndarray of shape (batch_size,)
        ``[0, 1, 0, 1, ...]`` as float32, the same for every batch.
    """
    if batch_size % 2:
        raise ValueError(f"batch_size must be even to split it in halves, got {batch_size}")
    half = batch_size // 2
    rows = np.empty((n_batches, batch_size), dtype=np.intp)
    rows[:, 0::2] = unlabeled_idx[rng.integers(0, len(unlabeled_idx), size=(n_batches, half))]
    rows[:, 1::2] = anomaly_idx[rng.integers(0, len(anomaly_idx), size=(n_batches, half))]
    labels = np.tile(np.array([0.0, 1.0], dtype=np.float32), half)
    return rows, labels
