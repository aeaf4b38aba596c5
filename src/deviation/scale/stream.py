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
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..exceptions import DataError
from ..io import DEFAULT_BATCH_ROWS, BatchWriter, KindTracker, Table, iter_tables, resolve_source, to_binary_labels
from ..io.reader import label_values, schema_of, split_batch, tabular_batches, text_cells
from ..io.sources import TABULAR
from ..kernels import preload
from ..scoring import (
    decide_all,
    decision_scores,
    feature_scores,
    final_estimator,
    model_features,
    model_schema,
    scored_frame,
    threshold,
)
from ._pipeline import PRELOAD_ROWS, SCORE_BATCH_ROWS, ScoreSummary, prefetch, rows_hint

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_BATCH_ROWS", "SCORE_BATCH_ROWS", "ScoreSummary", "iter_batches", "sample_file", "score_file"]

def iter_batches(path: str | os.PathLike, batch_size: int = DEFAULT_BATCH_ROWS,
                 sep: str | None = None) -> Iterator[pd.DataFrame]:
    """Yield the rows of a data file as DataFrames of at most ``batch_size`` rows.

    A thin view of :func:`deviation.io.iter_tables` (no label, no ids): the
    columns are typed by the first batch, as the reader's rules say.

    Parameters
    ----------
    path : str or os.PathLike
    batch_size : int
    sep : str or None
        The separator of a CSV file (None: detected, see :func:`deviation.io.read_table`).

    Yields
    ------
    pandas.DataFrame
    """
    for table in iter_tables(path, batch_rows=batch_size, sep=sep):
        X = table.X
        if isinstance(X, pd.DataFrame):
            yield X
        else:
            yield pd.DataFrame(X.toarray() if hasattr(X, "toarray") else X, columns=table.feature_names)


def score_file(
    model: Any,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    id_column: str | list[str] | None = None,
    confidence: float | None = None,
    batch_size: int = SCORE_BATCH_ROWS,
    progress: Callable[[int], None] | None = None,
    sep: str | None = None,
    drop: str | list[str] | None = None,
    fdr: float | None = None,
    top: int | None = None,
) -> ScoreSummary:
    """Score a data file batch by batch and write ``score``, ``p_value``, ``is_anomaly``.

    Memory stays flat whatever the file size: one batch is in memory at a
    time (CSV/TSV and Parquet are streamed; other formats are read whole),
    and the output is written incrementally to a temporary file that
    replaces ``out`` only when every row is scored (never a partial file).
    The file is read with the model's input schema, exactly as the training
    file was (:func:`deviation.scoring.model_schema`).

    Parameters
    ----------
    model : DevNet, Pipeline of (Preprocessor, DevNet), or ScoreBlend
        A fitted model; a DevNet alone needs all-numeric files.
    data : path
        Any format :func:`deviation.read_table` reads.
    out : path
        ``.csv``, ``.csv.gz``, ``.tsv(.gz)`` or ``.parquet``.
    id_column : str or list of str, optional
        Copied verbatim (as the text in the file) to the output's first columns.
    confidence : float, optional
        Confidence level of ``is_anomaly`` (default: the model's).
    batch_size : int
        Rows per batch.
    progress : callable, optional
        Called with the number of rows of each scored batch.
    sep : str, optional
        Separator of a CSV file (default: the training file's, as the model recorded it).
    drop : str or list of str, optional
        Columns of the file the model does not use, checked and left out.
    fdr, top : optional
        ``is_anomaly`` by Benjamini-Hochberg at this false discovery rate, or
        for the ``top`` highest scores, over all the rows of the file
        (:func:`deviation.scoring.decide_all`). Both need every row's score
        before the first row is written, so the file is read twice: a first
        pass keeps only the scores (8 bytes a row), the second writes the
        output as usual.

    Returns
    -------
    ScoreSummary
    """
    cut = threshold(model, confidence)
    schema = model_schema(model)
    if getattr(final_estimator(model), "view_", None) is not None and rows_hint(data) >= PRELOAD_ROWS:
        preload()  # the compiled view and networks load while the first rows are read (deviation.kernels)
    flags = None
    if fdr is not None or top is not None:
        every = _file_scores(model, data, id_column, schema, batch_size, sep, drop)
        flags = decide_all(model, every, fdr=fdr, top=top)
        cut = None  # no single score cut-off: the decision depends on every row
    writer = BatchWriter(Path(out))
    start = time.perf_counter()
    n_rows = n_flagged = 0
    unseen: dict[str, int] = {}
    pending = None  # the previous batch's write, running while this batch is scored
    try:
        batches = iter_tables(data, id_column=id_column, schema=schema, batch_rows=batch_size, sep=sep, drop=drop)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="deviation-write") as write_pool:
            # three stages overlap: reading and preprocessing the next batches (a background
            # thread), scoring this one (the network's threads), writing the previous one
            for batch in prefetch(_prepared(model, batches, data)):
                for name, count in batch.unseen.items():
                    unseen[name] = unseen.get(name, 0) + count
                try:
                    scores = feature_scores(model, batch.features)
                except DataError as exc:
                    raise _in_rows(data, batch.first_row, batch.last_row, exc) from None
                del batch.features
                decided = None if flags is None else flags[n_rows : n_rows + len(scores)]
                result = scored_frame(model, scores, ids=batch.ids, confidence=confidence, is_anomaly=decided)
                if pending is not None:
                    pending.result()
                pending = write_pool.submit(writer.write, result)
                n_rows += len(result)
                if "is_anomaly" in result:
                    n_flagged += int(result["is_anomaly"].sum())
                if progress is not None:
                    progress(len(result))
            if pending is not None:
                pending.result()
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return ScoreSummary(n_rows, n_flagged, cut, time.perf_counter() - start, unseen)


