"""Streaming over large CSV and Parquet files: score batch by batch, sample in one pass.

Why a sample is enough to train: DevNet makes ``epochs * batches_per_epoch``
updates (1,000 by default), each on ``batch_size / 2`` unlabeled rows drawn
uniformly with replacement, whatever the size of the table: 256,000 draws in
all. :func:`sample_file` keeps a uniform random sample of ``sample_size``
unlabeled rows (each row is kept with the same probability, by the "smallest
random keys" form of reservoir sampling) plus every labeled anomaly. A draw
that is uniform over a uniform random subset is uniform over the whole table,
so every row of every training batch has exactly the distribution it has when
fitting on the whole table, and the labeled half is identical. What differs is
only how often the same row recurs within the 256,000 draws: at most
``256,000 / sample_size`` of the draws repeat an earlier row because the
sample is finite (about 13% at the default 1,000,000, against about 0 on a huge
table); with ``sample_size`` at least 10 times the draws it is under 3%. The
preprocessing statistics (min, max, mean, quantiles) are also estimated on the
sample rather than the whole table.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import commit, discard, new_temp_path
from ..exceptions import DataError
from ..io import Table, _resolve_source, _to_binary_labels

logger = logging.getLogger(__name__)

__all__ = ["ScoreSummary", "iter_batches", "sample_file", "score_file"]

DEFAULT_BATCH_ROWS = 262_144
STREAMABLE = ("csv", "tsv", "parquet")


@dataclass(frozen=True)
class ScoreSummary:
    """What :func:`score_file` did."""

    n_rows: int
    n_flagged: int
    threshold: float
    seconds: float


def _streamable(path: Path) -> Any:
    src = _resolve_source(path, None)
    if src.fmt not in STREAMABLE or src.container is not None or src.compression not in (None, "gzip"):
        return None
    if src.fmt == "parquet" and src.compression is not None:
        return None
    return src


def iter_batches(path: str | os.PathLike, batch_size: int = DEFAULT_BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the rows of a CSV/TSV (optionally ``.gz``) or Parquet file as DataFrames of at most ``batch_size`` rows.

    Numeric CSV columns are read as float64 throughout (empty cells become
    NaN), text columns as strings. Other formats are read whole with
    :func:`deviation.read_table` and then cut into batches.

    Parameters
    ----------
    path : str or os.PathLike
    batch_size : int

    Yields
    ------
    pandas.DataFrame
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    src = _streamable(path)
    if src is None:
        from ..io import read_table

        X = read_table(path).X
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X.toarray() if hasattr(X, "toarray") else X)
        for start in range(0, len(frame), batch_size):
            yield frame.iloc[start : start + batch_size]
        return
    where = f"'{path}'"
    try:
        if src.fmt == "parquet":
            # pre_buffer=False: otherwise pyarrow keeps every row group read so far in memory
            pf = pq.ParquetFile(path, pre_buffer=False)
            if pf.metadata.num_rows == 0:
                raise DataError(f"{where} has no data rows; nothing to score.")
            for batch in pf.iter_batches(batch_size=batch_size):
                yield batch.to_pandas()
            return
        delimiter = "\t" if src.fmt == "tsv" else ","
        compression = "gzip" if src.compression == "gzip" else None
        parse = pacsv.ParseOptions(delimiter=delimiter)
        read = pacsv.ReadOptions(block_size=1 << 24)
        # first pass over one block for the column types: numbers as float64, the rest as text
        with pa.input_stream(str(path), compression=compression) as fh:
            schema = pacsv.open_csv(fh, read_options=read, parse_options=parse).schema
        types = {
            f.name: pa.float64() if pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_null(f.type)
            else pa.string()
            for f in schema
        }
        convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
        with pa.input_stream(str(path), compression=compression) as fh:
            reader = pacsv.open_csv(fh, read_options=read, parse_options=parse, convert_options=convert)
            buffered: list[pd.DataFrame] = []
            n = 0
            for record_batch in reader:
                frame = record_batch.to_pandas()
                while len(frame):
                    take = frame.iloc[: batch_size - n]
                    frame = frame.iloc[len(take) :]
                    buffered.append(take)
                    n += len(take)
                    if n == batch_size:
                        yield pd.concat(buffered, ignore_index=True)
                        buffered, n = [], 0
            if buffered:
                yield pd.concat(buffered, ignore_index=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError) as exc:
        message = " ".join(str(exc).split())[:300]
        raise DataError(
            f"{where} cannot be read in batches ({message}); check that every row has the same "
            "columns and that numeric columns hold numbers only."
        ) from None


class _AtomicBatchWriter:
    """Write DataFrames batch by batch to CSV or Parquet via a temporary file renamed at the end."""

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

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
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


def _prefetch(batches: Iterator[pd.DataFrame], depth: int = 2) -> Iterator[pd.DataFrame]:
    """Read the next batches in a background thread while the current one is scored and written.

    pyarrow and NumPy release the GIL, so reading overlaps scoring on a second
    core; at most ``depth`` batches wait in memory. Errors of the reader are
    raised in the caller's thread, in order.
    """
    import queue
    import threading

    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        box.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(done)
        except BaseException as exc:  # handed to the consumer
            box.put(exc)

    thread = threading.Thread(target=produce, name="deviation-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def score_file(
    model: Any,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    id_column: str | None = None,
    confidence: float | None = None,
    batch_size: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score a CSV/Parquet file batch by batch and write ``score``, ``p_value``, ``is_anomaly``.

    Memory stays flat whatever the file size: one batch is in memory at a
    time, and the output is written incrementally to a temporary file that
    replaces ``out`` only when every row is scored (never a partial file).

    Parameters
    ----------
    model : DevNet or Pipeline of (Preprocessor, DevNet)
        A fitted model; a DevNet alone needs all-numeric files.
    data : path
        CSV/TSV (optionally ``.gz``) or Parquet; other formats are read whole.
    out : path
        ``.csv``, ``.csv.gz``, ``.tsv(.gz)`` or ``.parquet``.
    id_column : str, optional
        Copied to the output as its first column.
    confidence : float, optional
        Confidence level of ``is_anomaly`` (default: the model's).
    batch_size : int
        Rows per batch.
    progress : callable, optional
        Called with the number of rows of each scored batch.

    Returns
    -------
    ScoreSummary
    """
    devnet = model.steps[-1][1] if hasattr(model, "steps") else model
    conf = devnet.confidence if confidence is None else confidence
    threshold = devnet.threshold_for(conf)
    writer = _AtomicBatchWriter(Path(out))
    start = time.perf_counter()
    n_rows = n_flagged = 0
    try:
        for frame in _prefetch(iter_batches(data, batch_size)):
            ids = None
            if id_column is not None:
                if id_column not in frame.columns:
                    raise DataError(f"'{data}' has no id column {id_column!r}.")
                ids = frame.pop(id_column)
            features = frame if hasattr(model, "steps") else frame.to_numpy(dtype=np.float64)
            scores = model.decision_function(features)
            flagged = (scores > threshold).astype(np.int8)
            result = pd.DataFrame(
                {"score": scores, "p_value": devnet.p_values_from_scores(scores), "is_anomaly": flagged}
            )
            if ids is not None:
                result.insert(0, id_column, ids.to_numpy())
            writer.write(result)
            n_rows += len(result)
            n_flagged += int(flagged.sum())
            if progress is not None:
                progress(len(result))
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return ScoreSummary(n_rows, n_flagged, threshold, time.perf_counter() - start)


