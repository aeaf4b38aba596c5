"""The one reader: every command reads every table through :func:`iter_tables`.

A file is read as raw batches (CSV/TSV cells as text, Parquet and ARFF in
their own types), the label and id columns are split off, and the feature
columns are typed by :mod:`deviation.io.schema`: by the whole file at fit
(:func:`read_table`), or by the model's :class:`~deviation.io.schema.InputSchema`
when a model reads a file to score. So a file yields the same columns, types
and values whichever command reads it, in memory or streamed.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from .._memory import check_whole_file
from ..exceptions import DataError, FeatureMismatchError
from .arff import read_arff
from .arrays import read_libsvm, read_mat, read_npz
from .delimited import (
    DEFAULT_BATCH_ROWS,
    Dialect,
    check_sep,
    detect_dialect,
    iter_delimited,
    separator_name,
    sniff_lines,
    sniff_separator,
)
from .labels import column_key, to_binary_labels
from .schema import InputSchema, KindTracker, ids_text, typed_frame
from .sources import FORMAT_TITLES, TABULAR, PathLike, Source, check_unique_names, fail, resolve_source, translate_errors

logger = logging.getLogger(__name__)



@dataclass(frozen=True, eq=False)  # eq=False: comparing DataFrames field by field is ambiguous
class Table:
    """A data set (or one batch of it) read from a file.

    Attributes
    ----------
    X : pandas.DataFrame or numpy.ndarray or scipy.sparse.csr_matrix
        The features only: the label and id columns are removed. CSV, TSV,
        Parquet and ARFF give a DataFrame of float64 columns (numeric and
        true/false columns) and object columns of ``str`` (text; None =
        missing); NPZ and MAT give a float64 array; libsvm gives a float64
        CSR matrix.
    y : numpy.ndarray of int8 or None
        ``1`` for a labeled anomaly, ``0`` otherwise (normal or unlabeled), or
        ``None`` when no label was requested and the file has no intrinsic one.
    feature_names : list of str
        One name per column of ``X``.
    ids : pandas.DataFrame or None
        The id columns, as the text written in the file (leading zeros and
        64-bit integers kept), when ``id_column`` was given, else ``None``.
    schema : InputSchema or None
        How the file was read: its format, the kind of each feature column,
        the label and id columns, the width and index base of array formats.
    """

    X: pd.DataFrame | np.ndarray | sp.csr_matrix
    y: np.ndarray | None
    feature_names: list[str]
    ids: pd.DataFrame | None = None
    schema: InputSchema | None = None

    @property
    def n_anomalies(self) -> int:
        """Number of rows labeled as anomalies (0 when there are no labels)."""
        return 0 if self.y is None else int(np.count_nonzero(self.y))


def _as_list(id_column: str | Sequence[str] | None) -> list[Any]:
    if id_column is None:
        return []
    if isinstance(id_column, (str, int, np.integer)):
        return [id_column]
    return list(id_column)


# ------------------------------------------------------------- raw batches
#: A Parquet row group taking up to this many bytes uncompressed is read whole and cut into batches
#: (pyarrow's record-batch reader is 2-5 times slower in CPU for the same rows); a larger one is read
#: in record batches, so that memory stays flat whatever the file's layout.
PARQUET_READ_BYTES = 128 << 20
#: Batches of fewer rows (a look at the first rows) are read in record batches.
_WHOLE_GROUP_MIN_BATCH = 4096


def _parquet_batches(src: Source, batch_rows: int) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq

    source: Any = str(src.path) if src.is_plain else io.BytesIO(src.read_bytes())
    # pre_buffer=False: otherwise pyarrow keeps every row group read so far in memory
    pf = pq.ParquetFile(source, pre_buffer=False)
    check_unique_names(src, [str(n) for n in pf.schema_arrow.names])
    # a pandas index stored in the file is not a column of the data
    drop = [n for n in pf.schema_arrow.names if str(n).startswith("__index_level_")]
    for table in _batches_of(_parquet_parts(pf, batch_rows), batch_rows):
        yield table.drop_columns(drop) if drop else table


def _parquet_parts(pf: Any, batch_rows: int) -> Iterator[pa.Table]:
    """The file's rows in order: whole row groups where they are small enough, else record batches."""
    for group in range(pf.metadata.num_row_groups):
        if batch_rows >= _WHOLE_GROUP_MIN_BATCH and pf.metadata.row_group(group).total_byte_size <= PARQUET_READ_BYTES:
            yield pf.read_row_group(group)
        else:
            for batch in pf.iter_batches(batch_size=batch_rows, row_groups=[group]):
                yield pa.Table.from_batches([batch])


