"""A blend of detectors: the mean of their standardised scores.

``deviation compare`` offers ``devnet+catboost``: the default DevNet and
CatBoost (trained with unlabeled rows as 0), each fitted on the same data, each
score standardised by the mean and standard deviation of that member's scores
on the unlabeled training rows, then averaged. The two make different mistakes
(CatBoost is strong on low-dimensional data with sharp boundaries, DevNet
where many weak signals add up), so the mean ranks better than either on
most data sets we measured (``docs/ACCURACY.md``).

A blend's score is a ranking score: higher is more anomalous. It is *not* a
deviation z-score, so it has no p-value and no threshold; calibrate a cut-off
on your own data if you need one.

A fitted blend is saved with :func:`save_blend` as a small JSON file naming its
members' files (a ``deviation`` model file for DevNet; CatBoost's own ``.cbm``
plus the fitted Preprocessor as JSON) and read back with :func:`load_blend`.
Nothing is pickled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

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


class ScoreBlend(BaseEstimator):
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
    """Write a fitted DevNet + CatBoost blend: ``path`` (JSON) and its members' files beside it.

    The members are written as ``<path>.devnet.model`` (a ``deviation`` model
    file) and ``<path>.catboost.cbm`` with ``<path>.catboost.cbm.preprocessor.json``.
    Every file is written atomically; if one fails, none is left behind.

    Returns
    -------
    pathlib.Path
        ``path``, the blend file to pass to :func:`load_blend`.
    """
    from contextlib import ExitStack

    from sklearn.pipeline import Pipeline

    from ._atomic import atomic_target
    from .persistence import save

    path = Path(path)
    if not path.parent.exists():
        raise DataError(f"cannot write {path}: directory {str(path.parent)!r} does not exist")
    entries, writes = [], []
    for (name, model), center, scale in zip(blend.members_, blend.centers_, blend.scales_):
        pre, inner = model.steps[0][1], model.steps[-1][1]
        if name.startswith("devnet"):
            target = path.with_name(f"{path.name}.{name}.model")
            writes.append(("devnet", target, Pipeline([("preprocessor", pre), ("devnet", inner)])))
            entries.append({"name": name, "kind": "devnet", "file": target.name,
                            "center": center, "scale": scale})
        elif name == "catboost":
            target = path.with_name(f"{path.name}.catboost.cbm")
            side = target.with_name(target.name + ".preprocessor.json")
            writes.append(("catboost", target, (inner, side, pre)))
            entries.append({"name": name, "kind": "catboost", "file": target.name,
                            "preprocessor": side.name, "center": center, "scale": scale})
        else:
            raise DataError(f"blend member {name!r} has no non-pickle file format; only devnet and catboost do")
    document = {"format": BLEND_FORMAT, "version": BLEND_VERSION, "members": entries,
                "metadata": metadata or {}}
    with ExitStack() as stack:
        # temporary files first, committed together when the block ends without error
        for kind, target, payload in writes:
            if kind == "catboost":
                inner, side, pre = payload
                tmp_model = stack.enter_context(atomic_target(target))
                tmp_side = stack.enter_context(atomic_target(side))
                inner.save_model(str(tmp_model))
                tmp_side.write_text(json.dumps(pre.to_state()), encoding="utf-8")
        tmp = stack.enter_context(atomic_target(path))
        tmp.write_text(json.dumps(document, indent=2), encoding="utf-8")
        # the DevNet file last: save() is atomic, and a failure before it leaves nothing behind
        for kind, target, payload in writes:
            if kind == "devnet":
                save(payload, target, metadata=metadata)
    return path


def load_blend(path: Any) -> ScoreBlend:
    """Read a blend written by :func:`save_blend`; nothing in the files is executed.

    Raises
    ------
    ModelFileError
        If the file or one of its members is missing, not a blend file, or
        written by a newer deviation.
    """
    from sklearn.pipeline import Pipeline

    from .persistence import load
    from .preprocess import Preprocessor

    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"no blend file at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is not a blend file ({exc}); pass the .json written by compare --save-model") from None
    if not isinstance(document, dict) or document.get("format") != BLEND_FORMAT:
        raise ModelFileError(f"{path} is not a deviation blend file (no format {BLEND_FORMAT!r})")
    if document.get("version", 0) > BLEND_VERSION:
        raise ModelFileError(f"{path} was written by a newer deviation (blend version {document['version']}); upgrade")
    members, centers, scales = [], [], []
    try:
        for entry in document["members"]:
            target = path.with_name(entry["file"])
            if not target.exists():
                raise ModelFileError(f"blend member file {target} is missing; keep it beside {path.name}")
            if entry["kind"] == "devnet":
                model = load(target)
            elif entry["kind"] == "catboost":
                from .rivals import CatBoostRival, import_catboost as _import_catboost

                catboost = _import_catboost()
                rival = CatBoostRival()
                rival.model_ = catboost.CatBoostClassifier()
                rival.model_.load_model(str(target), format="cbm")
                rival.n_features_in_ = rival.model_.n_features_in_
                side = path.with_name(entry["preprocessor"])
                pre = Preprocessor.from_state(json.loads(side.read_text(encoding="utf-8")))
                model = Pipeline([("preprocessor", pre), ("model", rival)])
            else:
                raise ModelFileError(f"{path}: unknown blend member kind {entry['kind']!r}")
            members.append((str(entry["name"]), model))
            centers.append(float(entry["center"]))
            scales.append(float(entry["scale"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path} is a damaged blend file ({exc!r}); save the blend again") from None
    blend = ScoreBlend(members)
    blend.members_ = members
    blend.centers_ = np.asarray(centers)
    blend.scales_ = np.asarray(scales)
    return blend
