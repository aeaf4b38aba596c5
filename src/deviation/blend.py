"""A blend of detectors: the mean of their standardised scores.

``deviation compare`` offers ``devnet+catboost``: the default DevNet and
CatBoost (trained with unlabeled rows as 0), each fitted on the same data, each
score standardised by the mean and standard deviation of that member's scores
on the unlabeled training rows, then averaged. The two make different mistakes
(CatBoost is strong on low-dimensional data with sharp boundaries, DevNet
where many weak signals add up), so the mean ranks better than either on
most data sets we measured (``docs/ACCURACY.md``).

A blend's score is a ranking score: higher is more anomalous. It is *not* a
deviation z-score, so it has no prior p-value; it gets conformal p-values and
a threshold once :meth:`ScoreBlend.calibrate` has scored rows its members were
not trained on (``deviation compare --save-model`` holds a part of the
unlabeled rows out for that; ``deviation calibrate`` recalibrates on fresh
rows). See :class:`deviation.calibration.ConformalMixin` and ``docs/decisions.md``.

A fitted blend is saved with :func:`save_blend` (or :func:`deviation.save`) as
one checksummed model file holding every member (a DevNet's weights,
CatBoost's trees in its own format, their Preprocessors as JSON) and read back
with :func:`load_blend` (or :func:`deviation.load`), which also reads the
``.blend.json`` files of older versions. Nothing is pickled.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from .calibration import ConformalMixin
from .exceptions import DataError, ModelFileError, NotFittedError

logger = logging.getLogger(__name__)

__all__ = ["ScoreBlend", "load_blend", "save_blend"]

#: The ``format`` field of a blend file.
BLEND_FORMAT = "deviation-blend"
BLEND_VERSION = 1
#: Unlabeled rows scored to standardise each member (a uniform sample beyond this).
STANDARDISE_MAX_ROWS = 50_000


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


class ScoreBlend(ConformalMixin, BaseEstimator):
    """The mean of several fitted detectors' standardised scores.

    Parameters
    ----------
    members : sequence of (str, estimator)
        Named detectors with ``fit(X, y)`` and ``decision_function(X)``
        (higher = more anomalous), e.g. the Pipelines of
        :func:`deviation.compare.make_candidate`. They are cloned in ``fit``.
    random_state : int or None, default=None
        Seeds the sample of unlabeled rows used to standardise the scores.

    Attributes
    ----------
    members_ : list of (str, estimator)
        The fitted members.
    centers_, scales_ : ndarray of shape (n_members,)
        Mean and standard deviation of each member's scores on (a sample of
        at most 50,000) unlabeled training rows.
    calibration_scores_ : ndarray or None
        Sorted blend scores of rows the members were not trained on, set by
        :meth:`calibrate`; None (ranking only) until then.
    """

    def __init__(self, members: Sequence[tuple[str, Any]], random_state: int | None = None) -> None:
        self.members = members
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> ScoreBlend:
        """Fit every member on ``X, y`` (1 = labeled anomaly, 0 = unlabeled), then standardise."""
        if not self.members:
            raise DataError("a blend needs at least one member")
        y = np.asarray(y)
        fitted = [(name, clone(est).fit(X, y)) for name, est in self.members]
        return self._standardise(fitted, X, y)

    @classmethod
    def from_fitted(
        cls, members: Sequence[tuple[str, Any]], X: Any, y: Any, random_state: int | None = None
    ) -> ScoreBlend:
        """A blend of members already fitted on ``X, y`` (no refit)."""
        blend = cls(members, random_state=random_state)
        return blend._standardise(list(members), X, np.asarray(y))

    def _standardise(self, fitted: list[tuple[str, Any]], X: Any, y: np.ndarray) -> ScoreBlend:
        unlabeled = np.flatnonzero(y == 0)
        if unlabeled.size == 0:
            raise DataError("a blend is standardised on unlabeled rows; y has none (no 0).")
        if unlabeled.size > STANDARDISE_MAX_ROWS:
            rng = np.random.default_rng(self.random_state)
            unlabeled = np.sort(rng.choice(unlabeled, STANDARDISE_MAX_ROWS, replace=False))
        X_unlabeled = _rows(X, unlabeled)
        centers, scales = [], []
        for name, model in fitted:
            scores = np.asarray(model.decision_function(X_unlabeled), dtype=np.float64)
            center, scale = float(scores.mean()), float(scores.std())
            if not (np.isfinite(scale) and scale > 0):
                # a constant member adds nothing to the ranking; keep it harmless
                logger.warning("blend member %s scores every unlabeled row alike; it is given scale 1", name)
                scale = 1.0
            centers.append(center)
            scales.append(scale)
        self.members_ = fitted
        self.centers_ = np.asarray(centers)
        self.scales_ = np.asarray(scales)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The mean of the members' standardised scores (higher = more anomalous)."""
        if not hasattr(self, "members_"):
            raise NotFittedError("this ScoreBlend is not fitted yet; call fit(X, y) first.")
        total = np.zeros(X.shape[0], dtype=np.float64)
        for (_, model), center, scale in zip(self.members_, self.centers_, self.scales_):
            total += (np.asarray(model.decision_function(X), dtype=np.float64) - center) / scale
        return total / len(self.members_)


# ------------------------------------------------------------------ files
def save_blend(blend: ScoreBlend, path: Any, *, metadata: dict[str, Any] | None = None) -> Path:
    """Write a fitted blend to one model file (see :func:`deviation.persistence.save`).

    The file is a checksummed container like any ``deviation`` model file:
    each member's parts (a DevNet's weights, CatBoost's trees, their
    Preprocessors' state) are members of it. It is written atomically.

    Parameters
    ----------
    blend : ScoreBlend
        A fitted blend of DevNet and CatBoost pipelines.
    path : str or os.PathLike
        The file to write (conventionally ``*.model``).
    metadata : dict, optional
        Kept in the file, as for :func:`deviation.persistence.save`.

    Returns
    -------
    pathlib.Path
        ``path``, to pass to :func:`load_blend` or :func:`deviation.load`.

    Raises
    ------
    DataError
        If the directory of ``path`` does not exist.
    TypeError
        If a member has no non-pickle file format (only DevNet and CatBoost have one).
    """
    from . import persistence

    path = Path(path)
    if not path.parent.exists():
        raise DataError(f"cannot write {path}: directory {str(path.parent)!r} does not exist")
    return persistence.save(blend, path, metadata=metadata)


def load_blend(path: Any) -> ScoreBlend:
    """Read a blend written by :func:`save_blend`, or by an older deviation as a ``.blend.json`` with member files.

    Nothing in the files is executed.

    Returns
    -------
    ScoreBlend

    Raises
    ------
    ModelFileError
        If the file or one of its members is missing, damaged, not a blend,
        or written by a newer deviation.
    """
    from .persistence import load

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"no blend file at {path}; check the path")
    model = load(path)
    if not isinstance(model, ScoreBlend):
        raise ModelFileError(
            f"{path} holds a {type(model).__name__}, not a blend; load it with deviation.load() instead"
        )
    return model