def _batches_of(parts: Iterator[pa.Table], batch_rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``batch_rows`` rows (the last one fewer) from consecutive tables of any sizes."""
    pending: list[pa.Table] = []
    have = 0
    for part in parts:
        start = 0
        while start < part.num_rows:
            take = min(batch_rows - have, part.num_rows - start)
            pending.append(part.slice(start, take))
            have, start = have + take, start + take
            if have == batch_rows:
                yield pending[0] if len(pending) == 1 else pa.concat_tables(pending)
                pending, have = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else pa.concat_tables(pending)


def _arff_batches(src: Source, batch_rows: int) -> Iterator[pa.Table]:
    frame = read_arff(src)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for start in range(0, table.num_rows, batch_rows):
        yield table.slice(start, batch_rows)


def dialect_for(src: Source, sep: str | None = None, schema: InputSchema | None = None) -> Dialect | None:
    """The separator and decimal mark to read a CSV/TSV file with (None for other formats).

    Parameters
    ----------
    src : Source
    sep : str or None
        The separator given by the caller; it wins. None: the model's
        (``schema.sep``, with its decimal mark) when ``schema`` comes from a
        training file of the same format, else tab for ``.tsv`` and sniffed
        for ``.csv`` (:func:`deviation.io.delimited.detect_dialect`).
    schema : InputSchema or None
        The model's schema, when a model reads the file.

    Returns
    -------
    Dialect or None
    """
    if src.fmt not in ("csv", "tsv"):
        return None
    sep = check_sep(sep)
    model_sep = schema.sep if schema is not None and schema.format == src.fmt else None
    if model_sep is not None and sep == model_sep:
        return Dialect(model_sep, schema.decimal if schema is not None else ".", False)
    if model_sep is not None and sep is None:
        # the model's separator, unless this file's lines clearly use another one (then say so)
        lines = sniff_lines(src)
        other = sniff_separator(lines, model_sep) if src.fmt == "csv" else model_sep
        if other == model_sep:
            return Dialect(model_sep, schema.decimal if schema is not None else ".", False)
        logger.warning(
            "%s is separated by %s, the model's training file by %s: reading it with %s (pass --sep to choose)",
            src.where, separator_name(other), separator_name(model_sep), separator_name(other),
        )
        return detect_dialect(src, other)
    return detect_dialect(src, sep)


def raw_batches(src: Source, batch_rows: int = DEFAULT_BATCH_ROWS, sep: str | None = None) -> Iterator[pa.Table]:
    """The batches of a tabular file before typing (see the module docstring).

    Parameters
    ----------
    src : Source
        A CSV, TSV, Parquet or ARFF file (from :func:`resolve_source`).
    batch_rows : int
        At most this many rows per batch.
    sep : str or None, default=None
        The field separator of a CSV/TSV file; None: tab for ``.tsv``,
        sniffed for ``.csv``. Ignored for other formats.

    Yields
    ------
    pyarrow.Table
    """
    if src.fmt in ("csv", "tsv"):
        yield from iter_delimited(src, sep, batch_rows)
    elif src.fmt == "parquet":
        yield from _parquet_batches(src, batch_rows)
    else:
        yield from _arff_batches(src, batch_rows)


def column_names(path: PathLike, sep: str | None = None) -> list[str] | None:
    """The column names of a CSV, TSV, Parquet or ARFF file (from its first rows); None for array formats.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    sep : str or None, default=None
        As for :func:`raw_batches`.

    Returns
    -------
    list of str or None

    Raises
    ------
    DataError
        If the file is missing or unreadable (the same errors as a read).
    """
    src = resolve_source(path, None)
    if src.fmt not in TABULAR:
        return None
    for batch in raw_batches(src, 64, sep):
        return [str(name) for name in batch.column_names]
    return []


# ------------------------------------------------------------- columns
@dataclass(frozen=True)
class Layout:
    """Which raw columns are the label, the ids and the features."""

    label: str | None
    ids: list[str]
    features: list[str]


def layout_of(
    raw: pa.Table, label: Any, id_column: Any, schema: InputSchema | None, where: str,
    drop: Any = None,
) -> Layout:
    """Find the label, id and feature columns of a raw batch (checked once per file).

    Parameters
    ----------
    raw : pyarrow.Table
        The first raw batch of the file.
    label : str or int or None
    id_column : str or list of str or None
        None with a model's ``schema``: the schema's id columns that the file has.
    schema : InputSchema or None
        A model's schema: its columns are the features, and they must be present.
    where : str
        The file, for messages.
    drop : str or list of str or None
        Columns left out of the features. Each must be a column of the file,
        neither the label nor an id, nor (with ``schema``) a column the model
        was trained on.

    Returns
    -------
    Layout

    Raises
    ------
    DataError, FeatureMismatchError
    """
    names = list(raw.column_names)
    label_col = None if label is None else str(column_key(names, label, "label", where))
    if id_column is None and schema is not None and schema.tabular and schema.id_columns:
        # a file scored without id_column= keeps the model's id columns that it has, so the
        # output identifies its rows as the training file's did (an empty list: no ids)
        id_columns = [c for c in schema.id_columns if c in names and c != label_col]
    else:
        id_columns = _as_list(id_column)
    ids: list[str] = []
    for key in id_columns:
        col = str(column_key(names, key, "id", where))
        if col == label_col:
            raise fail(where, f"uses column {col!r} as both label and id", "pass different columns for label= and id_column=")
        if col in ids:
            raise fail(where, f"names id column {col!r} twice in id_column=", "name each id column once")
        ids.append(col)
    dropped: list[str] = []
    for key in _as_list(drop):
        col = str(column_key(names, key, "drop", where))
        if col == label_col:
            raise fail(where, f"column {col!r} is the label and cannot be dropped", f"leave {col!r} out of drop=")
        if col in ids:
            raise fail(where, f"column {col!r} is an id column and cannot be dropped", f"leave {col!r} out of drop=")
        if schema is not None and schema.tabular and col in schema.columns:
            raise fail(
                where,
                f"column {col!r} cannot be dropped: the model was trained on it",
                f"leave {col!r} out of drop= (a model reads every column it was trained on; extra columns are ignored)",
            )
        if col not in dropped:
            dropped.append(col)
    taken = set(ids) | set(dropped) | ({label_col} if label_col is not None else set())
    if schema is not None and schema.tabular and schema.columns:
        wanted = list(schema.columns)
        present = set(names)
        missing = [c for c in wanted if c not in present]
        if missing:
            import difflib

            hints = []
            for name in missing[:5]:
                close = difflib.get_close_matches(name, [n for n in names if n not in set(wanted)], n=1)
                if close:
                    hints.append(f"{close[0]!r} for {name!r}")
            hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
            listed = ", ".join(repr(c) for c in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise FeatureMismatchError(
                f"{where} is missing {len(missing)} column(s) the model was trained on: {listed}{hint}; "
                "score files with the training file's columns (extra columns are ignored)"
            )
        clash = [c for c in wanted if c in taken]
        if clash:
            raise fail(where, f"uses feature column {clash[0]!r} of the model as a label or id", "pick another id column")
        features = wanted
    else:
        features = [n for n in names if n not in taken]
    if not features:
        raise fail(
            where,
            "has no feature columns left after removing the label and id columns",
            "pass a file with at least one feature column",
        )
    return Layout(label_col, ids, features)


def label_values(array: pa.ChunkedArray | pa.Array, text: bool = True) -> np.ndarray:
    """A label column as Python objects, missing markers as None (they mean unlabeled)."""
    from .schema import MISSING_MARKERS

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)
    if text and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        markers = set(MISSING_MARKERS)
        values = np.array([None if v is None or v.strip() in markers else v for v in values], dtype=object)
    return values


def text_cells(fmt: str) -> bool:
    """True for formats whose cells are text (CSV, TSV), to which the missing markers apply."""
    return fmt in ("csv", "tsv")


def split_batch(raw: pa.Table, layout: Layout, kinds: dict[str, str], anomaly_value: Any, where: str,
                offset: int, text: bool = True,
                decimal: str = ".") -> tuple[pd.DataFrame, np.ndarray | None, pd.DataFrame | None]:
    """Typed features, binary labels and verbatim ids of one raw batch (``decimal``: the file's decimal mark)."""
    y = None
    if layout.label is not None:
        y = to_binary_labels(label_values(raw.column(layout.label), text), anomaly_value, where, layout.label)
    ids = None
    if layout.ids:
        ids = pd.DataFrame({c: ids_text(raw.column(c)) for c in layout.ids})
    return typed_frame(raw, kinds, where, offset, text, decimal=decimal), y, ids


def _check_label_args(label: Any, anomaly_value: Any, where: str) -> None:
    if label is None and anomaly_value is not None:
        raise DataError(
            f"anomaly_value={anomaly_value!r} was given without label= for {where}; pass label= naming the label column",
        )


def schema_of(fmt: str, kinds: dict[str, str], layout: Layout | None, anomaly_value: Any,
              n_features: int | None = None, index_base: int | None = None, label: Any = None,
              dialect: Dialect | None = None) -> InputSchema:
    """The :class:`InputSchema` of a file read with these settings (saved in the model at fit)."""
    return InputSchema(
        format=fmt,
        columns=dict(kinds),
        label=layout.label if layout is not None else (None if label is None else str(label)),
        anomaly_value=None if anomaly_value is None else str(anomaly_value),
        id_columns=list(layout.ids) if layout is not None else [],
        sep=None if dialect is None else dialect.sep,
        decimal="." if dialect is None else dialect.decimal,
        n_features=n_features,
        index_base=index_base,
    )


def check_one_column(raw: pa.Table, dialect: Dialect | None, src: Source, wanted: list[Any],
                     given: bool) -> None:
    """Refuse a file read as one column because the separator used is not its own.

    When a CSV read with a given (or the model's) separator comes out as a
    single column, the wanted columns are not all there, and the file's first
    lines are separated by another character, the error names both.
    """
    if dialect is None or dialect.sniffed or raw.num_columns != 1:
        return
    name = str(raw.column_names[0])
    if not [w for w in wanted if w != name]:
        return
    other = sniff_separator(sniff_lines(src), dialect.sep)
    if other == dialect.sep:
        return
    if given:
        why = "the separator given"
    elif src.fmt == "tsv" and dialect.sep == "\t":
        why = "the separator of .tsv files"
    else:
        why = "the separator of the model's training file"
    shown = name if len(name) <= 60 else name[:57] + "..."
    raise fail(
        src.where,
        f"reads as one column {shown!r} when split at {why}, {separator_name(dialect.sep)}, "
        f"but its lines are separated by {separator_name(other)}",
        f"pass sep={other!r}",
    )


def _wanted(label: Any, id_columns: list[Any] | None, schema: InputSchema | None) -> list[Any]:
    wanted = ([] if label is None else [label]) + list(id_columns or [])
    if schema is not None and schema.tabular:
        wanted += list(schema.columns)
    return wanted


# ------------------------------------------------------------- array formats
def _read_arrays(src: Source, label: Any, id_columns: list[Any] | None, anomaly_value: Any,
                 schema: InputSchema | None, drop: list[Any] | None = None) -> Table:
    fmt = src.fmt
    if id_columns:
        raise fail(
            src.where,
            f"is {FORMAT_TITLES[fmt]}, which has no named columns for id_column={id_columns[0]!r}",
            "pass id_column=None or convert the file to CSV/Parquet",
        )
    if drop:
        raise fail(
            src.where,
            f"is {FORMAT_TITLES[fmt]}, which has no named columns for drop={drop[0]!r}",
            "pass drop=None or convert the file to CSV/Parquet",
        )
    if label not in (None, "y"):
        raise fail(
            src.where,
            f"is {FORMAT_TITLES[fmt]}, whose label is intrinsic (the 'y' array / libsvm label), "
            f"so label={label!r} cannot be used",
            "pass label=None or label='y'",
        )
    index_base = None
    if fmt == "libsvm":
        width = schema.n_features if schema is not None else None
        base = schema.index_base if schema is not None else None
        X, raw_y, names, index_base = read_libsvm(src, width, base)
    else:
        X, raw_y, names = (read_npz if fmt == "npz" else read_mat)(src)
        if schema is not None and schema.n_features is not None and X.shape[1] != schema.n_features:
            raise FeatureMismatchError(
                f"{src.where} has {X.shape[1]} feature columns, but the model was trained on {schema.n_features}; "
                "score files with the training file's columns"
            )
    n_features = X.shape[1]
    if names is not None and len(names) != n_features:
        raise fail(
            src.where,
            f"has {len(names)} feature_names for {n_features} feature columns",
            "store one name per column of X or drop feature_names",
        )
    feature_names = names if names is not None else [f"x{i}" for i in range(n_features)]
    y = None
    if raw_y is None:
        if label == "y":
            raise fail(src.where, "has no label array 'y'", "save the labels under the name y or pass label=None")
        if anomaly_value is not None:
            raise fail(
                src.where,
                f"has no label array 'y' to compare with anomaly_value={anomaly_value!r}",
                "pass anomaly_value=None",
            )
    elif label == "y" or anomaly_value is not None:
        y = to_binary_labels(raw_y, anomaly_value, src.where, "y")
    else:
        # labels nobody asked for are returned when they are 0/1, never checked (e.g. +1/-1 when scoring)
        try:
            y = to_binary_labels(raw_y, None, src.where, "y")
        except DataError:
            y = None
    fitted = schema_of(fmt, {}, None, anomaly_value, n_features=n_features, index_base=index_base,
                     label="y" if y is not None else None)
    return Table(X=X, y=y, feature_names=feature_names, ids=None, schema=fitted)


def _start(path: PathLike, format: str | None, label: Any, anomaly_value: Any, id_column: Any,  # noqa: A002
           drop: Any) -> tuple[Source, list[Any] | None, list[Any]]:
    """The source, the id columns (None: not given) and the dropped columns of a read (label arguments checked)."""
    src = resolve_source(path, format)
    if src.fmt in TABULAR:
        _check_label_args(label, anomaly_value, src.where)
    return src, None if id_column is None else _as_list(id_column), _as_list(drop)


def tabular_batches(src: Source, label: Any, id_columns: list[Any] | None, schema: InputSchema | None, sep: str | None,
             dropped: list[Any], batch_rows: int) -> tuple[Dialect | None, Iterator[tuple[pa.Table, Layout]]]:
    """The dialect of a tabular file and its raw batches, each with the layout found on the first one.

    Shared by :func:`iter_tables`, :func:`read_table` and
    :func:`deviation.scale.sample_file`. Call it inside
    ``translate_errors(src)``, and iterate there too, to have low-level
    parse errors in one line.

    Returns
    -------
    dialect : Dialect or None
        The separator and decimal mark (None for Parquet and ARFF).
    batches : iterator of (pyarrow.Table, Layout)
    """
    dialect = dialect_for(src, sep, schema)

    def batches() -> Iterator[tuple[pa.Table, Layout]]:
        layout = None
        for raw in raw_batches(src, batch_rows, None if dialect is None else dialect.sep):
            if layout is None:
                check_one_column(raw, dialect, src, _wanted(label, id_columns, schema), sep is not None)
                layout = layout_of(raw, label, id_columns, schema, src.where, dropped)
            yield raw, layout

    return dialect, batches()


def _schema_kinds(schema: InputSchema | None) -> dict[str, str] | None:
    """The column kinds a model's schema imposes (None: decide them from the file)."""
    return dict(schema.columns) if schema is not None and schema.tabular and schema.columns else None


# ------------------------------------------------------------- public API
def iter_tables(
    path: PathLike,
    label: str | int | None = None,
    *,
    id_column: str | Sequence[str] | None = None,
    anomaly_value: object | None = None,
    format: str | None = None,  # noqa: A002 - public name chosen for the API
    schema: InputSchema | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    sep: str | None = None,
    drop: str | Sequence[str] | None = None,
) -> Iterator[Table]:
    """Read a data file in batches of at most ``batch_rows`` rows.

    Parameters are those of :func:`read_table`, plus:

    schema : InputSchema or None
        How to type the feature columns (a model's ``input_schema_``): its
        columns are the features, in its order, each read as its kind;
        extra columns are ignored; array formats take its width and index
        base, CSV/TSV its separator and decimal mark (unless ``sep`` is
        given). None: the kinds are decided on the first batch.
    batch_rows : int, default=262,144
    sep, drop
        As :func:`read_table`.

    Yields
    ------
    Table
        One per batch; ``X`` has the same columns and dtypes in every batch.

    Raises
    ------
    DataError, FeatureMismatchError
        As :func:`read_table`; also when a cell of a later batch does not fit
        its column's kind.
    """
    src, id_columns, dropped = _start(path, format, label, anomaly_value, id_column, drop)
    if src.fmt not in TABULAR:
        with translate_errors(src):
            table = _read_arrays(src, label, id_columns, anomaly_value, schema, dropped)
        for start in range(0, table.X.shape[0], batch_rows):
            stop = start + batch_rows
            yield Table(X=table.X[start:stop], y=None if table.y is None else table.y[start:stop],
                        feature_names=table.feature_names, ids=None, schema=table.schema)
        return
    kinds = _schema_kinds(schema)
    offset = 0
    with translate_errors(src):
        dialect, batches = tabular_batches(src, label, id_columns, schema, sep, dropped, batch_rows)
        decimal = "." if dialect is None else dialect.decimal
        for raw, layout in batches:
            if kinds is None:
                tracker = KindTracker(src.where, text_cells(src.fmt), decimal=decimal)
                tracker.update(raw, layout.features)
                kinds = {c: tracker.kinds[c] for c in layout.features}
            if raw.num_rows == 0:
                continue
            X, y, ids = split_batch(raw, layout, kinds, anomaly_value, src.where, offset, text_cells(src.fmt),
                                    decimal)
            offset += raw.num_rows
            yield Table(X=X, y=y, feature_names=list(kinds), ids=ids,
                        schema=schema_of(src.fmt, kinds, layout, anomaly_value, dialect=dialect))
    if offset == 0:
        raise fail(src.where, "has a header but no data rows", "add data rows below the header")


def read_table(
    path: PathLike,
    label: str | int | None = None,
    *,
    id_column: str | Sequence[str] | None = None,
    anomaly_value: object | None = None,
    format: str | None = None,  # noqa: A002 - public name chosen for the API
    schema: InputSchema | None = None,
    sep: str | None = None,
    drop: str | Sequence[str] | None = None,
) -> Table:
    """Read a data file into features, binary labels, feature names and ids.

    Parameters
    ----------
    path : str or os.PathLike
        The data file. The format is picked from the extension (see
        :mod:`deviation.io`); ``.gz``/``.bz2``/``.xz`` are decompressed on the
        fly and an archive (``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``,
        ``.tar.xz``) must hold exactly one data file, whose own extension
        picks the parser.
    label : str or int or None, default=None
        The label column of a CSV, TSV, Parquet or ARFF file, by name or by
        integer position (negative counts from the end; an ``int`` is always a
        position). It is removed from ``X``. Without ``anomaly_value`` it
        must hold 0/1 (or true/false); empty cells and missing markers mean 0
        (unlabeled). ``None`` keeps every column as a feature and returns
        ``y=None``. For NPZ, MAT and libsvm files the label is intrinsic
        (array ``y``, or the first field of each libsvm line): pass ``'y'``
        to use (and check) it; with ``None`` it is returned when it is 0/1
        and never checked.
    id_column : str or list of str or None, default=None
        Columns (CSV/TSV/Parquet/ARFF only) returned verbatim as text in
        ``Table.ids`` and removed from ``X``.
    anomaly_value : object or None, default=None
        The label value that marks an anomaly; every other value (and missing
        values) gives 0. Values are compared as stripped text, with numbers
        normalized, so ``1``, ``1.0``, ``'1'`` and ``' 1 '`` all match, and
        ``True``, ``'True'``, ``'true'``, ``'TRUE'`` (and ``1``) match a
        true/boolean label, ``'False'`` a false one; other text is case
        sensitive (``'50000+.'``, ``'yes'``).
    format : {'csv', 'tsv', 'parquet', 'arff', 'npz', 'mat', 'libsvm'} or None
        Overrides the format inferred from the extension (of the archive member
        for archives). Compression and archive suffixes are still honoured.
    schema : InputSchema or None
        Read the file as a model's training file was read (see
        :func:`iter_tables`). None: each column's kind is decided over the
        whole file (:mod:`deviation.io.schema` gives the rules).
    sep : str or None, default=None
        The field separator of a CSV/TSV file (one character; ``'\\t'`` or
        ``'tab'`` for a tab). None: the model's (with ``schema``), tab for a
        ``.tsv`` file, else detected from the first lines among ``,`` ``;``
        tab ``|`` (:func:`deviation.io.delimited.sniff_separator`). With
        ``;`` the decimal mark is ``,`` unless the cells are written with
        points (:func:`deviation.io.delimited.sniff_decimal`). Both are
        saved in ``Table.schema``. Ignored for other formats.
    drop : str or list of str or None, default=None
        Columns left out of the features (CSV/TSV/Parquet/ARFF). With
        ``schema``, only columns the model does not use may be dropped.

    Returns
    -------
    Table
        With ``Table.schema`` describing how the file was read.

    Raises
    ------
    deviation.exceptions.DataError
        For a missing, empty, truncated, corrupt, non-UTF-8 or malformed file,
        an archive without exactly one data file, duplicate column names, an
        unknown extension, a missing label/id/drop column, a dropped column the
        model uses, or non-binary labels.
    deviation.exceptions.FeatureMismatchError
        With ``schema``, when a column the model was trained on is missing.

    Notes
    -----
    * CSV/TSV are read as UTF-8 by pyarrow, every cell as text; the typing
      rules of :mod:`deviation.io.schema` then make numbers, true/false and
      text columns, with the same missing markers in every column.
    * ARFF numeric attributes become float64 (``?`` = missing); nominal and
      string attributes become text columns.
    * NPZ/MAT feature names come from a ``feature_names`` array when present,
      otherwise ``x0 .. x{n-1}``; libsvm always uses ``x0 .. x{n-1}``.
    * libsvm indices are 0-based if index 0 occurs in the training file, else
      1-based, and the width is the largest index; files read with a model's
      schema take the model's base and width (absent trailing features are
      zeros).
    """
    src, id_columns, dropped = _start(path, format, label, anomaly_value, id_column, drop)
    check_whole_file(src)  # a file that clearly cannot fit: one line (MemoryLimitError) before reading
    if src.fmt not in TABULAR:
        with translate_errors(src):
            table = _read_arrays(src, label, id_columns, anomaly_value, schema, dropped)
    else:
        raws: list[pa.Table] = []
        layout = None
        imposed = _schema_kinds(schema)
        with translate_errors(src):
            dialect, batches = tabular_batches(src, label, id_columns, schema, sep, dropped, DEFAULT_BATCH_ROWS)
            decimal = "." if dialect is None else dialect.decimal
            tracker = KindTracker(src.where, text_cells(src.fmt), decimal=decimal)
            for raw, layout in batches:
                if imposed is None:
                    tracker.update(raw, layout.features)  # kinds decided over the whole file
                raws.append(raw)
            if layout is None or sum(r.num_rows for r in raws) == 0:
                raise fail(src.where, "has a header but no data rows", "add data rows below the header")
            kinds = imposed if imposed is not None else {c: tracker.kinds[c] for c in layout.features}
            whole = pa.concat_tables(raws) if len(raws) > 1 else raws[0]
            del raws
            X, y, ids = split_batch(whole, layout, kinds, anomaly_value, src.where, 0, text_cells(src.fmt), decimal)
        table = Table(X=X, y=y, feature_names=list(kinds), ids=ids,
                      schema=schema_of(src.fmt, kinds, layout, anomaly_value, dialect=dialect))
    n_anomalies = "no labels" if table.y is None else f"{int(np.count_nonzero(table.y))} labeled anomalies"
    logger.info("read %s: %d rows x %d features, %s", src.where, table.X.shape[0], table.X.shape[1], n_anomalies)
    return table
