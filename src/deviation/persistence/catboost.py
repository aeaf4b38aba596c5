"""State of the CatBoost rival (``deviation compare``'s tree model): its trees in CatBoost's own format.

The fitted ``CatBoostClassifier`` is stored as a member holding CatBoost's
binary model (``.cbm``, parsed by CatBoost, never executed); the rival's
parameters and input width go to the JSON config. CatBoost is an optional
dependency: it is imported only when such a member is written or read.
"""

from __future__ import annotations

import numbers
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .._optional import import_optional
from ..exceptions import ModelFileError
from ._common import int_from_json, require

__all__ = ["RIVAL_ESTIMATOR", "is_rival", "rival_class", "rival_from_config", "rival_to_config"]

#: The ``estimator`` value of a CatBoost rival's config.
RIVAL_ESTIMATOR = "deviation.CatBoostRival"
#: The member holding the trees (relative to the model's prefix in the file).
MODEL_NAME = "model.cbm"


def rival_class() -> type:
    """The CatBoost rival class (the one place it is imported from)."""
    from ..rivals import CatBoostRival

    return CatBoostRival


def _import_catboost() -> Any:
    return import_optional("catboost", "catboost", "Loading a CatBoost model file")


def is_rival(model: Any) -> bool:
    """Whether ``model`` is the CatBoost rival (its class, not a subclass)."""
    return type(model).__name__ == "CatBoostRival" and type(model) is rival_class()


def rival_to_config(rival: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Split a fitted CatBoost rival into its JSON config and its model bytes.

    Parameters
    ----------
    rival : CatBoostRival
        A fitted rival.

    Returns
    -------
    config : dict
        ``{"estimator", "params", "fitted", "model_file"}``.
    blobs : dict of str to bytes
        ``{"model.cbm": ...}``: CatBoost's binary model.

    Raises
    ------
    NotFittedError
        Before ``rival.fit``.
    """
    from ..exceptions import NotFittedError

    if not hasattr(rival, "model_"):
        raise NotFittedError("This CatBoost rival is not fitted yet; call 'fit' before saving it.")
    params = rival.get_params(deep=False)
    random_state = params.get("random_state")
    if not (random_state is None or (isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool))):
        random_state = None  # only used during fit
    saved = {
        "max_train_rows": None if params.get("max_train_rows") is None else int(params["max_train_rows"]),
        "thread_count": int(params.get("thread_count", 1)),
        "random_state": None if random_state is None else int(random_state),
    }
    with tempfile.TemporaryDirectory(prefix="deviation-") as tmp:
        target = Path(tmp) / MODEL_NAME
        rival.save_model(str(target))
        data = target.read_bytes()
    fitted: dict[str, Any] = {"n_features_in_": int(rival.n_features_in_)}
    calibration = getattr(rival, "calibration_scores_", None)
    if calibration is not None:
        fitted["calibration_scores_"] = [float(v) for v in np.asarray(calibration, dtype=np.float64)]
    config = {
        "estimator": RIVAL_ESTIMATOR,
        "params": saved,
        "fitted": fitted,
        "model_file": MODEL_NAME,
    }
    return config, {MODEL_NAME: data}


def rival_from_bytes(data: bytes, params: dict[str, Any] | None = None) -> Any:
    """A fitted CatBoost rival from CatBoost's binary model (and the rival's parameters).

    Raises
    ------
    MissingDependencyError
        Without CatBoost.
    ModelFileError
        If CatBoost cannot read the bytes.
    """
    catboost = _import_catboost()
    rival = rival_class()(**(params or {}))
    model = catboost.CatBoostClassifier()
    try:
        model.load_model(blob=bytes(data))
    except catboost.CatBoostError as exc:
        raise ModelFileError(f"the CatBoost model cannot be read ({' '.join(str(exc).split())[:200]})") from None
    rival.model_ = model
    # a loaded CatBoost model reports n_features_in_ = 0; its feature names are all there
    rival.n_features_in_ = len(model.feature_names_ or ())
    return rival


def rival_from_config(config: dict[str, Any], take: Any) -> Any:
    """Rebuild a fitted CatBoost rival from :func:`rival_to_config` output.

    Parameters
    ----------
    config : dict
        The rival's config.
    take : callable
        ``take(name)`` returns the bytes of the member ``name`` (relative to
        the model's prefix).

    Raises
    ------
    ModelFileError
        If the config is invalid or does not match the trees.
    """
    where = "config.json"
    params = dict(require(config, "params", dict, where))
    unknown = sorted(set(params) - {"max_train_rows", "thread_count", "random_state"})
    if unknown:
        raise ModelFileError(f"{where} sets CatBoost rival parameters {unknown} this deviation does not know; upgrade deviation.")
    for name, value in params.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ModelFileError(f"{where}: CatBoost rival parameter {name} must be an integer or null.")
    fitted = require(config, "fitted", dict, where)
    n_features = int_from_json(fitted.get("n_features_in_"), "n_features_in_", 1)
    if require(config, "model_file", str, where) != MODEL_NAME:
        raise ModelFileError(f"{where}: the CatBoost model must be stored as {MODEL_NAME}.")
    rival = rival_from_bytes(take(MODEL_NAME), params)
    if rival.n_features_in_ != n_features:
        raise ModelFileError(
            f"{where}: the CatBoost model reads {rival.n_features_in_} columns, inconsistent with n_features_in_={n_features}."
        )
    from ..calibration import scores_from_json

    rival.calibration_scores_ = scores_from_json(fitted.get("calibration_scores_"), where)
    return rival
