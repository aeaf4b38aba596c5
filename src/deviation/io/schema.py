"""Column typing: one set of rules that turns the cells of any file into typed features.

Every reader hands raw columns to this module as Arrow arrays: CSV and TSV
cells as the exact text of the file, Parquet and ARFF columns in their own
types. The rules below decide each column's kind once, over the whole file
at fit (or the model's sample), and the same rules then read every file the
model scores, whichever command or path (in memory, streamed, Dask) reads it.

Kinds
-----
numeric
    Every non-missing cell is a number (text cells are parsed after the
    surrounding blanks are stripped). Read as float64, missing cells as NaN.
boolean
    Every non-missing cell is ``true`` or ``false`` in any letter case (or an
    Arrow boolean). Read as float64 1.0 / 0.0, missing cells as NaN.
text
    Anything else: the cells' text as it is in the file, missing cells as
    None. The preprocessing one-hot encodes text columns.

Missing cells are empty cells and the markers in :data:`MISSING_MARKERS`
(compared after stripping blanks), in every column kind and every format.

The kinds and the reader's settings (format, label, ids, width and index base
of array formats) are saved in the model file as an :class:`InputSchema`, so
that a file to score is read exactly as the training file was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..exceptions import DataError

#: Cell texts read as missing in every column (after stripping blanks): pandas'
#: default list plus ``?`` (the UCI and ARFF convention) and a lone ``-``.
MISSING_MARKERS: tuple[str, ...] = (
    "", "?", "-", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None",
    "#N/A", "#N/A N/A", "#NA", "<NA>", "-1.#IND", "-1.#QNAN", "1.#IND", "1.#QNAN",
)
KINDS: tuple[str, ...] = ("numeric", "boolean", "text", "datetime")

_MISSING = pa.array(MISSING_MARKERS, type=pa.string())
_BOOLEAN_TEXT = pa.array(["true", "false"], type=pa.string())
# a true/false column may also write 1/0 in some cells
_BOOLEAN_OR_DIGIT = pa.array(["true", "false", "1", "0", "1.0", "0.0"], type=pa.string())
_SCHEMA_VERSION = 1


def _as_text(array: pa.Array) -> pa.Array:
    """A string view of an Arrow column (dictionary-encoded text decoded)."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    return array


