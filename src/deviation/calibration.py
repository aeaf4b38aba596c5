"""Conformal p-values and the decisions built on them: per-row error control, FDR, alert budgets, drift.

A DevNet holds out part of its unlabeled training rows (the calibration set)
and stores their scores, sorted. The conformal p-value of a new score ``s`` is

    p(s) = (1 + #{calibration scores >= s}) / (n + 1)

(split-conformal p-values for outlier detection: Bates, Candes, Lei, Romano
and Sesia, "Testing for outliers with conformal p-values", Annals of
Statistics 51(1), 2023, eq. (3)). When the calibration rows and a new normal
row are exchangeable (drawn from the same distribution, and the model was not
trained on either), ``P(p(s) <= alpha) <= alpha`` for every ``alpha``, whatever
the distribution of the scores. The calibration rows are unlabeled, so some
are anomalies; those only make the p-values of normal rows larger (more
conservative).

Without calibration scores (model files written before them), the prior's
p-value of the paper's Proposition 4.1, ``norm.sf(s, prior_mean, prior_std)``,
is used: it assumes normal rows score as ``N(prior_mean, prior_std^2)``,
which real scores often do not (``docs/decisions.md``).

Every function here is pure (arrays in, arrays out); :class:`deviation.DevNet`,
:mod:`deviation.scoring` and the command line call them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from .exceptions import ParameterError
from .kernels import compile_errors, disable, for_rows

logger = logging.getLogger(__name__)

__all__ = [
    "CALIBRATION_FRACTION",
    "ConformalMixin",
    "CALIBRATION_MAX_ROWS",
    "CALIBRATION_MIN_ROWS",
    "DriftReport",
    "benjamini_hochberg",
    "calibration_rows",
    "check_resolution",
    "conformal_p_values",
    "conformal_threshold",
    "drift_report",
    "prior_p_values",
    "top_k",
]

#: Share of the unlabeled training rows held out for calibration under ``calibration_size="auto"``.
CALIBRATION_FRACTION = 0.2
#: At most this many rows are held out under ``"auto"``: beyond it the p-values' resolution
#: (``1 / (n + 1)``) is finer than any level in use, and the rows are worth more to training.
CALIBRATION_MAX_ROWS = 5_000
#: Under ``"auto"``, fewer unlabeled rows than ``CALIBRATION_MIN_ROWS / CALIBRATION_FRACTION`` hold
#: out none: 19 calibration rows are the fewest for which a p-value can reach 0.05.
CALIBRATION_MIN_ROWS = 19


def calibration_rows(n_unlabeled: int, setting: Any) -> int:
    """How many unlabeled training rows to hold out for calibration.

    Parameters
    ----------
    n_unlabeled : int
        Unlabeled rows (``y == 0``) given to ``fit``.
    setting : "auto", int or float
        ``"auto"``: ``round(0.2 * n_unlabeled)``, at most 5,000, and 0 (no
        hold-out) when that is under 19. An int: that many rows (0 switches the
        hold-out off). A float in (0, 1): that share of the unlabeled rows.

    Returns
    -------
    int
        Rows to hold out; always leaves at least one unlabeled row to train on.

    Raises
    ------
    ParameterError
        When an explicit size leaves no unlabeled row to train on.
    """
    if isinstance(setting, str):
        n = min(int(round(CALIBRATION_FRACTION * n_unlabeled)), CALIBRATION_MAX_ROWS)
        if n < CALIBRATION_MIN_ROWS:
            logger.warning(
                "only %d unlabeled rows: no calibration set is held out (it would have %d rows, fewer than the "
                "%d a p-value of 0.05 needs); p-values and predict use the prior's N(prior_mean, prior_std), "
                "which real scores often do not follow. Calibrate later with DevNet.calibrate(X_normal).",
                n_unlabeled, n, CALIBRATION_MIN_ROWS,
            )
            return 0
        return n
    if isinstance(setting, Integral):
        n = int(setting)
    else:
        n = int(round(float(setting) * n_unlabeled))
    if n and n >= n_unlabeled:
        raise ParameterError(
            f"calibration_size={setting!r} holds out {n} of the {n_unlabeled} unlabeled rows, leaving none to "
            "train on; use a smaller calibration_size (e.g. 0.2) or 0 to switch the hold-out off."
        )
    return n


def conformal_p_values(calibration_scores: np.ndarray, scores: Any) -> np.ndarray:
    """Split-conformal p-values of ``scores`` against sorted calibration scores.

    ``p = (1 + #{calibration_scores >= s}) / (n + 1)`` (Bates et al. 2023,
    eq. 3); ties count against the row, so the p-value is valid (super-uniform)
    for exchangeable scores.

    Parameters
    ----------
    calibration_scores : ndarray of shape (n,), float64, sorted ascending
    scores : array-like of shape (m,)

    Returns
    -------
    ndarray of shape (m,), float64
        In ``[1 / (n + 1), 1]``.
    """
    calibration = np.asarray(calibration_scores, dtype=np.float64)
    scores = np.asarray(scores)
    compiled = for_rows(scores.shape[0], load=False) if scores.ndim == 1 and scores.dtype.kind == "f" else None
    if compiled is not None:
        # the same counts and division by a compiled loop (deviation.kernels), about 4 times faster
        out = np.empty(scores.shape[0], dtype=np.float64)
        try:
            compiled.conformal_p_values(np.ascontiguousarray(calibration), scores, out)
        except compile_errors() as exc:
            disable(exc)
        else:
            return out
    scores = np.asarray(scores, dtype=np.float64)
    n = calibration.shape[0]
    at_least = n - np.searchsorted(calibration, scores, side="left")
    return (1.0 + at_least) / (n + 1.0)


def checked_calibration_scores(scores: Any) -> np.ndarray | None:
    """Calibration scores as a sorted float64 copy, or None (for None).

    Raises
    ------
    ValueError
        When they are not a non-empty 1-D array of finite numbers sorted ascending.
    """
    if scores is None:
        return None
    array = np.array(scores, dtype=np.float64, copy=True)
    if array.ndim != 1 or array.size == 0 or not np.isfinite(array).all():
        raise ValueError(f"calibration_scores_ must be a non-empty 1-D array of finite scores; got shape {array.shape}")
    if (np.diff(array) < 0).any():
        raise ValueError("calibration_scores_ must be sorted ascending")
    return array


def prior_p_values(scores: Any, prior_mean: float, prior_std: float) -> np.ndarray:
    """The prior's one-sided p-values ``P(S >= s)`` for ``S ~ N(prior_mean, prior_std^2)`` (Proposition 4.1).

    Valid only if normal rows really score as the prior: often not the case
    (``docs/decisions.md``).

    Returns
    -------
    ndarray of the shape of ``scores``, float64
    """
    from scipy.stats import norm  # on use: scipy.stats takes most of a second to import

    return norm.sf(np.asarray(scores, dtype=np.float64), loc=prior_mean, scale=prior_std)


def conformal_threshold(calibration_scores: np.ndarray, alpha: float) -> float:
    """The score cut-off ``t`` with ``s > t`` exactly when ``conformal_p_values(s) <= alpha``.

    With ``k`` the largest count ``m`` in ``0..n`` for which
    ``(1 + m) / (n + 1) <= alpha`` (computed as :func:`conformal_p_values`
    computes p-values, so both agree to the last bit), a score's p-value is at
    most ``alpha`` when at most ``k`` calibration scores are ``>= s``, that is
    when ``s`` exceeds the ``(k + 1)``-th largest calibration score.

    Parameters
    ----------
    calibration_scores : ndarray of shape (n,), sorted ascending
    alpha : float in (0, 1)

    Returns
    -------
    float
        ``+inf`` when no p-value can be that small (``alpha < 1 / (n + 1)``),
        ``-inf`` when every p-value is (``alpha >= 1``).
    """
    calibration = np.asarray(calibration_scores, dtype=np.float64)
    n = calibration.shape[0]
    counts = np.arange(n + 1, dtype=np.float64)
    k = int(np.count_nonzero((1.0 + counts) / (n + 1.0) <= alpha)) - 1
    if k < 0:
        return math.inf
    if k >= n:
        return -math.inf
    return float(calibration[n - k - 1])


def check_resolution(n_calibration: int, alpha: float, where: str = "") -> bool:
    """Warn when ``n_calibration`` rows are too few for a p-value to reach ``alpha``.

    The smallest conformal p-value is ``1 / (n + 1)``: below ``alpha`` only when
    ``n >= 1 / alpha - 1`` (19 rows for 0.05, 99 for 0.01).

    Returns
    -------
    bool
        True when the level can be reached.
    """
    if n_calibration and 1.0 / (n_calibration + 1.0) > alpha:
        logger.warning(
            "%sthe calibration set has %d rows, so no p-value is below %.3g (1/(n+1)): nothing can be flagged at "
            "level %.3g; recalibrate with at least %d normal rows (DevNet.calibrate or deviation calibrate), "
            "or lower the confidence",
            where, n_calibration, 1.0 / (n_calibration + 1.0), alpha, math.ceil(1.0 / alpha - 1.0),
        )
        return False
    return True


def benjamini_hochberg(p_values: Any, q: float) -> np.ndarray:
    """Rows rejected by the Benjamini-Hochberg procedure at false discovery rate ``q``.

    Uses :func:`scipy.stats.false_discovery_control` (adjusted p-values);
    a row is flagged when its adjusted p-value is at most ``q``. With
    conformal p-values of test rows scored against the same calibration set,
    the expected share of normal rows among the flagged ones is at most ``q``
    (Bates et al. 2023, Theorem 3: the p-values are PRDS).

    Parameters
    ----------
    p_values : array-like of shape (m,)
    q : float in (0, 1)

    Returns
    -------
    ndarray of shape (m,), bool
    """
    if not (isinstance(q, Real) and 0 < q < 1):
        raise ParameterError(f"the false discovery rate must be in (0, 1); got {q!r}")
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return np.zeros(0, dtype=bool)
    from scipy.stats import false_discovery_control

    return false_discovery_control(p, method="bh") <= q


def top_k(scores: Any, k: int) -> np.ndarray:
    """Flag the ``k`` highest scores (ties broken by row order, earlier first).

    Returns
    -------
    ndarray of shape (m,), bool
        Exactly ``min(k, m)`` True values.
    """
    scores = np.asarray(scores, dtype=np.float64)
    flags = np.zeros(scores.shape[0], dtype=bool)
    if k > 0:
        flags[np.argsort(-scores, kind="stable")[:k]] = True
    return flags


@dataclass(frozen=True)
class DriftReport:
    """How far new calibration scores moved from the stored ones.

    Attributes
    ----------
    n_old, n_new : int
        Calibration rows before and after.
    statistic, p_value : float
        Two-sample Kolmogorov-Smirnov statistic (largest gap between the two
        empirical distribution functions) and its p-value
        (:func:`scipy.stats.ks_2samp`).
    median_shift : float
        Median of the new scores minus median of the old, on the z scale.
    old_threshold_rate : float
        Share of the new rows the old threshold would flag.
    alpha : float
        ``1 - confidence``: the share the old threshold should flag at most.
    drifted : bool
        KS p-value below 0.01 and statistic at least 0.1: a difference that is
        both unlikely by chance and large enough to matter.
    """

    n_old: int
    n_new: int
    statistic: float
    p_value: float
    median_shift: float
    old_threshold_rate: float
    alpha: float
    drifted: bool

    def message(self) -> str:
        """A plain-words summary of the drift."""
        rate = (f"the old threshold would flag {100 * self.old_threshold_rate:.1f}% of the new rows "
                f"(at most {100 * self.alpha:.1f}% expected of normal rows)")
        if self.drifted:
            return (f"drift: the new scores differ from the stored calibration scores (KS statistic "
                    f"{self.statistic:.3f}, p = {self.p_value:.2g}, median moved by {self.median_shift:+.3f}); "
                    f"{rate}. The new calibration is now in use; if the new rows were not mostly normal, "
                    "recalibrate on rows that are, and if the data changed a lot, retrain.")
        return (f"no drift: the new scores look like the stored calibration scores (KS statistic "
                f"{self.statistic:.3f}, p = {self.p_value:.2g}); {rate}.")


#: Drift is reported when the KS p-value is below this...
DRIFT_P_VALUE = 0.01
#: ... and the KS statistic at least this (a small but certain shift on huge sets is not reported).
DRIFT_STATISTIC = 0.1


def drift_report(old_scores: np.ndarray, new_scores: np.ndarray, old_threshold: float, alpha: float) -> DriftReport:
    """Compare new calibration scores with the stored ones (two-sample Kolmogorov-Smirnov test).

    Parameters
    ----------
    old_scores, new_scores : ndarray of shape (n_old,), (n_new,)
    old_threshold : float
        The threshold the model used before.
    alpha : float
        ``1 - confidence``.

    Returns
    -------
    DriftReport
    """
    old = np.asarray(old_scores, dtype=np.float64)
    new = np.asarray(new_scores, dtype=np.float64)
    from scipy.stats import ks_2samp

    result = ks_2samp(old, new)
    statistic, p_value = float(result.statistic), float(result.pvalue)
    return DriftReport(
        n_old=int(old.size), n_new=int(new.size), statistic=statistic, p_value=p_value,
        median_shift=float(np.median(new) - np.median(old)),
        old_threshold_rate=float(np.mean(new > old_threshold)), alpha=float(alpha),
        drifted=bool(p_value < DRIFT_P_VALUE and statistic >= DRIFT_STATISTIC),
    )


def scores_from_json(value: Any, where: str) -> np.ndarray | None:
    """Calibration scores read from a model file's JSON: a sorted float64 array, or None when absent.

    Raises
    ------
    ModelFileError
        When the value is not a non-empty sorted list of finite numbers.
    """
    from .exceptions import ModelFileError

    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise ModelFileError(f"{where}: calibration_scores must be a non-empty list of numbers or absent.")
    scores = np.asarray(value, dtype=np.float64)
    if not np.isfinite(scores).all() or (np.diff(scores) < 0).any():
        raise ModelFileError(f"{where}: calibration_scores must be finite and sorted ascending.")
    return scores


class ConformalMixin:
    """Conformal p-values, a threshold and recalibration for a detector with ``decision_function``.

    For the detectors whose scores have no prior (a :class:`deviation.blend.ScoreBlend`,
    the CatBoost rival of :mod:`deviation.rivals`): they have p-values once
    :meth:`calibrate` has scored rows they were not trained on
    (``deviation compare --save-model`` does so with a held-out part of the
    unlabeled rows; ``deviation calibrate`` with fresh rows). Without
    calibration scores they rank rows only.

    Attributes
    ----------
    calibration_scores_ : ndarray of shape (n_calibration,), float64, or None
    confidence : float
        Level of :meth:`predict` and of the model's ``is_anomaly`` (0.95).
    calibration_drift_ : DriftReport or None
    """

    calibration_scores_: np.ndarray | None = None
    confidence: float = 0.95

    def _calibration(self) -> np.ndarray:
        if self.calibration_scores_ is None:
            raise ParameterError(
                f"this {type(self).__name__} has no calibration scores, so no p-values or threshold; calibrate it "
                "on rows it was not trained on with calibrate(X_normal) (or deviation calibrate)."
            )
        return self.calibration_scores_

    def p_values_from_scores(self, scores: Any, method: str = "auto") -> np.ndarray:
        """Conformal p-values of scores already computed (``method`` "auto" or "conformal")."""
        if method not in ("auto", "conformal"):
            raise ParameterError(f"{type(self).__name__} has conformal p-values only; got method={method!r}.")
        return conformal_p_values(self._calibration(), scores)

    def p_values(self, X: Any, method: str = "auto") -> np.ndarray:
        """Conformal p-values ``(1 + #{calibration_scores_ >= s}) / (n + 1)`` of the rows of ``X``."""
        return self.p_values_from_scores(self.decision_function(X), method)

    def threshold_for(self, confidence: float, method: str = "auto") -> float:
        """The score above which a row's conformal p-value is at most ``1 - confidence``."""
        if not (isinstance(confidence, Real) and 0 < confidence < 1):
            raise ParameterError(f"confidence must be a float in (0, 1). Got {confidence!r} instead.")
        return conformal_threshold(self._calibration(), 1.0 - float(confidence))

    @property
    def threshold_(self) -> float:
        """The cut-off of :meth:`predict`: ``threshold_for(confidence)``.

        Raises AttributeError before calibration, so that ``hasattr(model,
        "threshold_")`` and ``getattr(model, "threshold_", None)`` tell a
        calibrated detector from one that ranks rows only.
        """
        if self.calibration_scores_ is None:
            raise AttributeError(f"this {type(self).__name__} has no threshold_ until it is calibrated (calibrate)")
        return self.threshold_for(self.confidence)

    def predict(self, X: Any) -> np.ndarray:
        """1 where the conformal p-value is at most ``1 - confidence``, else 0."""
        return (np.asarray(self.decision_function(X)) > self.threshold_).astype(np.int64)

    def calibrate(self, X: Any, y: Any = None) -> Any:
        """Score fresh, mostly normal rows as the calibration set (rows with ``y == 1`` left out).

        Returns
        -------
        self
            With ``calibration_scores_`` replaced and ``calibration_drift_``
            comparing them with the previous ones (None when there were none).
        """
        from .exceptions import DataError

        if y is not None:
            keep = np.flatnonzero(np.asarray(y) == 0)
            X = X.iloc[keep] if hasattr(X, "iloc") else X[keep]
        if X.shape[0] == 0:
            raise DataError("no row to calibrate on: every row is a known anomaly; pass mostly normal rows.")
        new = np.sort(np.asarray(self.decision_function(X), dtype=np.float64))
        old = self.calibration_scores_
        alpha = 1.0 - float(self.confidence)
        self.calibration_drift_ = None if old is None else drift_report(old, new, self.threshold_, alpha)
        self.calibration_scores_ = new
        if self.calibration_drift_ is not None:
            log = logger.warning if self.calibration_drift_.drifted else logger.info
            log("%s", self.calibration_drift_.message())
        check_resolution(len(new), alpha)
        return self
