"""The all-numeric path of ``deviation score``: Parquet rows to scores without scikit-learn or pandas.

Most models score tables of numbers: every column the model reads is numeric,
its preprocessing is imputation and min-max scaling (or none), and the model
file holds calibration scores. For those, :func:`score_numeric_file` reads the
Parquet file's columns with pyarrow, applies the same arithmetic as the
:class:`~deviation.preprocess.Preprocessor` (``x * scale_ + min_`` in float64,
then float32), scores with :func:`deviation.mlp.score_dense` (the step
``DevNet.decision_function`` uses) and takes p-values and decisions with
:mod:`deviation.calibration`: the same bytes as :func:`deviation.scale.score_file`,
which a test pins. What it saves is the start-up: importing scikit-learn
(which imports ``scipy.stats``) and pandas takes about two seconds, as long as
scoring a few million rows; and the per-batch DataFrames.

Anything outside that case goes to the general path, whose checks and
messages then apply: a model with categorical, date or text columns, no
calibration scores, ids, ``--fdr``/``--top``, another format, a column of
another type in the file, and any batch holding an infinite value, a value the
float32 network cannot take, or a missing value the model cannot impute
(:class:`NeedsGeneralPath`; nothing is written by the attempt).

The model's arrays are read by :func:`deviation.persistence.numeric.read_numeric_model`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._limits import MAX_ABS_VALUE
from ..calibration import conformal_p_values, conformal_threshold
from ..kernels import for_rows, preload
from ..mlp import score_dense
from ..scored import scored_columns
from ._pipeline import PRELOAD_ROWS, SCORE_BATCH_ROWS, ScoreSummary, prefetch

logger = logging.getLogger(__name__)

__all__ = ["NeedsGeneralPath", "NumericModel", "score_numeric_file"]

#: Row groups whose columns to read take up to this many bytes uncompressed are read whole
#: (pyarrow's fastest read); larger ones in parts of about this size, so that memory stays flat
#: whatever the file's layout.
READ_BYTES = 128 << 20
#: The fewest rows of such a part.
MIN_READ_ROWS = 65_536
#: Batches scored at once (each on its own thread) and waiting to be written.
_IN_FLIGHT = 3


class NeedsGeneralPath(Exception):
    """A batch or file that the general path must score (its checks, messages and conversions)."""


@dataclass
class NumericModel:
    """A fitted (Preprocessor, DevNet) pipeline of numeric columns, as arrays.

    Attributes
    ----------
    columns : list of str
        The file columns the model reads, in the network's input order.
    fill : ndarray of shape (d,), float64
        ``SimpleImputer.statistics_``: the value of a missing cell, per column.
    scale, offset : ndarray of shape (d,), float64, or None
        ``MinMaxScaler.scale_`` and ``min_`` (None: ``scaling="none"``).
    coefs, intercepts : list of ndarray
        ``DevNet.coefs_`` and ``intercepts_`` (float32).
    view : InputView or None
        ``DevNet.view_`` (the default preset's input view).
    members : list or None
        :func:`deviation.mlp.network_members` of the weights.
    calibration_scores : ndarray of shape (n_calibration,), float64, sorted
        ``DevNet.calibration_scores_``.
    confidence : float
        ``DevNet.confidence``.
    """

    columns: list[str]
    fill: np.ndarray
    scale: np.ndarray | None
    offset: np.ndarray | None
    coefs: list[np.ndarray]
    intercepts: list[np.ndarray]
    view: Any
    members: Any
    calibration_scores: np.ndarray
    confidence: float

    def threshold(self, confidence: float | None = None) -> float:
        """``DevNet.threshold_for(confidence)`` (default: the model's confidence), conformal."""
        level = self.confidence if confidence is None else float(confidence)
        return conformal_threshold(self.calibration_scores, 1.0 - level)

    def features(self, segments: Sequence[tuple[Sequence[np.ndarray], int, int]]) -> np.ndarray:
        """Rows of the file's columns as the network reads them: float32 of shape (n, d), column-major.

        ``Preprocessor.transform`` then ``DevNet``'s checks: missing cells take
        the imputer's value, then ``x * scale_ + min_`` in float64 (as
        ``MinMaxScaler.transform``), rounded to float32.

        Parameters
        ----------
        segments : list of (arrays, start, stop)
            Consecutive pieces of the batch: rows ``start:stop`` of ``arrays``
            (the model's columns, one 1-D array each, as read from a row group).

        Raises
        ------
        NeedsGeneralPath
            When a value is infinite, overflows float32, or exceeds the network's
            range (the general path says which column and what to do).
        """
        n = sum(stop - start for _, start, stop in segments)
        out = np.empty((n, len(self.columns)), dtype=np.float32, order="F")
        compiled = for_rows(n, load=False)
        scaled = self.scale is not None
        bad = False
        row = 0
        with np.errstate(over="ignore", invalid="ignore"):
            for arrays, start, stop in segments:
                for j, values in enumerate(arrays):
                    if compiled is not None and values.dtype in (np.float64, np.float32):
                        # the same arithmetic in one pass (deviation.jit.numeric_column)
                        bad |= compiled.numeric_column(
                            values, start, stop, self.fill[j], scaled, self.scale[j] if scaled else 1.0,
                            self.offset[j] if scaled else 0.0, MAX_ABS_VALUE, out, row, j) > 0
                        continue
                    v = np.array(values[start:stop], dtype=np.float64)
                    missing = np.isnan(v)
                    if missing.any():
                        v[missing] = self.fill[j]
                    if scaled:
                        v *= self.scale[j]
                        v += self.offset[j]
                    column = out[row : row + stop - start, j]
                    column[...] = v
                    bad |= stop > start and not (np.isfinite(column).all() and np.abs(column).max() <= MAX_ABS_VALUE)
                row += stop - start
        if bad:
            raise NeedsGeneralPath("a value is infinite or beyond the network's float32 range")
        return out

    def scored(self, X: np.ndarray, cut: float) -> dict[str, np.ndarray]:
        """``score``, ``p_value`` and ``is_anomaly`` of rows from :meth:`features` (as ``scored_frame``)."""
        scores = score_dense(X, self.members, self.coefs, self.intercepts, self.view)
        return scored_columns(scores, conformal_p_values(self.calibration_scores, scores), cut)


def open_numeric_parquet(data: str | os.PathLike, columns: Sequence[str]) -> Any:
    """The ``pyarrow.parquet.ParquetFile`` of ``data`` when the numeric path can read it, else None.

    It can when ``data`` is a plain ``.parquet``/``.pq`` file with rows, unique
    column names, and every one of ``columns`` of an integer or floating
    type (not half precision). Anything else (other formats, compressed or
    archived files, text, boolean, decimal or date columns, missing columns,
    an unreadable file) is for the general reader, which explains what is wrong.
    """
    path = Path(data)
    if path.suffix.lower() not in (".parquet", ".pq") or not path.is_file():
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # not memory-mapped: that would save copying the file into buffers, but its pages would count
        # in the process's memory (1.3 GB resident for 5,000,000 rows against 0.55 GB)
        handle = pq.ParquetFile(str(path), pre_buffer=False)
        schema = handle.schema_arrow
    except Exception:  # noqa: BLE001 - the general reader reports an unreadable file
        return None
    names = [str(n) for n in schema.names]
    if len(set(names)) != len(names) or handle.metadata.num_rows == 0:
        return None
    for name in columns:
        if name not in names:
            return None
        kind = schema.field(name).type
        if not (pa.types.is_integer(kind) or (pa.types.is_floating(kind) and not pa.types.is_float16(kind))):
            return None
    return handle


def _column_arrays(handle: Any, columns: Sequence[str]) -> Iterator[list[np.ndarray]]:
    """The file's ``columns`` as NumPy arrays (float64 NaN for nulls), a row group (or a part of one) at a time."""
    names = [str(n) for n in handle.schema_arrow.names]
    positions = [names.index(name) for name in columns]
    for group in range(handle.num_row_groups):
        meta = handle.metadata.row_group(group)
        # uncompressed bytes of the columns read (a Parquet leaf column per Arrow column: numbers only here)
        size = sum(meta.column(k).total_uncompressed_size for k in positions)
        if size <= READ_BYTES:
            tables = [handle.read_row_group(group, columns=list(columns))]
        else:
            rows = max(MIN_READ_ROWS, int(meta.num_rows * READ_BYTES / size))
            tables = handle.iter_batches(batch_size=rows, row_groups=[group], columns=list(columns))
        for table in tables:
            # a row group read whole is a Table (chunked columns), a part of one a RecordBatch
            yield [_numpy(getattr(column, "chunks", [column])) for column in map(table.column, columns)]


def _numpy(chunks: Sequence[Any]) -> np.ndarray:
    """The chunks of a pyarrow integer or floating column as one NumPy array, nulls as NaN (no copy for one
    chunk without nulls).

    From the Arrow buffers: pyarrow's own ``to_numpy`` imports pandas, which this path does not.
    """
    parts = [_chunk_numpy(chunk) for chunk in chunks]
    if len(parts) == 1:
        return parts[0]
    if len({part.dtype for part in parts}) > 1:  # chunks with nulls became float64
        parts = [part.astype(np.float64) for part in parts]
    return np.concatenate(parts) if parts else np.empty(0)


def _chunk_numpy(chunk: Any) -> np.ndarray:
    dtype = np.dtype(chunk.type.to_pandas_dtype())
    n, offset = len(chunk), chunk.offset
    validity, data = chunk.buffers()[:2]
    if data is None:  # no values at all: every one is null
        return np.full(n, np.nan)
    values = np.frombuffer(data, dtype=dtype, count=n, offset=offset * dtype.itemsize)
    if chunk.null_count:
        # the validity bitmap holds one bit a value, least significant first
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[offset : offset + n]
        values = values.astype(np.float64)
        values[valid == 0] = np.nan
    return values


def _arrow_table(columns: dict[str, np.ndarray]) -> Any:
    """Columns as a pyarrow Table over the same memory (``pa.table`` would import pandas to check for frames)."""
    import pyarrow as pa

    arrays = [
        pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])
        for values in columns.values()
    ]
    return pa.Table.from_arrays(arrays, names=list(columns))


