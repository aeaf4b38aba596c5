"""Reading and writing JSON values of a model's config (shared by the state modules)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..exceptions import ModelFileError
from .container import one_line

_NONFINITE_TO_JSON = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
NONFINITE_FROM_JSON = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def float_to_json(value: Any) -> float | str:
    """Encode a float for strict JSON: NaN and infinities become ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    f = float(value)
    if math.isfinite(f):
        return f
    return _NONFINITE_TO_JSON[repr(f)]


def float_from_json(value: Any, what: str) -> float:
    """Decode a float written by :func:`float_to_json`.

    Raises
    ------
    ModelFileError
        If ``value`` is neither a number nor one of ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
    """
    if isinstance(value, bool):
        raise ModelFileError(f"config.json: {what} must be a number, got {value!r}.")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in NONFINITE_FROM_JSON:
        return NONFINITE_FROM_JSON[value]
    raise ModelFileError(f"config.json: {what} must be a number, got {one_line(repr(value))[:80]}.")


def int_from_json(value: Any, what: str, minimum: int = 0) -> int:
    """Return ``value`` if it is a JSON integer ``>= minimum``, else raise ModelFileError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModelFileError(f"config.json: {what} must be an integer >= {minimum}, got {one_line(repr(value))[:80]}.")
    return value


def require(mapping: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """Return ``mapping[key]`` after checking that it exists and has the expected JSON type.

    Raises
    ------
    ModelFileError
        If the key is missing or its value has another type.
    """
    if not isinstance(mapping, dict) or key not in mapping:
        raise ModelFileError(f"{where} has no {key!r} entry; the file is not a valid deviation model file.")
    value = mapping[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ModelFileError(
            f"{where}: {key!r} has type {type(value).__name__}, which is not valid; "
            "the file is not a valid deviation model file."
        )
    return value


def float_array_from_json(value: Any, what: str, shape: tuple[int, ...]) -> np.ndarray:
    """Read a float64 array from a model file's JSON, checking its shape (``-1``: any length on that axis).

    Raises
    ------
    ModelFileError
        If the value is not a list of numbers of the expected shape.
    """
    if not isinstance(value, list):
        raise ModelFileError(f"Preprocessor state: {what} must be a list, got {type(value).__name__}.")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"Preprocessor state: {what} is not a list of numbers ({exc}).") from None
    if arr.ndim != len(shape) or any(s != -1 and s != a for s, a in zip(shape, arr.shape)):
        raise ModelFileError(f"Preprocessor state: {what} has shape {arr.shape}, expected {shape}.")
    return arr