def sample_file(
    path: str | os.PathLike,
    label: str,
    *,
    sample_size: int = 1_000_000,
    anomaly_value: Any = None,
    id_column: str | None = None,
    random_state: int | np.random.Generator | None = None,
    batch_size: int = DEFAULT_BATCH_ROWS,
) -> Table:
    """One streaming pass: a uniform sample of unlabeled rows plus every labeled anomaly.

    Parameters
    ----------
    path : path
        CSV/TSV (optionally ``.gz``) or Parquet.
    label : str
        Label column: 1 (or ``anomaly_value``) marks a labeled anomaly, 0 or
        empty an unlabeled row.
    sample_size : int, default=1,000,000
        Unlabeled rows to keep (all of them if the file has fewer). See the
        module docstring for why this trains the same model distribution.
    anomaly_value : optional
        Label value of anomalies when it is not 1.
    id_column : str, optional
        Dropped from the features.
    random_state : int, Generator or None
    batch_size : int

    Returns
    -------
    deviation.io.Table
        ``X`` (DataFrame), ``y``; rows in file order.
    """
    if not (isinstance(sample_size, (int, np.integer)) and sample_size >= 1):
        raise DataError(f"sample_size must be an int >= 1, got {sample_size!r}.")
    rng = np.random.default_rng(random_state)
    keep_frames: list[pd.DataFrame] = []  # current unlabeled sample, with their random keys and positions
    anomalies: list[pd.DataFrame] = []
    seen = 0
    n_unlabeled = 0
    for frame in iter_batches(path, batch_size):
        if label not in frame.columns:
            raise DataError(f"'{path}' has no label column {label!r}; columns are {list(frame.columns)[:10]}.")
        y = _to_binary_labels(frame.pop(label).to_numpy(), anomaly_value, f"'{path}'", label)
        if id_column is not None:
            frame = frame.drop(columns=[id_column], errors="ignore")
        frame = frame.reset_index(drop=True)
        positions = np.arange(seen, seen + len(frame))
        seen += len(frame)
        anom = frame[y == 1].assign(_pos=positions[y == 1])
        if len(anom):
            anomalies.append(anom)
        unl = frame[y == 0].assign(_pos=positions[y == 0], _key=rng.random(int((y == 0).sum())))
        n_unlabeled += len(unl)
        keep_frames.append(unl)
        pool = pd.concat(keep_frames, ignore_index=True)
        if len(pool) > sample_size:
            # the sample_size smallest uniform keys are a uniform sample without replacement
            pool = pool.iloc[np.argpartition(pool["_key"].to_numpy(), sample_size - 1)[:sample_size]]
        keep_frames = [pool]
    if seen == 0:
        raise DataError(f"'{path}' has no data rows.")
    unlabeled = pd.concat(keep_frames, ignore_index=True).drop(columns="_key")
    parts = [unlabeled] + anomalies
    labels = np.r_[np.zeros(len(unlabeled), np.int8), np.ones(sum(len(a) for a in anomalies), np.int8)]
    sample = pd.concat(parts, ignore_index=True)
    order = np.argsort(sample["_pos"].to_numpy(), kind="stable")
    sample = sample.iloc[order].drop(columns="_pos").reset_index(drop=True)
    logger.info(
        "sampled %d of %d unlabeled rows and all %d labeled anomalies from %s",
        len(unlabeled), n_unlabeled, int(labels.sum()), path,
    )
    return Table(X=sample, y=labels[order], feature_names=[str(c) for c in sample.columns], ids=None)
