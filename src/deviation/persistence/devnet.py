"""State of a fitted :class:`~deviation.DevNet`: a JSON config plus float32 tensors.

:func:`devnet_to_config` reads only the estimator's parameters
(``get_params``) and public fitted attributes; :func:`devnet_from_config`
rebuilds it with the public :meth:`DevNet.from_fitted`.
"""

from __future__ import annotations

import logging
import numbers
from typing import Any

import numpy as np

from ..estimator import DevNet
from ..exceptions import ModelFileError, NotFittedError, ParameterError
from ._common import (
    NONFINITE_FROM_JSON,
    float_from_json,
    float_to_json,
    int_from_json,
    require,
)
from .container import one_line
from .view import VIEW_TENSOR_NAMES, view_from_tensors, view_to_tensors

__all__ = ["check_devnet", "devnet_from_config", "devnet_to_config"]

logger = logging.getLogger(__name__)

# Fitted scalar attributes of DevNet saved in config.json, with their JSON type.
_FITTED_INTS = ("n_features_in_", "best_epoch_", "n_labeled_anomalies_", "n_unlabeled_", "n_networks_")
_FITTED_FLOATS = ("reference_mean_", "reference_std_", "threshold_")
_FITTED_STRS = ("device_", "engine_")


def check_devnet(model: Any, where: str) -> DevNet:
    """Check that ``model`` is a fitted :class:`DevNet` (not a subclass).

    Raises
    ------
    TypeError
        For another type.
    NotFittedError
        Before ``fit``.
    """
    if type(model) is not DevNet:
        raise TypeError(
            f"{where} must be a fitted deviation.DevNet, got {type(model).__module__}."
            f"{type(model).__qualname__}; only DevNet itself (not a subclass) can be saved."
        )
    if not hasattr(model, "coefs_"):
        raise NotFittedError("This DevNet instance is not fitted yet; call 'fit' before saving it.")
    return model


def _param_to_json(name: str, value: Any) -> Any:
    """Convert one ``DevNet.get_params()`` value to JSON types.

    Raises
    ------
    ParameterError
        For a value that cannot be stored as JSON.
    """
    if name == "hidden_layer_sizes":
        if value is None:  # the preset's sizes
            return None
        try:
            return [int(units) for units in value]
        except (TypeError, ValueError):
            raise ParameterError(
                f"Cannot save parameter hidden_layer_sizes={value!r}: it must be a sequence of ints."
            ) from None
    if name == "random_state":
        if value is None or (isinstance(value, numbers.Integral) and not isinstance(value, bool)):
            return None if value is None else int(value)
        logger.info(
            "random_state of type %s is saved as null; the loaded model has random_state=None.",
            type(value).__name__,
        )
        return None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float_to_json(value)
    raise ParameterError(
        f"Cannot save DevNet parameter {name}={value!r} (type {type(value).__name__}); "
        "only numbers, strings, booleans and None can be stored."
    )


