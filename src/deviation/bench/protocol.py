"""The evaluation protocol of the paper (section 5.5.1).

Per run: a new stratified train/test split; the unlabeled training part holds
exactly the target share of anomalies (extra ones removed, missing ones made
synthetic from training anomalies); the labeled anomalies come from training
anomalies that are not in the unlabeled part; no test row is ever used in
training. Metrics are AUC-ROC and AUC-PR (average precision) on the test part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

from .._limits import SEED_BOUND
from ..exceptions import DataError

__all__ = [
    "PROTOCOLS",
    "Split",
    "authors_split",
    "evaluate_scores",
    "make_split",
    "paired_wilcoxon",
    "paper_split",
    "synthetic_anomalies",
]

#: ``"paper"``: the protocol of the paper's text (:func:`paper_split`, the default);
#: ``"authors"``: what the authors' script does (:func:`authors_split`), for comparison only.
PROTOCOLS = ("paper", "authors")


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


def _take(X: Any, idx: np.ndarray) -> Any:
    if hasattr(X, "iloc"):
        return X.iloc[idx].to_numpy()
    return X[idx]


def _stack(parts: list[Any]) -> Any:
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
    parts = [_take(X, train_norm), _take(X, contam)]
    if n_synth > 0:
        parts.append(synthetic_anomalies(_take(X, train_anom), n_synth, rng))
    parts.append(_take(X, labeled))
    n_unlabeled = len(train_norm) + n_contam
    y_train = np.r_[np.zeros(n_unlabeled, dtype=np.int64), np.ones(n_labeled, dtype=np.int64)]
    order = rng.permutation(len(y_train))
    X_train = _stack(parts)[order]
    return Split(
        X_train=X_train,
        y_train=y_train[order],
        X_test=_take(X, test_idx),
        y_test=y[test_idx],
        n_contaminating=n_contam,
        n_synthetic=max(n_synth, 0),
    )


def authors_split(
    X: Any,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    n_labeled: int = 30,
    contamination: float = 0.02,
    test_size: float = 0.2,
) -> Split:
    """One run of the protocol of the authors' script, which differs from the paper's text.

    Kept to explain differences with the paper's numbers, not to measure:
    the train/test split is the same in every run (``random_state=42``); all
    training anomalies but the ``n_labeled`` labeled ones are removed; the
    contaminating anomalies are always synthetic, built from **all** anomalies
    of the data set, test ones included (a leak from the test part into
    training, which the paper's text does not describe). Only the choice of
    labeled anomalies and the synthetic rows change from run to run.

    Parameters and return value as :func:`paper_split`.
    """
    y = np.asarray(y).astype(np.int64)
    idx = np.arange(len(y))
    train_idx, test_idx = train_test_split(idx, test_size=test_size, stratify=y, random_state=42)
    train_anom = train_idx[y[train_idx] == 1]
    train_norm = train_idx[y[train_idx] == 0]
    if len(train_anom) < n_labeled:
        raise DataError(
            f"the training part holds {len(train_anom)} anomalies, fewer than the "
            f"{n_labeled} labeled anomalies asked for; lower n_labeled."
        )
    labeled = rng.choice(train_anom, n_labeled, replace=False)
    n_contam = int(contamination * len(train_norm) / (1.0 - contamination))
    parts = [_take(X, train_norm)]
    if n_contam > 0:
        parts.append(synthetic_anomalies(_take(X, np.flatnonzero(y == 1)), n_contam, rng))
    parts.append(_take(X, labeled))
    n_unlabeled = len(train_norm) + n_contam
    y_train = np.r_[np.zeros(n_unlabeled, dtype=np.int64), np.ones(n_labeled, dtype=np.int64)]
    order = rng.permutation(len(y_train))
    return Split(
        X_train=_stack(parts)[order],
        y_train=y_train[order],
        X_test=_take(X, test_idx),
        y_test=y[test_idx],
        n_contaminating=n_contam,
        n_synthetic=n_contam,
    )


def make_split(protocol: str, X: Any, y: np.ndarray, rng: np.random.Generator, **kwargs: Any) -> Split:
    """:func:`paper_split` for ``protocol="paper"``, :func:`authors_split` for ``"authors"``."""
    if protocol == "paper":
        return paper_split(X, y, rng, **kwargs)
    if protocol == "authors":
        return authors_split(X, y, rng, **kwargs)
    raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


def evaluate_scores(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUC-ROC and AUC-PR (average precision) of anomaly scores (higher = more anomalous)."""
    return {
        "auc_roc": float(roc_auc_score(y_true, scores)),
        "auc_pr": float(average_precision_score(y_true, scores)),
    }


def paired_wilcoxon(a: Any, b: Any) -> float:
    """Two-sided p-value of the paired Wilcoxon signed-rank test of ``a`` against ``b``.

    Pairs with a missing value are dropped. Returns 1.0 when every difference is
    zero (no evidence of a difference) and NaN when there is no pair.
    """
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    diff = a[ok] - b[ok]
    if diff.size == 0:
        return float("nan")
    if np.all(diff == 0):
        return 1.0
    return float(wilcoxon(a[ok], b[ok]).pvalue)
