"""The evaluation protocol of the DevNet paper (section 5.5.1), as far as the demo needs it.

Per run: a new stratified train/test split (80/20 by default); the unlabeled
training part holds exactly the target share of anomalies (2% by default;
extra ones removed, missing ones made synthetic from training anomalies); the
labeled anomalies (30 by default) come from training anomalies that are not in
the unlabeled part; no test row is ever used in training. Metrics are AUC-ROC
and AUC-PR (average precision) on the test part.

``python -m deviation.demo`` runs DevNet under this protocol; the full paper
reproduction (``python -m reproduction`` from a clone of the repository) uses
the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

from ._limits import SEED_BOUND
from .exceptions import DataError

__all__ = ["Split", "evaluate_scores", "paper_split", "stack_rows", "synthetic_anomalies", "take_rows"]


@dataclass
class Split:
    """One run's data: weakly labeled training part and fully labeled test part.

    ``y_train`` is 1 for the labeled anomalies and 0 for every unlabeled row
    (including the contaminating anomalies); ``y_test`` holds the true labels.
    """

    X_train: Any
    y_train: np.ndarray
    X_test: Any
    y_test: np.ndarray
    n_contaminating: int
    n_synthetic: int


def synthetic_anomalies(
    X_anomalies: Any, n: int, rng: np.random.Generator, share: float = 0.05
) -> Any:
    """Anomalies made from real ones: copy one and replace ``share`` of its features
    (at least one) with those of another, as the paper's authors did.

    Parameters
    ----------
    X_anomalies : ndarray or sparse matrix of shape (k, D)
        Training anomalies to build from (never test rows).
    n : int
        How many to make.
    rng : numpy.random.Generator
    share : float
        Share of the features taken from the second anomaly.

    Returns
    -------
    ndarray or CSR matrix of shape (n, D)
    """
    k, d = X_anomalies.shape
    dense = X_anomalies.toarray() if sp.issparse(X_anomalies) else np.asarray(X_anomalies)
    out = dense[rng.integers(0, k, size=n)].copy()
    donors = dense[rng.integers(0, k, size=n)]
    n_swap = max(1, int(round(share * d)))
    for i in range(n):
        cols = rng.choice(d, size=n_swap, replace=False)
        out[i, cols] = donors[i, cols]
    return sp.csr_matrix(out) if sp.issparse(X_anomalies) else out


def take_rows(X: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of an array, sparse matrix or DataFrame (a DataFrame gives its values)."""
    if hasattr(X, "iloc"):
        return X.iloc[idx].to_numpy()
    return X[idx]


def stack_rows(parts: list[Any]) -> Any:
    """Stack row blocks; sparse if any block is sparse (CSR)."""
    if any(sp.issparse(p) for p in parts):
        return sp.vstack([sp.csr_matrix(p) for p in parts], format="csr")
    return np.vstack(parts)


def paper_split(
    X: Any,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    n_labeled: int = 30,
    contamination: float = 0.02,
    test_size: float = 0.2,
) -> Split:
    """Draw one run of the paper's protocol.

    Parameters
    ----------
    X : ndarray, DataFrame or sparse matrix of shape (n, D)
    y : ndarray of shape (n,)
        True labels, 1 = anomaly.
    rng : numpy.random.Generator
        Seeds the split, the choice of labeled and contaminating anomalies and
        any synthetic anomalies.
    n_labeled : int, default=30
        Labeled anomalies given to the detector.
    contamination : float, default=0.02
        Share of anomalies in the unlabeled training part.
    test_size : float, default=0.2

    Returns
    -------
    Split

    Raises
    ------
    DataError
        When the training part holds fewer than ``n_labeled`` anomalies.

    Examples
    --------
    >>> import numpy as np
    >>> from deviation import load_thyroid
    >>> X, y = load_thyroid(return_X_y=True)
    >>> split = paper_split(X, y, np.random.default_rng(0))
    >>> int(split.y_train.sum()), split.X_test.shape
    (30, (1440, 21))
    """
    y = np.asarray(y).astype(np.int64)
    idx = np.arange(len(y))
    seed = int(rng.integers(0, SEED_BOUND))
    train_idx, test_idx = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)
    train_anom = rng.permutation(train_idx[y[train_idx] == 1])
    train_norm = train_idx[y[train_idx] == 0]
    if len(train_anom) < n_labeled:
        raise DataError(
            f"the training part holds {len(train_anom)} anomalies, fewer than the "
            f"{n_labeled} labeled anomalies asked for; lower n_labeled."
        )
    labeled = train_anom[:n_labeled]
    pool = train_anom[n_labeled:]
    n_contam = int(round(contamination * len(train_norm) / (1.0 - contamination)))
    contam = pool[:n_contam]
    n_synth = n_contam - len(contam)
    parts = [take_rows(X, train_norm), take_rows(X, contam)]
    if n_synth > 0:
        parts.append(synthetic_anomalies(take_rows(X, train_anom), n_synth, rng))
    parts.append(take_rows(X, labeled))
    n_unlabeled = len(train_norm) + n_contam
    y_train = np.r_[np.zeros(n_unlabeled, dtype=np.int64), np.ones(n_labeled, dtype=np.int64)]
    order = rng.permutation(len(y_train))
    X_train = stack_rows(parts)[order]
    return Split(
        X_train=X_train,
        y_train=y_train[order],
        X_test=take_rows(X, test_idx),
        y_test=y[test_idx],
        n_contaminating=n_contam,
        n_synthetic=max(n_synth, 0),
    )


def evaluate_scores(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUC-ROC and AUC-PR (average precision) of anomaly scores.

    Parameters
    ----------
    y_true : ndarray of shape (n,)
        True labels, 1 = anomaly.
    scores : ndarray of shape (n,)
        Anomaly scores, higher = more anomalous.

    Returns
    -------
    dict
        ``{"auc_roc": float, "auc_pr": float}``.
    """
    return {
        "auc_roc": float(roc_auc_score(y_true, scores)),
        "auc_pr": float(average_precision_score(y_true, scores)),
    }