def _is_text_type(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _missing_mask(text: pa.Array) -> pa.Array:
    """True where a text cell is null or a missing marker."""
    stripped = pc.utf8_trim_whitespace(text)
    return pc.or_kleene(pc.is_null(text), pc.is_in(stripped, value_set=_MISSING)).fill_null(True)


def _native_kind(kind: pa.DataType, name: str, where: str) -> str | None:
    """The kind of a column stored with a type of its own (Parquet, ARFF), or None for text."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind):
        return "numeric"
    if _is_text_type(kind):
        return None
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return "datetime"
    raise DataError(
        f"{where} column {name!r} has type {kind}, which deviation cannot use as a feature; "
        "convert it to numbers or text before reading, or leave the column out of the file"
    )


def _parse_numbers(text: pa.Array, decimal: str = ".") -> pa.Array | None:
    """float64 of text cells that are all numbers or missing, else None.

    With ``decimal=","`` (files separated by ``;``, as European spreadsheets
    write them) ``1.234,5`` reads 1234.5 and ``0,25`` reads 0.25.
    """
    missing = _missing_mask(text)
    stripped = pc.if_else(missing, pa.scalar(None, pa.string()), pc.utf8_trim_whitespace(text))
    if decimal == ",":
        grouped = pc.match_substring_regex(stripped, r"^[-+]?\d{1,3}(\.\d{3})+(,\d*)?$").fill_null(False)
        stripped = pc.if_else(grouped, pc.replace_substring(stripped, ".", ""), stripped)
        stripped = pc.replace_substring(stripped, ",", ".")
    try:
        return pc.cast(stripped, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _text_kind(text: pa.Array, decimal: str = ".") -> str:
    """The kind of one text column (or one batch of it)."""
    if _parse_numbers(text, decimal) is not None:
        return "numeric"
    present = pc.filter(text, pc.invert(_missing_mask(text)))
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(present))
    if (len(present) and pc.any(pc.is_in(lowered, value_set=_BOOLEAN_TEXT)).as_py()
            and pc.all(pc.is_in(lowered, value_set=_BOOLEAN_OR_DIGIT)).as_py()):
        return "boolean"
    return "text"


# the kind a column takes when two batches disagree: a number column with one
# text cell is text; a boolean column with a number cell is text as well
def _merge(a: str, b: str) -> str:
    return a if a == b else "text"


class KindTracker:
    """Decide each column's kind over a file read in batches.

    Call :meth:`update` with every raw batch, then read :attr:`kinds`. A
    column whose batches disagree (numbers in one, text in another) is text,
    as it would be if the file were read whole.
    """

    def __init__(self, where: str, text_cells: bool = True, decimal: str = ".") -> None:
        self.where = where
        self.text_cells = text_cells
        self.decimal = decimal
        self.kinds: dict[str, str] = {}
        self._all_missing: dict[str, bool] = {}

    def update(self, raw: pa.Table, columns: Iterable[str]) -> None:
        """Fold one raw batch (the named feature columns) into the kinds."""
        for name in columns:
            array = raw.column(name).combine_chunks()
            kind = _native_kind(array.type, name, self.where)
            if kind is None and not self.text_cells:
                kind = "text"  # a typed format's string column is text, as its writer declared
            if kind is None:
                text = _as_text(array)
                all_missing = bool(pc.all(_missing_mask(text)).as_py()) if len(text) else True
                kind = _text_kind(text, self.decimal)
                if all_missing:
                    # a batch of empty cells says nothing about the column's kind
                    self._all_missing.setdefault(name, True)
                    self.kinds.setdefault(name, "numeric")
                    continue
                if self._all_missing.get(name, False):
                    self.kinds[name] = kind
                    self._all_missing[name] = False
                    continue
            self._all_missing[name] = False
            self.kinds[name] = _merge(self.kinds[name], kind) if name in self.kinds else kind


def typed_frame(
    raw: pa.Table, kinds: dict[str, str], where: str, row_offset: int = 0, text_cells: bool = True,
    decimal: str = ".",
) -> pd.DataFrame:
    """Turn the raw feature columns of a batch into a typed DataFrame.

    Parameters
    ----------
    raw : pyarrow.Table
        One batch as read, holding at least the columns of ``kinds``.
    kinds : dict of str to str
        Column name to kind (``numeric``, ``boolean`` or ``text``), in the
        order of the output columns.
    where : str
        The file, for messages.
    row_offset : int
        Data rows before this batch, so that messages give the row in the file.
    text_cells : bool, default=True
        True when string columns hold a text format's cells (CSV, TSV, a
        Dask partition read as text): the missing markers apply. False for
        typed formats (Parquet, ARFF), whose strings are values as written
        and whose nulls are the missing cells.
    decimal : {".", ","}, default="."
        The decimal mark of numbers written as text (``","`` for files whose
        separator is ``;``, as European spreadsheets write them).

    Returns
    -------
    pandas.DataFrame
        float64 columns for numeric and boolean kinds (NaN = missing), object
        columns of ``str`` (None = missing) for text.

    Raises
    ------
    DataError
        When a cell does not fit its column's kind (e.g. a word in a column
        the model read as numbers), naming the file, column, value and row.
    """
    out: dict[str, Any] = {}
    for name, kind in kinds.items():
        array = raw.column(name).combine_chunks()
        native = _native_kind(array.type, name, where)
        if native == "datetime" or kind == "datetime":
            # a typed date/timestamp column (Parquet): naive UTC datetimes; the preprocessing makes its parts
            dates = array.to_pandas() if native == "datetime" else pd.Series(text_values(array), dtype="object")
            out[name] = pd.to_datetime(dates, errors="coerce", utc=True).dt.tz_localize(None).to_numpy()
            continue
        if native is not None and kind != "text":
            if pa.types.is_boolean(array.type) or pa.types.is_dictionary(array.type):
                array = array.cast(pa.float64()) if pa.types.is_boolean(array.type) else array.dictionary_decode()
            # safe=False: integers beyond 2^53 (ids nobody declared) become the nearest float, not an error
            out[name] = _float_numpy(array.cast(pa.float64(), safe=False))
            continue
        if kind == "text" and pa.types.is_dictionary(array.type) and not text_cells:
            out[name] = array.to_pandas()  # declared levels (ARFF nominal) kept as categories, in order
            continue
        text = _as_text(array) if native is None else pc.cast(array, pa.string())
        if kind == "text":
            missing = _missing_mask(text) if text_cells else pc.is_null(text)
            keep = pc.if_else(missing, pa.scalar(None, pa.string()), text)
            out[name] = np.asarray(keep.to_numpy(zero_copy_only=False), dtype=object)
        else:
            numbers = _parse_numbers(text, decimal)
            if numbers is None:
                numbers = _parse_numbers(_booleans_as_digits(text), decimal)
            if numbers is None:
                raise _misfit(text, name, kind, where, row_offset)
            out[name] = _float_numpy(numbers)
    return pd.DataFrame(out, index=pd.RangeIndex(raw.num_rows), copy=False)


def _booleans_as_digits(text: pa.Array) -> pa.Array:
    """``true``/``false`` cells (any case) as ``1``/``0``: numeric and boolean columns read both."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    return pc.if_else(pc.equal(lowered, "true"), "1", pc.if_else(pc.equal(lowered, "false"), "0", text))