def devnet_to_config(devnet: DevNet) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split a fitted DevNet into its JSON config and its tensors.

    Parameters
    ----------
    devnet : DevNet
        A fitted estimator (see :func:`check_devnet`).

    Returns
    -------
    config : dict
        ``{"estimator", "params", "fitted", "layers"}`` (top-level keys of ``config.json``).
    tensors : dict of str to ndarray
        ``coef_k`` and ``intercept_k`` for each layer (C-contiguous float32),
        ``baseline`` and the input view's ``view.*`` arrays.

    Raises
    ------
    ParameterError
        If the weights are not float32 arrays of consistent shapes, or a
        parameter cannot be stored as JSON.
    """
    params = {name: _param_to_json(name, value) for name, value in devnet.get_params(deep=False).items()}
    coefs, intercepts = list(devnet.coefs_), list(devnet.intercepts_)
    if len(coefs) != len(intercepts) or not coefs:
        raise ParameterError("The DevNet has inconsistent coefs_ and intercepts_; fit it again before saving.")
    tensors: dict[str, np.ndarray] = {}
    view = getattr(devnet, "view_", None)
    layers = [int(devnet.n_features_in_) if view is None else int(view.n_features_out)]
    if view is not None:
        tensors.update(view_to_tensors(view))
    for k, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        coef, intercept = np.asarray(coef), np.asarray(intercept)
        if coef.dtype != np.float32 or intercept.dtype != np.float32:
            raise ParameterError(
                f"Layer {k} of the DevNet holds {coef.dtype}/{intercept.dtype} weights; only float32 "
                "weights (as fit produces) can be saved."
            )
        if coef.ndim != 2 or coef.shape[0] != layers[-1] or intercept.shape != (coef.shape[1],):
            raise ParameterError(
                f"Layer {k} of the DevNet has weights of shapes {coef.shape} and {intercept.shape}, "
                "inconsistent with the previous layer; fit it again before saving."
            )
        layers.append(int(coef.shape[1]))
        tensors[f"coef_{k}"] = np.ascontiguousarray(coef)
        tensors[f"intercept_{k}"] = np.ascontiguousarray(intercept)
    baseline = getattr(devnet, "baseline_", None)
    if baseline is not None:
        baseline = np.asarray(baseline)
        if baseline.dtype != np.float32 or baseline.shape != (int(devnet.n_features_in_),):
            raise ParameterError(
                f"The DevNet's baseline_ is {baseline.dtype} of shape {baseline.shape}; expected float32 "
                f"of shape ({int(devnet.n_features_in_)},); fit it again before saving."
            )
        tensors["baseline"] = np.ascontiguousarray(baseline)
    if layers[-1] != 1:
        raise ParameterError(f"The DevNet's output layer has {layers[-1]} units instead of 1; fit it again.")

    fitted: dict[str, Any] = {}
    for attr in _FITTED_INTS:
        # a DevNet fitted before presets existed has no n_networks_: it holds one network
        fitted[attr] = int(getattr(devnet, attr, 1) if attr == "n_networks_" else getattr(devnet, attr))
    for attr in _FITTED_FLOATS:
        fitted[attr] = float_to_json(getattr(devnet, attr))
    for attr in _FITTED_STRS:
        fitted[attr] = str(getattr(devnet, attr))
    fitted["loss_curve_"] = [float_to_json(v) for v in devnet.loss_curve_]
    # the penalty trained with (l2=None resolves by the rows trained on): kept so that
    # `deviation info` shows it and a later change of the rule does not rewrite it
    if getattr(devnet, "l2_", None) is not None:
        fitted["l2_"] = float_to_json(devnet.l2_)
    names = getattr(devnet, "feature_names_in_", None)
    fitted["feature_names_in_"] = None if names is None else [str(n) for n in names]
    calibration = getattr(devnet, "calibration_scores_", None)
    if calibration is not None:
        # JSON numbers round-trip float64 exactly, so threshold_ and the p-values read back bit for bit
        fitted["calibration_scores_"] = [float(v) for v in np.asarray(calibration, dtype=np.float64)]
    config = {"estimator": "deviation.DevNet", "params": params, "fitted": fitted, "layers": layers}
    return config, tensors


def _params_from_json(config: dict[str, Any], where: str) -> dict[str, Any]:
    """The DevNet constructor parameters of ``config`` (JSON types decoded, not yet validated)."""
    params = dict(require(config, "params", dict, where))
    known = set(DevNet().get_params(deep=False))
    unknown = sorted(set(params) - known)
    if unknown:
        raise ModelFileError(
            f"config.json sets DevNet parameters {unknown} that this version of deviation does not know; "
            "upgrade deviation."
        )
    if params.get("hidden_layer_sizes") is not None:
        hidden = params["hidden_layer_sizes"]
        if not isinstance(hidden, list):
            raise ModelFileError("config.json: hidden_layer_sizes must be null or a list of ints.")
        params["hidden_layer_sizes"] = tuple(int_from_json(h, "hidden_layer_sizes", 1) for h in hidden)
    for name, value in params.items():
        if isinstance(value, (list, dict)) and name != "hidden_layer_sizes":
            raise ModelFileError(f"config.json: DevNet parameter {name} has an invalid value.")
        if isinstance(value, str) and value in NONFINITE_FROM_JSON and name not in ("engine", "device"):
            params[name] = NONFINITE_FROM_JSON[value]
    # files written before presets existed hold the paper's single network
    params.setdefault("preset", "paper")
    # files written before calibration existed trained on every row
    params.setdefault("calibration_size", 0)
    # files written before anomaly_noise existed trained without it
    params.setdefault("anomaly_noise", 0.0)
    return params


def devnet_from_config(config: Any, tensors: dict[str, np.ndarray]) -> DevNet:
    """Rebuild a fitted DevNet from its config (``estimator``, ``params``, ``fitted``, ``layers``) and tensors.

    Parameters
    ----------
    config : dict
        As written by :func:`devnet_to_config` (after a JSON round trip).
    tensors : dict of str to ndarray
        As written by :func:`devnet_to_config`.

    Returns
    -------
    DevNet

    Raises
    ------
    ModelFileError
        If the parameters are unknown or invalid, or the tensors do not match
        the configuration.
    """
    where = "config.json"
    if require(config, "estimator", str, where) != "deviation.DevNet":
        raise ModelFileError(f"{where}: unknown estimator {config['estimator']!r}; upgrade deviation.")
    params = _params_from_json(config, where)
    fitted = require(config, "fitted", dict, where)
    values: dict[str, Any] = {}
    for attr in _FITTED_INTS:
        if attr == "n_networks_" and attr not in fitted:
            values[attr] = 1
            continue
        values[attr] = int_from_json(fitted.get(attr), attr, 1 if attr == "n_networks_" else 0)
    for attr in _FITTED_FLOATS:
        values[attr] = float_from_json(fitted.get(attr), attr)
    for attr in _FITTED_STRS:
        values[attr] = require(fitted, attr, str, "config.json 'fitted'")
    curve = require(fitted, "loss_curve_", list, "config.json 'fitted'")
    values["loss_curve_"] = [float_from_json(v, "loss_curve_") for v in curve]
    if fitted.get("l2_") is not None:
        # files written before l2_ was saved derive it from l2 and n_unlabeled_ (from_fitted)
        l2 = float_from_json(fitted["l2_"], "l2_")
        if not (np.isfinite(l2) and l2 >= 0):
            raise ModelFileError(f"config.json: l2_ must be a finite number >= 0, not {l2!r}.")
        values["l2_"] = l2
    names = fitted.get("feature_names_in_")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ModelFileError("config.json: feature_names_in_ must be a list of strings or null.")
        if len(names) != values["n_features_in_"]:
            raise ModelFileError(
                f"config.json: {len(names)} feature names for n_features_in_={values['n_features_in_']}."
            )
        values["feature_names_in_"] = names

    n_features = values["n_features_in_"]
    if n_features < 1:
        raise ModelFileError("config.json: n_features_in_ must be at least 1.")
    view_names = {name for name in tensors if name.startswith("view.")}
    view = None
    if view_names:
        try:
            view = view_from_tensors(tensors, n_features)
        except ValueError as exc:
            raise ModelFileError(f"weights.safetensors: {exc}.") from None
    unknown_view = sorted(view_names - set(VIEW_TENSOR_NAMES))
    if unknown_view:
        raise ModelFileError(
            f"weights.safetensors holds unknown tensors {unknown_view}; the file was not written by "
            "deviation.save() or needs a newer deviation."
        )
    if view is not None and params["preset"] == "paper":
        raise ModelFileError(
            "weights.safetensors holds an input view, which preset='paper' does not use; the file was "
            "not written by deviation.save()."
        )
    values["view_"] = view
    n_networks = values["n_networks_"]
    # one network per view: two when the view has continuous columns, else one
    expected_networks = 1 if view is None or view.n_continuous == 0 else 2
    if n_networks != expected_networks:
        raise ModelFileError(
            f"config.json: n_networks_={n_networks} is inconsistent with the file's input view, which "
            f"implies {expected_networks}; the file was not written by deviation.save()."
        )
    n_layers = sum(1 for name in tensors if name.startswith("coef_"))
    expected_names = {f"{kind}_{k}" for k in range(n_layers) for kind in ("coef", "intercept")}
    if n_layers == 0 or set(tensors) - {"baseline"} - view_names != expected_names:
        raise ModelFileError(
            f"weights.safetensors holds tensors {sorted(tensors)}, inconsistent with config.json, which "
            f"expects coef_k and intercept_k for each layer; the file was not written by deviation.save()."
        )
    values["coefs_"] = [tensors[f"coef_{k}"] for k in range(n_layers)]
    values["intercepts_"] = [tensors[f"intercept_{k}"] for k in range(n_layers)]
    if "baseline" in tensors:
        values["baseline_"] = tensors["baseline"]
    calibration = fitted.get("calibration_scores_")
    if calibration is not None:
        if not isinstance(calibration, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in calibration
        ):
            raise ModelFileError("config.json: calibration_scores_ must be a list of numbers or absent.")
        values["calibration_scores_"] = calibration
    try:
        model = DevNet.from_fitted(params, values)
    except ParameterError as exc:
        raise ModelFileError(f"config.json holds invalid DevNet parameters: {one_line(exc)}") from None
    except ValueError as exc:
        raise ModelFileError(f"weights.safetensors: {one_line(exc)}.") from None
    layers = config.get("layers")
    sizes = [int(model.coefs_[0].shape[0]), *(int(c.shape[1]) for c in model.coefs_)]
    if layers is not None and layers != sizes:
        raise ModelFileError(
            f"config.json: layer sizes {layers} are inconsistent with n_features_in_ and "
            f"hidden_layer_sizes ({sizes})."
        )
    return model
