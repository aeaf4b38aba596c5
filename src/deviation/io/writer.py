"""Writing tables: whole (:func:`write_table`) or batch by batch (:class:`BatchWriter`), always atomically."""

from __future__ import annotations

import gzip
import io
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._atomic import atomic_target, commit, discard, new_temp_path
from ..exceptions import DataError
from .sources import PathLike, duplicates, fail, short_message

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


_WRITE_FORMATS: tuple[tuple[str, str, str | None], ...] = (
    (".csv.gz", ",", "gzip"),
    (".tsv.gz", "\t", "gzip"),
    (".csv", ",", None),
    (".tsv", "\t", None),
    (".parquet", "parquet", None),
    (".pq", "parquet", None),
)


def write_table(df: pd.DataFrame, path: PathLike) -> Path:
    """Write a DataFrame to CSV, TSV (optionally ``.gz``) or Parquet atomically.

    The data go to a hidden temporary file in the target directory, which is
    flushed to disk and then renamed over ``path`` with :func:`os.replace`, so
    readers never see a half-written file.  On any error the temporary file is
    removed and an existing ``path`` is left untouched.

    Parameters
    ----------
    df : pandas.DataFrame
        The table to write; the index is not written.
    path : str or os.PathLike
        Target file: ``.csv``, ``.csv.gz``, ``.tsv``, ``.tsv.gz``, ``.parquet``
        or ``.pq``.  Its directory must exist.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    deviation.exceptions.DataError
        For a non-DataFrame, duplicate column names, an unknown extension, a
        missing directory or any failure while writing.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(
            f"write_table needs a file path (str or os.PathLike), got {type(path).__name__}; pass a path",
        )
    p = Path(path).expanduser()
    where = f"'{p}'"
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise DataError(
            f"write_table needs a pandas DataFrame for {where}, got {type(df).__name__}; wrap it with pd.DataFrame(...)",
        )
    lower = p.name.lower()
    spec = next((s for s in _WRITE_FORMATS if lower.endswith(s[0])), None)
    if spec is None:
        raise fail(
            where,
            "has an extension write_table cannot write",
            "use .csv, .csv.gz, .tsv, .tsv.gz, .parquet or .pq",
        )
    dups = duplicates([str(c) for c in df.columns])
    if dups:
        raise fail(
            where,
            f"cannot be written: duplicate column names {dups[:5]}",
            "rename the columns so that every name is unique",
        )
    parent = p.parent
    if not parent.is_dir():
        raise fail(
            where,
            f"cannot be written: the directory '{parent}' does not exist",
            f"create it first (mkdir -p '{parent}')",
        )
    if p.is_dir():
        raise fail(where, "is a directory", "pass a file path")
    _, sep, compression = spec
    try:
        with atomic_target(p) as tmp:
            if sep == "parquet":
                df.to_parquet(tmp, index=False)
            elif compression:
                # GzipFile by hand so that the header records the final name (not the
                # temporary one) and mtime 0: the same table gives the same bytes.
                with open(tmp, "wb") as raw, gzip.GzipFile(filename=p.name, mode="wb", fileobj=raw, mtime=0) as gz:
                    with io.TextIOWrapper(gz, encoding="utf-8", newline="") as text:
                        df.to_csv(text, sep=sep, index=False, lineterminator="\n")
            else:
                df.to_csv(tmp, sep=sep, index=False, encoding="utf-8", lineterminator="\n")
    except Exception as exc:
        if isinstance(exc, DataError):
            raise
        raise fail(
            where,
            f"could not be written ({type(exc).__name__}: {short_message(exc)})",
            "check the disk space, permissions and column types",
        ) from exc
    logger.info("wrote %s: %d rows x %d columns", where, df.shape[0], df.shape[1])
    return p


class BatchWriter:
    """Write DataFrames batch by batch to CSV or Parquet via a temporary file renamed at the end.

    Call :meth:`write` for each batch, then :meth:`commit` (the file appears
    whole under its name) or :meth:`abort` (nothing is left behind).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        name = path.name.lower()
        if name.endswith((".parquet", ".pq")):
            self.kind = "parquet"
        elif name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
            self.kind = "csv"
        else:
            raise DataError(f"cannot write '{path}': use a .csv, .csv.gz, .tsv, .tsv.gz or .parquet name.")
        if not path.parent.is_dir():
            raise DataError(f"cannot write '{path}': directory '{path.parent}' does not exist.")
        self.tmp = new_temp_path(path)
        self.delimiter = "\t" if ".tsv" in name else ","
        self.gzip = name.endswith(".gz")
        self._stream: Any = None
        self._writer: Any = None
        self._written = False

    def write(self, frame: pd.DataFrame | Any) -> None:
        """Append one batch: a DataFrame (its index is not written) or a ``pyarrow.Table``.

        Either gives the same file for the same columns: the schema is the Arrow
        one of the columns, without pandas' metadata (so a frame and a table of
        the same values write the same bytes).
        """
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata(None)
        if self._writer is None:
            if self.kind == "parquet":
                # scores are distinct floats: dictionary encoding would only cost time
                self._writer = pq.ParquetWriter(str(self.tmp), table.schema, use_dictionary=False)
            else:
                self._stream = pa.output_stream(str(self.tmp), compression="gzip" if self.gzip else None)
                self._writer = pacsv.CSVWriter(
                    self._stream, table.schema, write_options=pacsv.WriteOptions(delimiter=self.delimiter, quoting_style="needed")
                )
        self._writer.write_table(table)
        self._written = True

    def commit(self) -> None:
        self._close()
        if not self._written:
            raise DataError(f"nothing was written to '{self.path}': the input had no rows.")
        commit(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self._close()
        finally:
            discard(self.tmp)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None
