"""Column values: numbers and categories out of whatever a DataFrame column holds.

The helpers the :class:`~deviation.preprocess.Preprocessor` uses to turn one
column into float64 values or category labels, with errors that name the
column and the offending value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError

#: Names listed in a message before the rest are counted.
MAX_LISTED = 10

# Fitted attributes of each scikit-learn scaler that are saved in the state.
SCALER_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "minmax": ("min_", "scale_", "data_min_", "data_max_", "data_range_", "n_samples_seen_"),
    "standard": ("mean_", "var_", "scale_", "n_samples_seen_"),
    "maxabs": ("max_abs_", "scale_", "n_samples_seen_"),
    "quantile": ("quantiles_", "references_", "n_quantiles_"),
}
# Attributes that hold counts (ints), not float statistics.
COUNT_ATTRIBUTES = frozenset({"n_samples_seen_", "n_quantiles_"})


def list_names(names: Sequence[Any], limit: int = MAX_LISTED) -> str:
    """Format at most ``limit`` names for an error message.

    Parameters
    ----------
    names : sequence
        The names (or indices) to show.
    limit : int, default=10
        How many to show before summarising the rest.

    Returns
    -------
    str
        Something like ``['a', 'b'] and 3 more``.
    """
    names = list(names)
    shown = repr([n for n in names[:limit]])
    if len(names) > limit:
        shown += f" and {len(names) - limit} more"
    return shown


def is_numeric_dtype(dtype: Any) -> bool:
    """Tell whether a pandas/numpy dtype converts to float64 without parsing.

    Parameters
    ----------
    dtype : dtype
        A numpy dtype or a pandas extension dtype.

    Returns
    -------
    bool
        True for bool, integer and real floating dtypes (numpy or pandas
        nullable), False otherwise (complex included).
    """
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    if pd.api.types.is_bool_dtype(dtype):
        return True
    return bool(pd.api.types.is_numeric_dtype(dtype)) and not pd.api.types.is_complex_dtype(dtype)


def is_auto_categorical_dtype(dtype: Any) -> bool:
    """Tell whether ``categorical="auto"`` treats a DataFrame column as categorical.

    Parameters
    ----------
    dtype : dtype
        The column's dtype.

    Returns
    -------
    bool
        True for object, string and category dtypes.
    """
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def refuse_mostly_numeric(column: pd.Series, name: str) -> None:
    """Refuse a text column whose values are nearly all numbers: a typo, not a category.

    Parameters
    ----------
    column : pandas.Series
        A column that ``categorical="auto"`` would one-hot encode.
    name : str
        Its name, for the message.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        return  # declared categorical (e.g. an ARFF nominal attribute)
    values = column.dropna()
    if len(values) < 10:
        return
    parsed = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    bad = parsed.isna()
    if 0 < bad.sum() <= 0.1 * len(values):
        first = values[bad].iloc[0]
        raise DataError(
            f"Column {name!r} is numeric but holds non-numeric values such as {first!r} "
            f"(row {values.index[bad][0]!r}); fix or blank them, or list the column as categorical "
            "(Preprocessor(categorical=[...]); --categorical on the command line)."
        )


def to_object_array(column: pd.Series | np.ndarray) -> np.ndarray:
    """Return the values of a column as a 1-D object array."""
    if isinstance(column, pd.Series):
        return column.to_numpy(dtype=object)
    return np.asarray(column, dtype=object)


