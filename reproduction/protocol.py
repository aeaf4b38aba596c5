"""The evaluation protocol of the paper (section 5.5.1), and the authors' variant.

The paper's protocol itself (:func:`paper_split`, :func:`evaluate_scores`) is
part of the package, :mod:`deviation.protocol`, which the demo uses too; it is
re-exported here. This module adds what only the reproduction needs: the
protocol of the authors' script (:func:`authors_split`), the choice between the
two (:func:`make_split`) and the paired Wilcoxon test of Table 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from deviation import DataError
from deviation.protocol import Split, evaluate_scores, paper_split, stack_rows, synthetic_anomalies, take_rows

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
    parts = [take_rows(X, train_norm)]
    if n_contam > 0:
        parts.append(synthetic_anomalies(take_rows(X, np.flatnonzero(y == 1)), n_contam, rng))
    parts.append(take_rows(X, labeled))
    n_unlabeled = len(train_norm) + n_contam
    y_train = np.r_[np.zeros(n_unlabeled, dtype=np.int64), np.ones(n_labeled, dtype=np.int64)]
    order = rng.permutation(len(y_train))
    return Split(
        X_train=stack_rows(parts)[order],
        y_train=y_train[order],
        X_test=take_rows(X, test_idx),
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