def _float_numpy(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _misfit(text: pa.Array, name: str, kind: str, where: str, row_offset: int) -> DataError:
    """The error for the first cell of ``text`` that does not fit ``kind``."""
    missing = _missing_mask(text).to_numpy(zero_copy_only=False)
    values = text.to_pylist()
    for i, value in enumerate(values):
        if missing[i]:
            continue
        cell = value.strip()
        if cell.lower() in ("true", "false"):
            continue
        try:
            float(cell)
            continue
        except ValueError:
            pass
        word = "numbers" if kind == "numeric" else "true/false values"
        return DataError(
            f"{where} column {name!r} holds {value!r} (data row {row_offset + i + 1}), but the model read {name!r} "
            f"as {word} at fit; fix or blank the cell (missing values may be written as empty, ?, NA or null), "
            "or refit the model on data where the column is text"
        )
    return DataError(f"{where} column {name!r} does not hold {kind} values; refit the model on this kind of data")


def text_values(array: pa.Array) -> np.ndarray:
    """The cells of a column as Python strings (None = null)."""
    return np.asarray(pc.cast(_as_text(array), pa.string()).to_numpy(zero_copy_only=False), dtype=object)


def ids_text(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The cells of an id column as text, verbatim (leading zeros and 64-bit integers kept)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.cast(array, pa.string())
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)


@dataclass
class InputSchema:
    """What a model was trained on, as the reader saw it; saved in the model file.

    Attributes
    ----------
    format : str
        The reader's format (``csv``, ``tsv``, ``parquet``, ``arff``, ``npz``,
        ``mat``, ``libsvm``) of the training file.
    columns : dict of str to str
        Feature column name to kind (``numeric``, ``boolean``, ``text``), in
        training order; empty for array formats.
    label : str or None
        The label column (``'y'`` for array formats), removed from features.
    anomaly_value : str or None
        The label value that marked an anomaly at fit (None: 1/true).
    id_columns : list of str
        Columns copied verbatim to outputs, never used as features.
    sep : str or None
        The field separator of a CSV/TSV training file (given or sniffed).
    decimal : str
        The decimal mark of numbers written as text in that file.
    n_features : int or None
        Width of NPZ, MATLAB and libsvm data (the training file's).
    index_base : int or None
        0 or 1: how the training libsvm file numbered its features.
    """

    format: str
    columns: dict[str, str] = field(default_factory=dict)
    label: str | None = None
    anomaly_value: str | None = None
    id_columns: list[str] = field(default_factory=list)
    sep: str | None = None
    decimal: str = "."
    n_features: int | None = None
    index_base: int | None = None

    @property
    def tabular(self) -> bool:
        """True for formats with named columns (CSV, TSV, Parquet, ARFF)."""
        return self.format in ("csv", "tsv", "parquet", "arff")

    def to_dict(self) -> dict[str, Any]:
        """The schema as plain JSON types."""
        return {
            "version": _SCHEMA_VERSION,
            "format": self.format,
            "columns": [{"name": n, "kind": k} for n, k in self.columns.items()],
            "label": self.label,
            "anomaly_value": self.anomaly_value,
            "id_columns": list(self.id_columns),
            "sep": self.sep,
            "decimal": self.decimal,
            "n_features": self.n_features,
            "index_base": self.index_base,
        }

    @classmethod
    def from_dict(cls, state: Any) -> InputSchema:
        """Rebuild a schema from :meth:`to_dict`'s output (checked, never trusted).

        Raises
        ------
        DataError
            If the state is not a schema this version understands.
        """
        try:
            if not isinstance(state, dict) or int(state.get("version", 0)) > _SCHEMA_VERSION:
                raise ValueError("unknown version")
            columns = {str(c["name"]): str(c["kind"]) for c in state.get("columns", [])}
            if any(k not in KINDS for k in columns.values()):
                raise ValueError("unknown column kind")
            n_features = state.get("n_features")
            index_base = state.get("index_base")
            schema = cls(
                format=str(state["format"]),
                columns=columns,
                label=None if state.get("label") is None else str(state["label"]),
                anomaly_value=None if state.get("anomaly_value") is None else str(state["anomaly_value"]),
                id_columns=[str(c) for c in state.get("id_columns", [])],
                sep=None if state.get("sep") is None else str(state["sep"]),
                decimal=str(state.get("decimal", ".")),
                n_features=None if n_features is None else int(n_features),
                index_base=None if index_base is None else int(index_base),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"the model's input schema cannot be read ({exc}); refit the model with this version") from None
        return schema

    @classmethod
    def from_feature_kinds(cls, names: Sequence[str], text_columns: Sequence[str], fmt: str = "csv") -> InputSchema:
        """A schema for a model saved without one: text columns as given, the rest numeric."""
        text = set(text_columns)
        return cls(format=fmt, columns={str(n): ("text" if n in text else "numeric") for n in names})
