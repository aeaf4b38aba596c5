"""State of :class:`~deviation.features.InputView`: the arrays saved in ``weights.safetensors``.

The default preset's input view is defined by five arrays, saved as tensors
named ``view.*`` next to the network's weights, in the dtypes they were fitted
in (float64, and int64 for the column indices), and a sixth, ``view.binary``
(the binary columns the quantile network also reads), written only when it is
not empty: files written before the quantile network read binary columns lack
it and load with none, so they score as they did.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..features import InputView

__all__ = ["VIEW_TENSOR_NAMES", "view_from_tensors", "view_to_tensors"]

#: The tensors of :func:`view_to_tensors`, with their dtypes.
_TENSOR_DTYPES = {
    "view.data_min": np.float64,
    "view.data_range": np.float64,
    "view.continuous": np.int64,
    "view.quantiles": np.float64,
    "view.references": np.float64,
}
#: Optional tensors (absent from older files), with their dtypes.
_OPTIONAL_DTYPES = {"view.binary": np.int64}
#: Names of the tensors :func:`view_to_tensors` may write.
VIEW_TENSOR_NAMES: tuple[str, ...] = (*_TENSOR_DTYPES, *_OPTIONAL_DTYPES)


def view_to_tensors(view: InputView) -> dict[str, np.ndarray]:
    """The arrays that define ``view``, C-contiguous, keyed by their tensor names.

    Parameters
    ----------
    view : InputView

    Returns
    -------
    dict of str to numpy.ndarray
        ``view.data_min``, ``view.data_range``, ``view.continuous``,
        ``view.quantiles``, ``view.references``, and ``view.binary`` when the
        quantile network reads binary columns.
    """
    tensors = {
        "view.data_min": np.ascontiguousarray(view.data_min),
        "view.data_range": np.ascontiguousarray(view.data_range),
        "view.continuous": np.ascontiguousarray(view.continuous),
        "view.quantiles": np.ascontiguousarray(view.quantiles),
        "view.references": np.ascontiguousarray(view.references),
    }
    if view.n_binary:
        tensors["view.binary"] = np.ascontiguousarray(view.binary)
    return tensors


def view_from_tensors(tensors: dict[str, Any], n_features: int) -> InputView:
    """Rebuild an input view from :func:`view_to_tensors` output, checking shapes and values.

    Parameters
    ----------
    tensors : dict of str to array
        At least the five required ``view.*`` tensors, optionally ``view.binary``
        (others are ignored).
    n_features : int
        The model's number of input columns.

    Returns
    -------
    InputView

    Raises
    ------
    ValueError
        When the arrays are missing, of another dtype or inconsistent (the
        caller turns it into a model-file error).
    """
    for name, dtype in _TENSOR_DTYPES.items():
        if name not in tensors:
            raise ValueError(f"the input view lacks {name}")
        found = np.asarray(tensors[name]).dtype
        if found != dtype:
            # a float copy of the column indices, say, would be silently truncated
            raise ValueError(f"the input view's {name} is {found}, expected {np.dtype(dtype)}")
    for name, dtype in _OPTIONAL_DTYPES.items():
        if name in tensors and np.asarray(tensors[name]).dtype != dtype:
            raise ValueError(f"the input view's {name} is {np.asarray(tensors[name]).dtype}, expected {np.dtype(dtype)}")
    data_min = np.asarray(tensors["view.data_min"], dtype=np.float64)
    data_range = np.asarray(tensors["view.data_range"], dtype=np.float64)
    continuous = np.asarray(tensors["view.continuous"], dtype=np.int64)
    quantiles = np.asarray(tensors["view.quantiles"], dtype=np.float64)
    references = np.asarray(tensors["view.references"], dtype=np.float64)
    binary = np.asarray(tensors.get("view.binary", np.zeros(0, dtype=np.int64)), dtype=np.int64)
    ok = (
        data_min.shape == (n_features,)
        and data_range.shape == (n_features,)
        and continuous.ndim == 1
        and binary.ndim == 1
        and quantiles.ndim == 2
        and quantiles.shape[1] == len(continuous)
        and references.shape == (quantiles.shape[0],)
        and len(references) >= 2
    )
    if not ok:
        raise ValueError("the input view's arrays have inconsistent shapes")
    if continuous.size and (
        continuous.min() < 0 or continuous.max() >= n_features or len(np.unique(continuous)) != len(continuous)
    ):
        raise ValueError("the input view names columns outside the model's inputs")
    if binary.size and (
        continuous.size == 0
        or binary.min() < 0
        or binary.max() >= n_features
        or len(np.unique(np.r_[continuous, binary])) != len(continuous) + len(binary)
    ):
        # binary columns are read by the quantile network, which exists only with a continuous column
        raise ValueError("the input view's binary columns are outside the model's inputs or overlap the continuous ones")
    arrays = (data_min, data_range, quantiles, references)
    if not all(np.all(np.isfinite(a)) for a in arrays) or np.any(data_range <= 0):
        raise ValueError("the input view holds non-finite values or a non-positive range")
    if np.any(np.diff(references) < 0) or np.any(np.diff(quantiles, axis=0) < 0):
        raise ValueError("the input view's quantiles are not sorted")
    if references[0] < 0 or references[-1] > 1:
        # probability levels outside [0, 1] would make the normal quantile NaN
        raise ValueError("the input view's quantile levels are outside [0, 1]")
    return InputView(data_min, data_range, continuous, quantiles, references, binary)
