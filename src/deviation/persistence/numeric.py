"""A model file read as arrays for the all-numeric score path, without scikit-learn.

:func:`read_numeric_model` verifies the file exactly as :func:`deviation.load`
does (archive and member checksums, names, format version), then reads the
arrays of a (Preprocessor, DevNet) pipeline whose every input column is
numeric into a :class:`deviation.scale.numeric.NumericModel`. Every array it
uses is checked (finite, float32 weights whose shapes chain, the input view by
:func:`deviation.persistence.view.view_from_tensors`, sorted calibration
scores). It returns None for any other model, and for any file it has a doubt
about: :func:`deviation.load` then reads it, or says what is wrong with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._devnet_params import DEVNET_CONSTRAINTS
from ..calibration import checked_calibration_scores
from ..exceptions import ModelFileError
from ..mlp import network_members
from ..scale.numeric import NumericModel
from . import ModelParts, container, load_tensors, verified_config
from ._common import float_array_from_json
from .view import view_from_tensors

__all__ = ["read_numeric_model"]

_DEVNET = "deviation.DevNet"
#: The parameters this version's Preprocessor has (a test checks them against the class): a file
#: setting another one is from a newer deviation, which load() refuses with "upgrade deviation".
PREPROCESSOR_PARAMS = frozenset({
    "scaling", "categorical", "max_categories", "min_frequency", "n_quantiles", "subsample", "random_state",
})


def read_numeric_model(path: str | os.PathLike) -> NumericModel | None:
    """The all-numeric scoring arrays of a model file, or None when it is not such a model.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`deviation.save`.

    Returns
    -------
    NumericModel or None

    Raises
    ------
    ModelFileError
        When the file is missing, foreign, truncated, corrupted or from a newer
        format (the messages of :func:`deviation.load`).
    """
    path = Path(path)
    data = container.read_file(path)
    if not data.startswith(b"PK"):
        return None  # a legacy blend, or a file load() explains
    config, parts = verified_config(data, path)
    try:
        return _numeric_model(config, parts)
    except (ModelFileError, KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError):
        return None  # load() says what is wrong with it


def _numeric_model(config: dict[str, Any], parts: ModelParts) -> NumericModel | None:
    if config.get("model_type") != "Pipeline" or config.get("estimator") != _DEVNET:
        return None
    pre = config["preprocessor"]
    if (
        not isinstance(pre, dict)
        or pre.get("format") != 1
        or pre.get("input_kind") != "dataframe"
        or pre.get("encoder") is not None
        or pre.get("categorical_features")
        or pre.get("all_missing_features")
        or not isinstance(pre.get("imputer"), dict)
    ):
        return None
    numeric = [str(n) for n in pre["numeric_features"]]
    names_in = [str(n) for n in pre["feature_names_in"]]
    if (
        not numeric
        or len(set(numeric)) != len(numeric)
        or [names_in[j] for j in pre["output_to_input"]] != numeric
        or [str(n) for n in pre["feature_names_out"]] != numeric
    ):
        return None
    # every column read as a plain number, at fit and as the file will be read (no ids to copy or note)
    kinds = pre.get("column_kinds")
    if not isinstance(kinds, list) or any(k.get("kind") == "identifier" for k in kinds):
        return None
    by_name = {k.get("name"): k for k in kinds}
    if any(by_name.get(name, {}).get("kind") != "numeric" or by_name[name].get("spec") for name in numeric):
        return None
    schema = config.get("input_schema")
    if not isinstance(schema, dict) or schema.get("id_columns"):
        return None
    read_as = {c.get("name"): c.get("kind") for c in schema.get("columns") or []}
    if any(read_as.get(name) != "numeric" for name in numeric):
        return None

    d = len(numeric)
    fill = float_array_from_json(pre["imputer"].get("statistics"), "imputer statistics", (d,))
    scaler, scaling = pre.get("scaler"), pre.get("params", {}).get("scaling")
    if scaler is None and scaling == "none":
        scale = offset = None
    elif isinstance(scaler, dict) and scaler.get("kind") == "minmax" and scaling == "minmax":
        scale = float_array_from_json(scaler.get("scale"), "scaler scale_", (d,))
        offset = float_array_from_json(scaler.get("min"), "scaler min_", (d,))
    else:
        return None
    if not all(np.isfinite(a).all() for a in (fill, scale, offset) if a is not None):
        return None

    params, fitted = config["params"], config["fitted"]
    if not set(params) <= set(DEVNET_CONSTRAINTS) or not set(pre.get("params", {})) <= PREPROCESSOR_PARAMS:
        return None
    confidence = params.get("confidence")
    if not isinstance(confidence, float) or not 0.0 < confidence < 1.0:
        return None
    calibration = checked_calibration_scores(fitted.get("calibration_scores_"))
    if calibration is None or fitted.get("n_features_in_") != d:
        return None  # without calibration scores the general path says what the p-values mean

    tensors = load_tensors(parts.take("weights.safetensors"), parts.label)
    view = view_from_tensors(tensors, d) if "view.data_min" in tensors else None
    layers = config["layers"]
    width = d if view is None else view.n_features_out
    if not isinstance(layers, list) or len(layers) < 2 or layers[0] != width or layers[-1] != 1:
        return None
    coefs, intercepts = [], []
    for k in range(len(layers) - 1):
        coef, intercept = tensors.get(f"coef_{k}"), tensors.get(f"intercept_{k}")
        if (
            coef is None
            or intercept is None
            or coef.dtype != np.float32
            or intercept.dtype != np.float32
            or coef.shape != (layers[k], layers[k + 1])
            or intercept.shape != (layers[k + 1],)
            or not (np.isfinite(coef).all() and np.isfinite(intercept).all())
        ):
            return None
        coefs.append(np.ascontiguousarray(coef))
        intercepts.append(np.ascontiguousarray(intercept))
    n_networks = fitted.get("n_networks_", 1)
    if n_networks not in (1, 2):
        return None
    parts.check_all_used()  # a member nothing reads: load() refuses the file
    return NumericModel(
        columns=numeric,
        fill=fill,
        scale=scale,
        offset=offset,
        coefs=coefs,
        intercepts=intercepts,
        view=view,
        members=network_members(coefs, intercepts, view, n_networks),
        calibration_scores=calibration,
        confidence=confidence,
    )
