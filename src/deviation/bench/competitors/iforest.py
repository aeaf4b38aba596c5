"""iForest (Liu, Ting and Zhou 2008), the paper's unsupervised baseline.

scikit-learn's implementation with the recommended settings the paper uses:
subsamples of 256 rows, 100 trees. Labels are ignored; every training row,
labeled or not, is used as unlabeled data.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest

from ..._limits import SEED_BOUND
from ._common import check_X, make_generators

logger = logging.getLogger(__name__)

__all__ = ["IForest"]


class IForest(BaseEstimator):
    """Isolation Forest with anomaly scores oriented like DevNet's (higher = more anomalous).

    Parameters
    ----------
    n_estimators : int, default=100
    max_samples : int, default=256
    random_state : int, numpy.random.Generator or None

    Examples
    --------
    >>> from deviation import load_thyroid
    >>> X, y = load_thyroid(return_X_y=True)
    >>> scores = IForest(random_state=0).fit(X).decision_function(X)
    >>> scores.shape
    (7200,)
    """

    def __init__(self, n_estimators: int = 100, max_samples: int = 256,
                 random_state: Any = None) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> "IForest":
        """Grow the forest on ``X``; ``y`` is accepted and ignored (unsupervised)."""
        X = check_X(X)
        rng, _ = make_generators(self.random_state)
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, X.shape[0]),
            random_state=int(rng.integers(0, SEED_BOUND)),
        ).fit(X)
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Minus scikit-learn's ``score_samples``: higher is more anomalous."""
        return -self.forest_.score_samples(check_X(X)).astype(np.float64)