@dataclass
class _Prepared:
    """One batch read and preprocessed: what the model scores, its ids, and where it is in the file."""

    features: Any
    ids: pd.DataFrame | None
    unseen: dict[str, int]
    first_row: int
    last_row: int


def _prepared(model: Any, tables: Iterator[Table], data: Any) -> Iterator[_Prepared]:
    """The batches through the model's preprocessing (:func:`deviation.scoring.model_features`)."""
    first = model.steps[0][1] if hasattr(model, "steps") else None
    count_unseen = getattr(first, "unseen_values", None)
    n_rows = 0
    for table in tables:
        n = table.X.shape[0]
        unseen = {}
        if count_unseen is not None and isinstance(table.X, pd.DataFrame):
            unseen = dict(count_unseen(table.X))
        try:
            features = model_features(model, table.X)
        except DataError as exc:
            # the preprocessing counts rows within the batch: say which file and rows it was
            raise _in_rows(data, n_rows + 1, n_rows + n, exc) from None
        yield _Prepared(features, table.ids, unseen, n_rows + 1, n_rows + n)
        n_rows += n


_DATA_ROW = re.compile(r"\(data row (\d+)\)")


def _in_rows(data: Any, first: int, last: int, exc: DataError) -> DataError:
    """``exc`` of a batch holding data rows ``first``..``last`` of ``data``, its row numbers made the file's."""
    message = str(exc)
    if _DATA_ROW.search(message):
        # the preprocessing counts from the batch's first row: count from the file's
        return DataError(f"'{data}': " + _DATA_ROW.sub(lambda m: f"(data row {first + int(m.group(1)) - 1})", message))
    return DataError(f"'{data}', data rows {first}-{last}: {message}")


def _file_scores(model: Any, data: Any, id_column: Any, schema: Any, batch_size: int, sep: Any,
                 drop: Any) -> np.ndarray:
    """Every row's score, in file order (the first pass of :func:`score_file` under ``fdr`` or ``top``)."""
    parts, n_rows = [], 0
    for table in prefetch(iter_tables(data, id_column=id_column, schema=schema, batch_rows=batch_size, sep=sep,
                                       drop=drop)):
        try:
            parts.append(decision_scores(model, table.X))
        except DataError as exc:
            raise _in_rows(data, n_rows + 1, n_rows + table.X.shape[0], exc) from None
        n_rows += table.X.shape[0]
    return np.concatenate(parts) if parts else np.empty(0)


