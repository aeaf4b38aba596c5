"""CatBoost trained on the weak labels (unlabeled = 0): the strongest tree rival we measured.

Not in the paper. An optional dependency (``pip install 'deviation[catboost]'``);
:class:`CatBoostRival` raises :class:`~deviation.exceptions.MissingDependencyError`
with that command when CatBoost is absent. Default CatBoost settings
(1,000 trees of depth 6), no files written, no console output.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ..._limits import SEED_BOUND
from ...exceptions import MissingDependencyError
from ._common import cap_unlabeled, check_Xy, make_generators, positive_probability

logger = logging.getLogger(__name__)

__all__ = ["CatBoostRival", "catboost_available"]


def catboost_available() -> bool:
    """Whether the optional ``catboost`` package can be imported."""
    try:
        import catboost  # noqa: F401
    except ImportError:
        return False
    return True


def _import_catboost() -> Any:
    try:
        import catboost
    except ImportError:
        raise MissingDependencyError(
            "CatBoost is not installed; install it with pip install 'deviation[catboost]' "
            "(or use the HistGradientBoosting rival, which needs nothing more)."
        ) from None
    return catboost


class CatBoostRival(BaseEstimator):
    """``CatBoostClassifier`` on ``y`` (1 = labeled anomaly, 0 = unlabeled row).

    Parameters
    ----------
    max_train_rows : int or None, default=None
        Train on at most this many unlabeled rows (a random subset; every
        labeled anomaly is kept). ``None`` uses all of them.
    thread_count : int, default=1
        CatBoost's threads (``-1``: all cores).
    random_state : int, numpy.random.Generator or None
    """

    def __init__(self, max_train_rows: int | None = None, thread_count: int = 1, random_state: Any = None) -> None:
        self.max_train_rows = max_train_rows
        self.thread_count = thread_count
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "CatBoostRival":
        """Fit the classifier on the weak labels."""
        catboost = _import_catboost()
        X, y = check_Xy(X, y)
        rng, _ = make_generators(self.random_state)
        X, y = cap_unlabeled(X, y, self.max_train_rows, rng)
        self.model_ = catboost.CatBoostClassifier(
            random_seed=int(rng.integers(0, SEED_BOUND)),
            thread_count=self.thread_count,
            verbose=0,
            allow_writing_files=False,
        ).fit(X, y)
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The estimated probability of being a labeled anomaly."""
        X, _ = check_Xy(X, np.zeros(X.shape[0]), need_anomalies=False)
        return positive_probability(self.model_, X)

    def save_model(self, path: str) -> None:
        """Write the fitted trees in CatBoost's own binary format (``.cbm``, no pickle)."""
        self.model_.save_model(str(path), format="cbm")
