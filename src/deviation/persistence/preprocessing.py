"""State of a fitted :class:`~deviation.preprocess.Preprocessor` as plain JSON.

:func:`preprocessor_to_state` reads the preprocessor's parameters and public
fitted attributes (its scikit-learn transformers' fitted statistics included);
:func:`preprocessor_from_state` creates fresh scikit-learn transformers, sets
their fitted attributes from the state and assembles them with
:meth:`Preprocessor.from_fitted`, so that ``transform`` is bit-identical.
Floats are exact: ``json`` writes them with ``repr``, which round-trips.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import sklearn
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    QuantileTransformer,
    StandardScaler,
)

from ..exceptions import DataError, ModelFileError, NotFittedError
from ..preprocess import Preprocessor
from ..preprocess.columns import COUNT_ATTRIBUTES, SCALER_ATTRIBUTES, is_missing_category
from ..preprocess.kinds import ColumnKind
from ._common import float_array_from_json

__all__ = ["STATE_FORMAT", "preprocessor_from_state", "preprocessor_to_state"]

#: Version of the dictionary written by :func:`preprocessor_to_state`.
STATE_FORMAT = 1

_SCALER_KINDS = {MinMaxScaler: "minmax", StandardScaler: "standard", MaxAbsScaler: "maxabs",
                 QuantileTransformer: "quantile"}




def _json_value(value: Any, what: str) -> Any:
    """Convert a fitted scikit-learn attribute to JSON types, exactly.

    Returns
    -------
    None, int, float or (nested) list
        Floats are Python floats (``float()`` of float32/float64 is exact).

    Raises
    ------
    DataError
        If a float is NaN or infinite (not representable in strict JSON).
    """
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype.kind in "iub":
        return arr.tolist() if arr.ndim else int(arr)
    if arr.dtype.kind != "f":
        raise DataError(f"Cannot save fitted attribute {what} of dtype {arr.dtype}.")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"Fitted attribute {what} holds non-finite values; cannot save it as JSON.")
    as_float64 = arr.astype(np.float64)
    return as_float64.tolist() if arr.ndim else float(as_float64)


def preprocessor_to_state(pre: Preprocessor) -> dict[str, Any]:
    """Return the fitted state of ``pre`` as a JSON-serialisable dictionary.

    Parameters
    ----------
    pre : Preprocessor
        A fitted preprocessor.

    Returns
    -------
    dict
        Only JSON types (dict, list, str, int, float, bool, None), with
        ``"format": 1``. :func:`preprocessor_from_state` rebuilds it.

    Raises
    ------
    NotFittedError
        Before ``pre.fit``.
    DataError
        If a fitted statistic is not finite.
    """
    if not pre.__sklearn_is_fitted__():
        raise NotFittedError("This Preprocessor instance is not fitted yet; call 'fit' before saving it.")
    random_state = pre.random_state
    if not (random_state is None or isinstance(random_state, numbers.Integral)):
        random_state = None  # only used during fit; a RandomState cannot be saved as JSON
    params = {
        "scaling": pre.scaling,
        "categorical": "auto" if isinstance(pre.categorical, str) else [str(c) for c in pre.categorical],
        "max_categories": None if pre.max_categories is None else int(pre.max_categories),
        "min_frequency": None if pre.min_frequency is None else int(pre.min_frequency),
        "n_quantiles": int(pre.n_quantiles),
        "subsample": None if pre.subsample is None else int(pre.subsample),
        "random_state": None if random_state is None else int(random_state),
    }
    imputer = None
    if pre.imputer_ is not None:
        imputer = {"statistics": _json_value(pre.imputer_.statistics_, "statistics_")}
    scaler = None
    if pre.scaler_ is not None:
        kind = _SCALER_KINDS[type(pre.scaler_)]
        scaler = {"kind": kind}
        for attr in SCALER_ATTRIBUTES[kind]:
            value = getattr(pre.scaler_, attr)
            if attr in COUNT_ATTRIBUTES:
                # sklearn may keep counts as floats (sparse StandardScaler) or per feature.
                counts = np.asarray(value)
                scaler[attr.rstrip("_")] = [int(c) for c in counts.ravel()] if counts.ndim else int(counts)
            else:
                scaler[attr.rstrip("_")] = _json_value(value, attr)
        if kind == "standard":
            scaler["with_mean"] = bool(pre.scaler_.with_mean)
    encoder = None
    if pre.encoder_ is not None:
        encoder = {
            "categories": [
                [None if is_missing_category(c) else str(c) for c in cats] for cats in pre.encoder_.categories_
            ]
        }
    return {
        "format": STATE_FORMAT,
        "estimator": "deviation.preprocess.Preprocessor",
        "sklearn_version": sklearn.__version__,
        "params": params,
        "input_kind": pre.input_kind_,
        "feature_names_in": [str(n) for n in pre.feature_names_in_],
        "numeric_features": list(pre.numeric_features_),
        "categorical_features": list(pre.categorical_features_),
        "binary_features": list(pre.binary_features_),
        "all_missing_features": list(pre.all_missing_features_),
        "imputer": imputer,
        "scaler": scaler,
        "encoder": encoder,
        "feature_names_out": [str(n) for n in pre.feature_names_out_],
        "output_to_input": [int(j) for j in pre.output_to_input_],
        # the kind of each input column (absent in files written before column typing)
        "column_kinds": None if getattr(pre, "column_kinds_", None) is None
        else [kind.to_dict() for kind in pre.column_kinds_],
    }


def preprocessor_from_state(state: Any) -> Preprocessor:
    """Rebuild a fitted preprocessor from :func:`preprocessor_to_state` output.

    Parameters
    ----------
    state : dict
        The state (possibly after a JSON round trip).

    Returns
    -------
    Preprocessor
        A fitted preprocessor whose ``transform`` is bit-identical to the one saved.

    Raises
    ------
    ModelFileError
        If the state is not a dictionary, comes from a newer or unknown
        format, or is inconsistent.
    """
    if not isinstance(state, dict):
        raise ModelFileError(f"Preprocessor state must be a dict, got {type(state).__name__}.")
    fmt = state.get("format")
    if not isinstance(fmt, int) or isinstance(fmt, bool):
        raise ModelFileError(f"Preprocessor state has no valid 'format' key (got {fmt!r}).")
    if fmt > STATE_FORMAT:
        raise ModelFileError(
            f"Preprocessor state has format {fmt}, newer than the supported format {STATE_FORMAT}; upgrade deviation."
        )
    if fmt != STATE_FORMAT:
        raise ModelFileError(f"Preprocessor state has unknown format {fmt!r}.")
    try:
        return _from_state_v1(state)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelFileError(f"Preprocessor state is invalid: {type(exc).__name__}: {exc}") from None


def _names(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise ModelFileError(f"Preprocessor state: {what} must be a list of strings.")
    return list(value)


def _from_state_v1(state: dict[str, Any]) -> Preprocessor:
    """Rebuild from a format-1 state (see :func:`preprocessor_from_state`)."""
    params = state["params"]
    if not isinstance(params, dict):
        raise ModelFileError("Preprocessor state: params must be a dict.")
    numeric = _names(state["numeric_features"], "numeric_features")
    categorical = _names(state["categorical_features"], "categorical_features")

    imputer = None
    if state["imputer"] is not None:
        stats = float_array_from_json(state["imputer"]["statistics"], "imputer statistics", (len(numeric),))
        imputer = SimpleImputer(strategy="mean", keep_empty_features=True)
        imputer.fit(np.zeros((1, len(numeric))))
        imputer.statistics_ = stats

    scaler = None
    if state["scaler"] is not None:
        scaler = _restore_scaler(state["scaler"], params)

    encoder = None
    if state["encoder"] is not None:
        cats_state = state["encoder"]["categories"]
        if not isinstance(cats_state, list) or len(cats_state) != len(categorical):
            raise ModelFileError("Preprocessor state: one list of categories per categorical feature expected.")
        categories = []
        for cats in cats_state:
            if not isinstance(cats, list) or not cats or not all(c is None or isinstance(c, str) for c in cats):
                raise ModelFileError("Preprocessor state: categories must be non-empty lists of strings or null.")
            arr = np.empty(len(cats), dtype=object)
            arr[:] = [np.nan if c is None else c for c in cats]
            categories.append(arr)
        encoder = OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        dummy = np.empty((1, len(categories)), dtype=object)
        dummy[0, :] = [c[0] for c in categories]
        encoder.fit(dummy)

    try:
        pre = Preprocessor.from_fitted(
            params,
            input_kind=state["input_kind"],
            feature_names_in=_names(state["feature_names_in"], "feature_names_in"),
            numeric_features=numeric,
            categorical_features=categorical,
            binary_features=_names(state["binary_features"], "binary_features"),
            all_missing_features=_names(state.get("all_missing_features", []), "all_missing_features"),
            imputer=imputer,
            scaler=scaler,
            encoder=encoder,
            column_kinds=None if state.get("column_kinds") is None
            else [ColumnKind.from_dict(k) for k in state["column_kinds"]],
        )
    except ValueError as exc:  # ParameterError included
        raise ModelFileError(f"Preprocessor state: {exc}.") from None
    if "feature_names_out" in state and list(state["feature_names_out"]) != list(pre.feature_names_out_):
        raise ModelFileError("Preprocessor state: feature_names_out does not match the fitted columns.")
    if "output_to_input" in state and list(state["output_to_input"]) != list(pre.output_to_input_):
        raise ModelFileError("Preprocessor state: output_to_input does not match the fitted columns.")
    return pre


def _restore_scaler(scaler_state: dict[str, Any], params: dict[str, Any]) -> Any:
    """Create a scikit-learn scaler and set its fitted attributes from the state.

    The scaler is first fitted on dummy data of the right width (the length of
    its saved statistics) so that scikit-learn's own private attributes exist,
    then every fitted attribute that ``transform`` uses is overwritten.
    """
    kind = scaler_state["kind"]
    if kind not in SCALER_ATTRIBUTES:
        raise ModelFileError(f"Preprocessor state: unknown scaler kind {kind!r}.")
    if kind == "quantile":
        n_q = scaler_state["n_quantiles"]
        if not isinstance(n_q, int) or isinstance(n_q, bool) or n_q < 1:
            raise ModelFileError(f"Preprocessor state: invalid n_quantiles {n_q!r}.")
        quantiles = float_array_from_json(scaler_state["quantiles"], "scaler quantiles_", (n_q, -1))
        n_features = quantiles.shape[1]
        scaler: Any = QuantileTransformer(
            n_quantiles=n_q, output_distribution="normal", subsample=params.get("subsample"),
            random_state=params.get("random_state"),
        )
        scaler.fit(np.repeat(np.arange(n_q, dtype=np.float64)[:, None], n_features, axis=1))
    else:
        n_features = len(float_array_from_json(scaler_state["scale"], "scaler scale_", (-1,)))
        if kind == "minmax":
            scaler = MinMaxScaler(feature_range=(0.0, 1.0), clip=False)
        elif kind == "standard":
            scaler = StandardScaler(with_mean=bool(scaler_state.get("with_mean", True)))
        else:
            scaler = MaxAbsScaler()
        scaler.fit(np.zeros((2, n_features)))
    for attr in SCALER_ATTRIBUTES[kind]:
        value = scaler_state[attr.rstrip("_")]
        if attr in COUNT_ATTRIBUTES:
            if isinstance(value, list):
                value = np.asarray(value, dtype=np.int64)
            elif not isinstance(value, int) or isinstance(value, bool):
                raise ModelFileError(f"Preprocessor state: scaler {attr} must be an int.")
        elif value is None:
            pass
        elif attr == "quantiles_":
            value = float_array_from_json(value, f"scaler {attr}", (scaler.n_quantiles_, n_features))
        elif attr == "references_":
            value = float_array_from_json(value, f"scaler {attr}", (scaler.n_quantiles_,))
        else:
            value = float_array_from_json(value, f"scaler {attr}", (n_features,))
        setattr(scaler, attr, value)
    return scaler