def sample_file(
    path: str | os.PathLike,
    label: str,
    *,
    sample_size: int = 1_000_000,
    anomaly_value: Any = None,
    id_column: str | list[str] | None = None,
    random_state: int | np.random.Generator | None = None,
    batch_size: int = DEFAULT_BATCH_ROWS,
    sep: str | None = None,
    drop: str | list[str] | None = None,
) -> Table:
    """One streaming pass: a uniform sample of unlabeled rows plus every labeled anomaly.

    The columns are typed over the whole file (not the sample) by the
    reader's rules, so the sample reads as :func:`deviation.read_table`
    would read the same rows.

    Parameters
    ----------
    path : path
        CSV/TSV (optionally ``.gz``) or Parquet (other formats are read whole).
    label : str
        Label column: 1 (or ``anomaly_value``) marks a labeled anomaly, 0 or
        empty an unlabeled row.
    sample_size : int, default=1,000,000
        Unlabeled rows to keep (all of them if the file has fewer). See the
        module docstring for why this trains the same model distribution.
    anomaly_value : optional
        Label value of anomalies when it is not 1.
    id_column : str or list of str, optional
        Dropped from the features.
    random_state : int, Generator or None
    batch_size : int
    sep : str, optional
        Separator of a CSV file (None: detected, as :func:`deviation.io.read_table` does).
    drop : str or list of str, optional
        Columns left out of the features.

    Returns
    -------
    deviation.io.Table
        ``X`` (DataFrame), ``y`` and ``schema``; rows in file order.
    """
    if not (isinstance(sample_size, (int, np.integer)) and sample_size >= 1):
        raise DataError(f"sample_size must be an int >= 1, got {sample_size!r}.")
    src = resolve_source(path, None)
    if src.fmt not in TABULAR:
        raise DataError(f"{src.where}: fit --sample-size streams CSV, TSV, Parquet and ARFF files; "
                        "read array formats whole (drop --sample-size)")
    rng = np.random.default_rng(random_state)
    text = text_cells(src.fmt)
    ids = [] if id_column is None else [id_column] if isinstance(id_column, str) else list(id_column)
    dropped = [] if drop is None else [drop] if isinstance(drop, str) else list(drop)
    dialect, batches = tabular_batches(src, label, ids, None, sep, dropped, batch_size)
    decimal = "." if dialect is None else dialect.decimal
    tracker = KindTracker(src.where, text, decimal=decimal)
    layout = None
    kept: list[pa.Table] = []  # current unlabeled sample, with their random keys and positions
    anomalies: list[pa.Table] = []
    seen = n_unlabeled = 0
    for raw, layout in batches:
        tracker.update(raw, layout.features)
        y = to_binary_labels(label_values(raw.column(layout.label), text), anomaly_value, src.where, layout.label)
        positions = np.arange(seen, seen + raw.num_rows)
        seen += raw.num_rows
        is_anom = y == 1
        if is_anom.any():
            anomalies.append(raw.filter(pa.array(is_anom)).append_column("__pos", pa.array(positions[is_anom])))
        unl = raw.filter(pa.array(~is_anom))
        n_unlabeled += unl.num_rows
        unl = unl.append_column("__pos", pa.array(positions[~is_anom]))
        unl = unl.append_column("__key", pa.array(rng.random(unl.num_rows)))
        pool = pa.concat_tables(kept + [unl]) if kept else unl
        if pool.num_rows > sample_size:
            # the sample_size smallest uniform keys are a uniform sample without replacement
            keys = pool.column("__key").to_numpy()
            pool = pool.take(pa.array(np.sort(np.argpartition(keys, sample_size - 1)[:sample_size])))
        kept = [pool]
    if seen == 0 or layout is None:
        raise DataError(f"{src.where} has no data rows; pass a file with a header and data rows")
    unlabeled = kept[0].drop_columns(["__key"]) if kept else None
    parts = ([unlabeled] if unlabeled is not None else []) + anomalies
    sample = pa.concat_tables(parts, promote_options="none")
    order = np.argsort(sample.column("__pos").to_numpy(), kind="stable")
    sample = sample.take(pa.array(order)).drop_columns(["__pos"])
    kinds = {c: tracker.kinds[c] for c in layout.features}
    X, y, _ = split_batch(sample, layout, kinds, anomaly_value, src.where, 0, text, decimal)
    n_anom = int(y.sum())
    logger.info("sampled %d of %d unlabeled rows and all %d labeled anomalies from %s",
                len(X) - n_anom, n_unlabeled, n_anom, path)
    fitted = schema_of(src.fmt, kinds, layout, anomaly_value, dialect=dialect)
    return Table(X=X, y=y, feature_names=list(kinds), ids=None, schema=fitted)
