"""The rivals ``deviation compare`` puts against DevNet: trees trained on the weak labels, and iForest.

Each is a small scikit-learn style estimator: ``fit(X, y)`` with ``y`` 1 for a
labeled anomaly and 0 for an unlabeled row, ``decision_function(X)`` higher for
more anomalous rows, ``random_state`` seeding everything it draws.

:class:`IForest`
    Isolation Forest (Liu, Ting and Zhou 2008), the DevNet paper's
    unsupervised baseline: scikit-learn's implementation with the recommended
    settings the paper uses (subsamples of 256 rows, 100 trees).
:class:`GradientBoosting`
    scikit-learn's ``HistGradientBoostingClassifier`` with its defaults,
    trained on the weak labels as if they were true (unlabeled = 0). Not in
    the paper: strong and cheap on some data, useless on other
    (``docs/REPRODUCTION.md``).
:class:`CatBoostRival`
    CatBoost on the weak labels, the strongest tree rival we measured. An
    optional dependency (``pip install 'deviation[catboost]'``); without it
    :class:`~deviation.exceptions.MissingDependencyError` names that command.

Nothing here imports torch. The helpers :func:`check_X`, :func:`check_Xy`,
:func:`make_rng`, :func:`cap_unlabeled` and :func:`positive_probability` are
public so that other detectors written in the same style (the paper's
competitors in the repository's ``reproduction/`` folder) share them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest

from ._limits import SEED_BOUND
from ._optional import import_optional
from .calibration import ConformalMixin
from .exceptions import DataError

logger = logging.getLogger(__name__)

__all__ = [
    "CatBoostRival",
    "GradientBoosting",
    "IForest",
    "cap_unlabeled",
    "catboost_available",
    "check_X",
    "check_Xy",
    "import_catboost",
    "make_rng",
    "positive_probability",
]


# ------------------------------------------------------------------ helpers
def make_rng(random_state: Any) -> np.random.Generator:
    """The NumPy generator of a rival, from ``random_state`` (global state untouched).

    One 63-bit integer is drawn and dropped first: it seeded a torch generator
    when these rivals lived beside the paper's neural competitors, and
    dropping it keeps every rival's results bit for bit what they were.

    Parameters
    ----------
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None

    Returns
    -------
    numpy.random.Generator
    """
    if isinstance(random_state, np.random.RandomState):
        random_state = random_state.randint(0, SEED_BOUND)
    rng = np.random.default_rng(random_state)
    rng.integers(0, 2**63 - 1)  # the former torch seed, kept so that the stream is unchanged
    return rng


def check_X(X: Any) -> np.ndarray | sp.csr_matrix:
    """Numeric 2-D data as a float32 ndarray or CSR matrix.

    Parameters
    ----------
    X : array-like, DataFrame or sparse matrix of shape (n, D)

    Returns
    -------
    ndarray or CSR matrix of dtype float32

    Raises
    ------
    DataError
        When ``X`` is not 2-D.
    """
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
    else:
        X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=np.float32)
        if X.ndim != 2:
            raise DataError(f"X must be 2-D, got shape {X.shape}; pass one row per sample, one column per feature.")
    return X


def check_Xy(X: Any, y: Any, *, need_anomalies: bool = True) -> tuple[Any, np.ndarray]:
    """Validate ``X`` and the weak labels ``y`` (1 = labeled anomaly, 0 = unlabeled).

    Parameters
    ----------
    X : array-like, DataFrame or sparse matrix of shape (n, D)
    y : array-like of shape (n,)
    need_anomalies : bool, default=True
        Require at least one labeled anomaly and one unlabeled row.

    Returns
    -------
    X : ndarray or CSR matrix of dtype float32
    y : ndarray of dtype int64

    Raises
    ------
    DataError
        When ``y`` is missing, of the wrong length or holds other values than 0 and 1.
    """
    X = check_X(X)
    if y is None:
        raise DataError("y is required: 1 for a labeled anomaly, 0 for an unlabeled row.")
    y = np.asarray(y).reshape(-1)
    if len(y) != X.shape[0]:
        raise DataError(f"X has {X.shape[0]} rows but y has {len(y)} labels; pass one label per row.")
    if not np.isin(y, (0, 1)).all():
        raise DataError("y must hold only 0 (unlabeled) and 1 (labeled anomaly).")
    y = y.astype(np.int64)
    if need_anomalies and (y.sum() == 0 or y.sum() == len(y)):
        raise DataError("y must hold at least one labeled anomaly (1) and one unlabeled row (0).")
    return X, y


def cap_unlabeled(X: Any, y: np.ndarray, max_rows: int | None, rng: np.random.Generator) -> tuple[Any, np.ndarray]:
    """At most ``max_rows`` unlabeled rows (a uniform subset) and every labeled anomaly, in row order.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n, D)
    y : ndarray of shape (n,)
    max_rows : int or None
        ``None`` keeps every row.
    rng : numpy.random.Generator

    Returns
    -------
    X, y
        The kept rows.
    """
    unlabeled = np.flatnonzero(y == 0)
    if max_rows is None or len(unlabeled) <= max_rows:
        return X, y
    keep = np.sort(np.r_[rng.choice(unlabeled, max_rows, replace=False), np.flatnonzero(y == 1)])
    return X[keep], y[keep]


def positive_probability(model: Any, X: Any, chunk: int = 65536) -> np.ndarray:
    """``model.predict_proba(X)[:, 1]`` computed ``chunk`` rows at a time (bounded memory).

    Parameters
    ----------
    model : object with ``predict_proba``
    X : ndarray or CSR matrix of shape (n, D)
    chunk : int, default=65536

    Returns
    -------
    ndarray of shape (n,)
    """
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], chunk):
        stop = min(start + chunk, X.shape[0])
        out[start:stop] = model.predict_proba(X[start:stop])[:, 1]
    return out


# ------------------------------------------------------------------ iForest
class IForest(BaseEstimator):
    """Isolation Forest with anomaly scores oriented like DevNet's (higher = more anomalous).

    Labels are ignored; every training row, labeled or not, is used as unlabeled data.

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
        rng = make_rng(self.random_state)
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


