"""A modern rival: gradient-boosted trees that treat every unlabeled row as normal.

Not in the paper. scikit-learn's ``HistGradientBoostingClassifier`` with its
defaults, trained on the weak labels as if they were true (unlabeled = 0), is a
strong and cheap detector on some data and useless on other (see
``docs/REPRODUCTION.md``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier

from ..._limits import SEED_BOUND
from ._common import cap_unlabeled, check_Xy, make_generators, positive_probability

logger = logging.getLogger(__name__)

__all__ = ["GradientBoosting"]


def _dense(X: Any) -> np.ndarray:
    # HistGradientBoosting takes no sparse input; one-hot columns fit well in float32.
    return X.toarray() if sp.issparse(X) else X


class _DenseInput:
    """Densifies each chunk before the classifier sees it."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model.predict_proba(_dense(X))


class GradientBoosting(BaseEstimator):
    """Gradient-boosted trees on ``y`` (1 = labeled anomaly, 0 = unlabeled row).

    Parameters
    ----------
    max_train_rows : int or None, default=None
        Train on at most this many unlabeled rows (a random subset; every
        labeled anomaly is kept). ``None`` uses all of them.
    random_state : int, numpy.random.Generator or None
        Seeds the subset and the validation split of the early stopping.

    Examples
    --------
    >>> from deviation import load_thyroid
    >>> X, y = load_thyroid(return_X_y=True)
    >>> GradientBoosting(random_state=0).fit(X, y).decision_function(X).shape
    (7200,)
    """

    def __init__(self, max_train_rows: int | None = None, random_state: Any = None) -> None:
        self.max_train_rows = max_train_rows
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "GradientBoosting":
        """Fit the classifier on the weak labels."""
        X, y = check_Xy(X, y)
        rng, _ = make_generators(self.random_state)
        X, y = cap_unlabeled(X, y, self.max_train_rows, rng)
        self.model_ = HistGradientBoostingClassifier(
            random_state=int(rng.integers(0, SEED_BOUND))
        ).fit(_dense(X), y)
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """``predict_proba(X)[:, 1]``: the estimated probability of being a labeled anomaly."""
        X, _ = check_Xy(X, np.zeros(X.shape[0]), need_anomalies=False)
        return positive_probability(_DenseInput(self.model_), X)