def _batches(model: NumericModel, handle: Any, batch_rows: int) -> Iterator[np.ndarray]:
    """Batches of exactly ``batch_rows`` rows (the last one fewer) whatever the row groups, as the general
    reader's: each batch is a row group of a Parquet output, so the same cuts write the same bytes."""
    segments: list[tuple[list[np.ndarray], int, int]] = []
    have = 0
    for arrays in _column_arrays(handle, model.columns):
        n, start = len(arrays[0]), 0
        while start < n:
            take = min(batch_rows - have, n - start)
            segments.append((arrays, start, start + take))
            have, start = have + take, start + take
            if have == batch_rows:
                yield model.features(segments)
                segments, have = [], 0
    if segments:
        yield model.features(segments)


def score_numeric_file(
    model: NumericModel,
    data: str | os.PathLike | Any,
    out: str | os.PathLike,
    *,
    confidence: float | None = None,
    batch_size: int = SCORE_BATCH_ROWS,
    progress: Callable[[int], None] | None = None,
) -> ScoreSummary | None:
    """Score a Parquet file with an all-numeric model; write ``score``, ``p_value``, ``is_anomaly``.

    The same output, byte for byte, as :func:`deviation.scale.score_file` with
    the loaded model: one row out per row in, written to a temporary file that
    replaces ``out`` only when every row is scored.

    Parameters
    ----------
    model : NumericModel
        From :func:`deviation.persistence.numeric.read_numeric_model`.
    data : path or pyarrow.parquet.ParquetFile
        A Parquet file (or one :func:`open_numeric_parquet` opened).
    out : path
        ``.csv``, ``.csv.gz``, ``.tsv(.gz)`` or ``.parquet``.
    confidence : float, optional
        Confidence level of ``is_anomaly`` (default: the model's).
    batch_size : int
        Rows per batch.
    progress : callable, optional
        Called with the number of rows of each written batch.

    Returns
    -------
    ScoreSummary or None
        None when the file (or one of its batches) is for the general path
        (see :class:`NeedsGeneralPath`): nothing was written.

    Raises
    ------
    DataError
        When ``out`` cannot be written.
    """
    from ..io.writer import BatchWriter

    # an already opened file (deviation score opens it to choose this path) is not opened again
    handle = data if hasattr(data, "read_row_group") else open_numeric_parquet(data, model.columns)
    if handle is None:
        return None
    cut = model.threshold(confidence)
    if model.view is not None and handle.metadata.num_rows >= PRELOAD_ROWS:
        preload()  # the compiled view and networks load while the first rows are read (deviation.kernels)
    writer = BatchWriter(Path(out))
    start = time.perf_counter()
    n_rows = n_flagged = 0
    pending: list[Future] = []

    def write_done(keep: int) -> None:
        nonlocal n_rows, n_flagged
        while len(pending) > keep:
            columns = pending.pop(0).result()
            writer.write(_arrow_table(columns))
            n_rows += len(columns["score"])
            n_flagged += int(columns["is_anomaly"].sum())
            if progress is not None:
                progress(len(columns["score"]))

    try:
        # reading and preprocessing (a background thread), scoring (two threads: the compiled
        # loops and NumPy release the GIL) and writing (this thread, in file order) overlap
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="deviation-score") as pool:
            try:
                for X in prefetch(_batches(model, handle, batch_size)):
                    pending.append(pool.submit(model.scored, X, cut))
                    write_done(_IN_FLIGHT)
                write_done(0)
            finally:
                for future in pending:
                    future.cancel()
        writer.commit()
    except NeedsGeneralPath as exc:
        writer.abort()
        logger.info("the general path scores this file (%s)", exc)
        return None
    except BaseException:
        writer.abort()
        raise
    return ScoreSummary(n_rows, n_flagged, cut, time.perf_counter() - start)