# ---------------------------------------------------------- gradient boosting
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
        rng = make_rng(self.random_state)
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


# ------------------------------------------------------------------ CatBoost
def catboost_available() -> bool:
    """Whether the optional ``catboost`` package can be imported.

    Returns
    -------
    bool
    """
    try:
        import catboost  # noqa: F401
    except ImportError:
        return False
    return True


def import_catboost() -> Any:
    """Import and return the optional ``catboost`` module.

    Returns
    -------
    module
        ``catboost``.

    Raises
    ------
    MissingDependencyError
        When CatBoost is not installed; the message names ``pip install 'deviation[catboost]'``.
    """
    return import_optional("catboost", "catboost", "The CatBoost rival",
                           "or use the HistGradientBoosting rival, which needs nothing more")


class CatBoostRival(ConformalMixin, BaseEstimator):
    """``CatBoostClassifier`` on ``y`` (1 = labeled anomaly, 0 = unlabeled row).

    Default CatBoost settings (1,000 trees of depth 6), no files written, no
    console output.

    Parameters
    ----------
    max_train_rows : int or None, default=None
        Train on at most this many unlabeled rows (a random subset; every
        labeled anomaly is kept). ``None`` uses all of them.
    thread_count : int, default=1
        CatBoost's threads (``-1``: all cores).
    random_state : int, numpy.random.Generator or None

    Its scores are probabilities of the weak label, not p-values; it gets
    conformal p-values once :meth:`calibrate` has scored rows it was not
    trained on (:class:`deviation.calibration.ConformalMixin`).
    """

    def __init__(self, max_train_rows: int | None = None, thread_count: int = 1, random_state: Any = None) -> None:
        self.max_train_rows = max_train_rows
        self.thread_count = thread_count
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "CatBoostRival":
        """Fit the classifier on the weak labels."""
        catboost = import_catboost()
        X, y = check_Xy(X, y)
        rng = make_rng(self.random_state)
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