def to_float_column(column: pd.Series | np.ndarray, name: str, hint: str) -> np.ndarray:
    """Convert one column to float64, missing values becoming NaN.

    Parameters
    ----------
    column : pandas.Series or numpy.ndarray
        The values of one column.
    name : str
        The column's name, used in error messages.
    hint : str
        Appended to the error message when the column holds strings.

    Returns
    -------
    numpy.ndarray
        A float64 array. Values beyond the float64 range become ``inf`` (the
        caller rejects them and names the column).

    Raises
    ------
    DataError
        If the column holds strings or objects that are not real numbers.
    """
    dtype = column.dtype
    if is_numeric_dtype(dtype):
        with np.errstate(over="ignore", invalid="ignore"):
            if isinstance(column, pd.Series):
                return column.to_numpy(dtype=np.float64, na_value=np.nan)
            return np.asarray(column, dtype=np.float64)
    if pd.api.types.is_complex_dtype(dtype):
        raise DataError(f"Column {name!r} holds complex numbers (dtype {dtype}); only real numbers are supported.")

    values = to_object_array(column)
    missing = np.asarray(pd.isna(values), dtype=bool)
    work = values.copy()
    work[missing] = np.nan
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            if any(isinstance(v, (str, bytes)) for v in work[~missing]):
                raise TypeError("strings")
            return work.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        pass
    # Find the first offending value to name it. Text that reads as a number is
    # not the culprit: one bad cell makes a CSV reader load the whole column as text.
    first_text: tuple[int, Any] | None = None
    for row, value in enumerate(values):
        if missing[row]:
            continue
        if isinstance(value, (str, bytes)):
            first_text = first_text or (row, value)
            try:
                float(value)
                continue
            except ValueError:
                pass
            raise DataError(
                f"Column {name!r} must be numeric but contains strings "
                f"(e.g. {value!r} at row {row}){hint}"
            )
        if isinstance(value, numbers.Real):
            try:
                float(value)
            except OverflowError:
                raise DataError(
                    f"Column {name!r} contains a value too large for float64 (row {row}); "
                    "replace or drop it."
                ) from None
            continue
        raise DataError(
            f"Column {name!r} must be numeric but contains a value of type "
            f"{type(value).__name__} (e.g. {value!r} at row {row}){hint}"
        )
    if first_text is not None:
        raise DataError(
            f"Column {name!r} must be numeric but contains strings "
            f"(e.g. {first_text[1]!r} at row {first_text[0]}){hint}"
        )
    raise DataError(f"Column {name!r} (dtype {dtype}) cannot be converted to numbers{hint}")


def category_label(value: Any) -> str:
    """Return the string a categorical value is encoded as.

    Every non-missing categorical value is turned into a string so that mixed
    columns (``1`` and ``"1"``, ``1`` and ``1.0``) are encoded consistently and
    the categories can be saved as JSON.

    Parameters
    ----------
    value : object
        A non-missing value.

    Returns
    -------
    str
        ``True``/``False`` for booleans, the integer for integral numbers
        (``1.0`` gives ``"1"``), ``repr(float)`` for other reals and
        ``str(value)`` otherwise.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        f = float(value)
        if f.is_integer() and abs(f) < 2.0**53:
            return str(int(f))
        return repr(f)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return str(value)


def to_category_column(column: pd.Series | np.ndarray) -> np.ndarray:
    """Convert one column to an object array of strings, missing values as NaN.

    Parameters
    ----------
    column : pandas.Series or numpy.ndarray
        The values of one categorical column.

    Returns
    -------
    numpy.ndarray
        Object array; each entry is a ``str`` or ``np.nan`` (missing).
    """
    values = to_object_array(column)
    missing = np.asarray(pd.isna(values), dtype=bool)
    out = np.empty(len(values), dtype=object)
    out[missing] = np.nan
    present = values[~missing]
    labels = np.empty(len(present), dtype=object)
    labels[:] = [v if type(v) is str else category_label(v) for v in present]
    out[~missing] = labels
    return out


def is_missing_category(value: Any) -> bool:
    """Tell whether a category (as stored by ``OneHotEncoder``) is the missing level."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def check_finite_attributes(estimator: Any, names: Sequence[str], columns: Sequence[str]) -> None:
    """Raise DataError if a fitted float statistic overflowed.

    Parameters
    ----------
    estimator : object
        A fitted scikit-learn transformer.
    names : sequence of str
        Attribute names to check.
    columns : sequence of str
        The input column of each feature of ``estimator``.
    """
    for attr in names:
        if attr in COUNT_ATTRIBUTES:
            continue
        value = getattr(estimator, attr, None)
        if value is None:
            continue
        arr = np.asarray(value, dtype=np.float64)
        if np.all(np.isfinite(arr)):
            continue
        bad_mask = ~np.isfinite(arr)
        if arr.ndim == 2:
            bad_mask = bad_mask.any(axis=0)
        if arr.ndim == 0 or bad_mask.shape[0] != len(columns):
            bad: list[str] = list(columns)
        else:
            bad = [columns[i] for i in np.flatnonzero(bad_mask)]
        raise DataError(
            f"Columns {list_names(bad)} hold values too large to compute their statistics "
            f"({attr} overflowed float64); rescale or drop them."
        )


# --------------------------------------------------------------------------- estimator
