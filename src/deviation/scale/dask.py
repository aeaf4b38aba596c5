"""Dask as the engine for data beyond one machine: distributed scoring and sampled training.

:func:`score_dask` scores a :class:`dask.dataframe.DataFrame` partition by
partition on any Dask scheduler (a laptop ``LocalCluster``, or a cluster on
Kubernetes, YARN, ...). :func:`fit_dask` draws the training sample on the
cluster and fits locally. They mirror :func:`deviation.scale.score_file` and
:func:`deviation.scale.sample_file`.

Models travel as the bytes of a model file (:func:`deviation.persistence.dumps`),
never pickled, and every worker checks them with :func:`~deviation.persistence.loads`
before use. With a ``distributed.Client`` the bytes are scattered once to every
worker, and each worker process keeps the loaded model in a small cache keyed by
the SHA-256 of the bytes, so a model is deserialised once per worker process,
not once per partition.

Scores are exact: the scoring network is row-exact (see
:func:`deviation.mlp.forward_numpy`), so a row gets the same score, bit for bit,
whatever partition it is in and whether it is scored by Dask or locally.

Dask is imported only when a function here is called; ``import deviation`` and
``import deviation.scale`` never import it. Install it with
``pip install 'deviation[dask]'``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError, FeatureMismatchError, MissingDependencyError
from ..io import to_binary_labels
from ..persistence import dumps, loads
from ..scoring import decision_scores, final_estimator, model_schema, scored_frame
from .stream import DEFAULT_BATCH_ROWS

logger = logging.getLogger(__name__)

__all__ = ["clear_worker_cache", "fit_dask", "sample_dask", "score_dask", "worker_cache_info"]

#: Loaded models kept per worker process (least recently used evicted first).
MODEL_CACHE_SIZE = 8

_cache: OrderedDict[str, Any] = OrderedDict()
_cache_lock = threading.Lock()
_cache_stats = {"loads": 0, "calls": 0}

_INSTALL_HINT = "pip install 'deviation[dask]'"


# --------------------------------------------------------------------------- dask imports


def _import_dask_dataframe() -> Any:
    """``dask.dataframe``, or MissingDependencyError naming the extra to install."""
    try:
        import dask.dataframe as dd
    except ImportError as exc:
        raise MissingDependencyError(
            f"Scoring and fitting with Dask need dask[dataframe] and distributed ({exc}): {_INSTALL_HINT}"
        ) from None
    return dd


def _default_client(client: Any) -> Any:
    """The given client, else the current default ``distributed`` client, else None (local scheduler)."""
    if client is not None:
        if not callable(getattr(client, "scatter", None)) or not callable(getattr(client, "compute", None)):
            raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}.")
        return client
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client has been created
        return None


def _compute(collection: Any, client: Any) -> Any:
    if client is None:
        return collection.compute()
    return client.compute(collection).result()


# --------------------------------------------------------------------------- worker-side model cache


def _model_from_bytes(data: bytes) -> Any:
    """The model of these model-file bytes, loaded (and checked) once per process."""
    key = hashlib.sha256(data).hexdigest()
    with _cache_lock:
        _cache_stats["calls"] += 1
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
            return model
        # loading under the lock: threads of one worker wait for the first load instead of repeating it
        model = loads(data)
        _cache_stats["loads"] += 1
        _cache[key] = model
        while len(_cache) > MODEL_CACHE_SIZE:
            _cache.popitem(last=False)
        return model


def worker_cache_info() -> dict[str, int]:
    """This process's model cache: ``loads`` (deserialisations), ``calls`` (partitions scored), ``cached``.

    Run it on every worker with ``client.run(deviation.scale.dask.worker_cache_info)``.
    """
    with _cache_lock:
        return {"loads": _cache_stats["loads"], "calls": _cache_stats["calls"], "cached": len(_cache)}


def clear_worker_cache() -> None:
    """Empty this process's model cache and reset its counters (``client.run(clear_worker_cache)``)."""
    with _cache_lock:
        _cache.clear()
        _cache_stats["loads"] = 0
        _cache_stats["calls"] = 0


# --------------------------------------------------------------------------- scoring


def _result_meta(model: Any, empty: pd.DataFrame, id_column: str | None) -> pd.DataFrame:
    """The (empty) result of a partition: the scoring path's columns, the id column's dtype kept."""
    ids = empty[[id_column]] if id_column is not None else None
    return scored_frame(model, np.empty(0), ids=ids, index=empty.index)


def typed_partition(frame: pd.DataFrame, schema: Any, where: str) -> pd.DataFrame:
    """A partition's feature columns typed by the model's schema, as ``deviation score`` reads a file.

    Text columns (for instance from ``dd.read_csv(path, dtype=str)``) are
    parsed by the reader's rules (:mod:`deviation.io.schema`): numbers,
    true/false and the missing markers mean the same as in a file.
    """
    import pyarrow as pa

    from ..io import typed_frame

    columns = list(schema.columns)
    part = frame[columns]
    part = part.assign(**{c: part[c].astype("string") for c in columns if part[c].dtype == object})
    raw = pa.Table.from_pandas(part, preserve_index=False)
    return typed_frame(raw, schema.columns, where, decimal=schema.decimal).set_axis(frame.index, axis=0)


def _score_partition(
    frame: pd.DataFrame,
    model_bytes: bytes,
    id_column: str | None,
    confidence: float | None,
    meta: pd.DataFrame,
    chunk_rows: int = DEFAULT_BATCH_ROWS,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Score one partition (runs on a worker) through the one scoring path."""
    if len(frame) == 0:
        return meta.set_axis(frame.index, axis=0)
    model = _model_from_bytes(model_bytes)
    schema = model_schema(model)
    ids = frame[[id_column]] if id_column is not None else None
    features = frame.drop(columns=[id_column]) if id_column is not None else frame
    if schema is not None and schema.tabular and schema.columns:
        number = partition_info["number"] if partition_info else -1
        features = typed_partition(features, schema, f"partition {number} of the Dask DataFrame")
    # in chunks, as score_file does: a partition's transient copies stay at a chunk's size
    scores = decision_scores(model, features, chunk_rows=chunk_rows)
    return scored_frame(model, scores, ids=ids, confidence=confidence, index=frame.index)


def _check_columns(model: Any, columns: list[str]) -> None:
    """Fail early (before any task runs) when the columns cannot be the model's features."""
    if hasattr(model, "steps"):
        first = model.steps[0][1]
        names = getattr(first, "feature_names_in_", None)
        if names is not None:
            missing = [str(n) for n in names if n not in set(columns)]
            if missing:
                raise FeatureMismatchError(
                    f"the Dask DataFrame lacks {len(missing)} column(s) the model was trained on: {missing[:10]}."
                )
        return
    n_expected = getattr(model, "n_features_in_", None)
    if n_expected is not None and len(columns) != n_expected:
        raise FeatureMismatchError(
            f"the Dask DataFrame has {len(columns)} feature column(s) but the model was trained on {n_expected}; "
            "a bare DevNet scores all-numeric columns in training order (drop the label column, "
            "and pass id_column= for an id)."
        )


def score_dask(
    model: Any,
    ddf: Any,
    *,
    client: Any = None,
    id_column: str | None = None,
    confidence: float | None = None,
) -> Any:
    """Score a Dask DataFrame: ``score``, ``p_value`` and ``is_anomaly`` for every row, lazily.

    The result has one row per input row, with the input's index and
    partitions (``map_partitions``); nothing runs until it is computed or
    written (e.g. ``.to_parquet(...)``). Scores equal those of
    ``model.decision_function`` on the same rows bit for bit.

    Parameters
    ----------
    model : DevNet or Pipeline of (Preprocessor, DevNet)
        A fitted model; a DevNet alone needs all-numeric columns, in training order.
    ddf : dask.dataframe.DataFrame
        The rows to score: the model's feature columns, plus ``id_column`` if
        given (drop a label column first).
    client : distributed.Client, optional
        The cluster to score on; default: the current default client if there
        is one. With a client, the model file bytes are scattered once to
        every worker (``broadcast=True``) and loaded once per worker process.
        Without any, the bytes are passed to each task of the local scheduler.
    id_column : str, optional
        Copied to the output as its first column (and not used as a feature).
    confidence : float, optional
        Confidence level of ``is_anomaly`` (default: the model's).

    Each partition is scored in chunks of 262,144 rows, so a worker's memory
    is about its partition plus one chunk's copies whatever the partition
    size (e.g. ``dd.read_parquet(path, split_row_groups=True)`` for one
    partition per row group).

    Returns
    -------
    dask.dataframe.DataFrame
        Columns ``[id_column,] score, p_value, is_anomaly`` (float64, float64, int8).

    Examples
    --------
    >>> import dask.dataframe as dd  # doctest: +SKIP
    >>> from distributed import Client  # doctest: +SKIP
    >>> client = Client("tcp://scheduler:8786")  # doctest: +SKIP
    >>> ddf = dd.read_parquet("s3://bucket/events/")  # doctest: +SKIP
    >>> score_dask(model, ddf, client=client, id_column="id").to_parquet("s3://bucket/scores/")  # doctest: +SKIP
    """
    _import_dask_dataframe()
    if not (hasattr(ddf, "map_partitions") and hasattr(ddf, "_meta") and hasattr(ddf, "npartitions")):
        raise TypeError(f"ddf must be a dask.dataframe.DataFrame, got {type(ddf).__name__}.")
    columns = list(ddf.columns)
    if id_column is not None and id_column not in columns:
        raise DataError(f"the Dask DataFrame has no id column {id_column!r}; columns are {columns[:10]}.")
    final_estimator(model).threshold_for(0.5 if confidence is None else confidence)  # checks confidence early
    model_bytes = dumps(model)  # raises NotFittedError for an unfitted model
    _check_columns(model, [c for c in columns if c != id_column])
    meta = _result_meta(model, ddf._meta.iloc[:0], id_column)
    client = _default_client(client)
    payload: Any = model_bytes
    if client is not None:
        # one copy per worker, found there by every task; the result keeps the future (and the data) alive
        payload = client.scatter(model_bytes, broadcast=True, hash=False)
    return ddf.map_partitions(
        _score_partition, payload, id_column, confidence, meta, meta=meta, enforce_metadata=False,
        align_dataframes=False,
    )


# --------------------------------------------------------------------------- sampled training


class _QuietNoMatch(logging.Filter):
    """Drop deviation.io's "anomaly_value matches no row" warning in threads that ask for it.

    Most partitions hold no labeled anomaly; the warning is given once for the
    whole table by :func:`fit_dask` instead.
    """

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(self.local, "quiet", False) and "matches no row" in str(record.msg))


_quiet = _QuietNoMatch()
logging.getLogger("deviation.io").addFilter(_quiet)


def _labels(frame: pd.DataFrame, label: str, anomaly_value: Any, number: int) -> np.ndarray:
    if label not in frame.columns:
        raise DataError(f"the Dask DataFrame has no label column {label!r}; columns are {list(frame.columns)[:10]}.")
    _quiet.local.quiet = True
    try:
        return to_binary_labels(frame[label].to_numpy(), anomaly_value, f"partition {number} of the Dask DataFrame", label)
    finally:
        _quiet.local.quiet = False


def _count_partition(
    frame: pd.DataFrame, label: str, anomaly_value: Any, partition_info: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Unlabeled and labeled-anomaly counts of one partition (runs on a worker)."""
    number = partition_info["number"] if partition_info else -1
    y = _labels(frame, label, anomaly_value, number)
    n_anomalies = int(y.sum())
    return pd.DataFrame({"n_unlabeled": [len(y) - n_anomalies], "n_anomalies": [n_anomalies]})


def _partition_keys(entropy: int, number: int, n: int) -> np.ndarray:
    """Uniform random keys of the rows of partition ``number``: the same for the same seed and partitioning."""
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(number,))).random(n)


def _sample_partition(
    frame: pd.DataFrame,
    label: str,
    anomaly_value: Any,
    id_column: str | None,
    entropy: int,
    cutoff: float,
    meta: pd.DataFrame,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Every labeled anomaly and the unlabeled rows with a random key below ``cutoff`` (runs on a worker)."""
    if partition_info is None:  # dask only omits it when it runs the function on meta
        return meta
    number = partition_info["number"]
    y = _labels(frame, label, anomaly_value, number)
    keys = _partition_keys(entropy, number, len(frame))
    keep = (y == 1) | (keys < cutoff)
    drop = [label] + ([id_column] if id_column is not None and id_column in frame.columns else [])
    part = frame.drop(columns=drop).iloc[np.flatnonzero(keep)]
    part = part.reset_index(drop=True)
    part["_deviation_label"] = y[keep]
    part["_deviation_key"] = np.where(y[keep] == 1, -1.0, keys[keep])
    part["_deviation_part"] = np.int64(number)
    return part


def _entropy(random_state: Any) -> int:
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) and random_state >= 0:
        return int(random_state)
    raise DataError(f"random_state must be None, an int >= 0 or a numpy Generator, got {random_state!r}.")


def _cutoff(sample_size: int, n_unlabeled: int, sigmas: float) -> float:
    """A key threshold below which at least ``sample_size`` of ``n_unlabeled`` uniform keys fall, but for ~1e-9."""
    if n_unlabeled <= sample_size:
        return 2.0  # every key is below: keep every unlabeled row
    return min(2.0, (sample_size + sigmas * math.sqrt(sample_size) + 16) / n_unlabeled)


def sample_dask(
    ddf: Any,
    label: str,
    *,
    sample_size: int = 1_000_000,
    anomaly_value: Any = None,
    id_column: str | None = None,
    random_state: int | np.random.Generator | None = None,
    client: Any = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """On the cluster: every labeled anomaly plus a uniform sample of ``sample_size`` unlabeled rows.

    Two passes over the data: one reads only the label column and counts the
    unlabeled rows; the second gives each row a random key (seeded per
    partition from ``random_state``) and sends back only the anomalies and the
    unlabeled rows whose key is below a cutoff chosen so that at least
    ``sample_size`` of them pass. Locally, the ``sample_size`` smallest keys
    are kept: a uniform sample without replacement, as in
    :func:`deviation.scale.sample_file`. The same seed and partitioning give
    the same sample.

    Returns
    -------
    X : pandas.DataFrame
        Feature columns (without ``label`` and ``id_column``), rows in table order.
    y : ndarray of int8
        1 for labeled anomalies, 0 for unlabeled rows.
    """
    _import_dask_dataframe()
    if not (isinstance(sample_size, (int, np.integer)) and not isinstance(sample_size, bool) and sample_size >= 1):
        raise DataError(f"sample_size must be an int >= 1, got {sample_size!r}.")
    if not hasattr(ddf, "map_partitions"):
        raise TypeError(f"ddf must be a dask.dataframe.DataFrame, got {type(ddf).__name__}.")
    columns = list(ddf.columns)
    if label not in columns:
        raise DataError(f"the Dask DataFrame has no label column {label!r}; columns are {columns[:10]}.")
    if id_column is not None and id_column not in columns:
        raise DataError(f"the Dask DataFrame has no id column {id_column!r}; columns are {columns[:10]}.")
    client = _default_client(client)
    entropy = _entropy(random_state)

    counts_meta = pd.DataFrame({"n_unlabeled": pd.Series([], dtype=np.int64), "n_anomalies": pd.Series([], dtype=np.int64)})
    counts = _compute(
        ddf[[label]].map_partitions(_count_partition, label, anomaly_value, meta=counts_meta, enforce_metadata=False),
        client,
    )
    n_unlabeled = int(counts["n_unlabeled"].sum())
    n_anomalies = int(counts["n_anomalies"].sum())
    if n_unlabeled + n_anomalies == 0:
        raise DataError("the Dask DataFrame has no rows.")
    if n_anomalies == 0 and anomaly_value is not None:
        logger.warning("anomaly_value=%r matches no row of label column %r; all rows are labeled 0", anomaly_value, label)

    drop = [label] + ([id_column] if id_column is not None else [])
    meta = ddf._meta.drop(columns=drop).reset_index(drop=True)
    meta["_deviation_label"] = pd.Series([], dtype=np.int8)
    meta["_deviation_key"] = pd.Series([], dtype=np.float64)
    meta["_deviation_part"] = pd.Series([], dtype=np.int64)
    target = min(sample_size, n_unlabeled)
    sigmas = 6.0
    while True:
        cutoff = _cutoff(sample_size, n_unlabeled, sigmas)
        pool = _compute(
            ddf.map_partitions(
                _sample_partition, label, anomaly_value, id_column, entropy, cutoff, meta,
                meta=meta, enforce_metadata=False, align_dataframes=False,
            ),
            client,
        )
        unlabeled = pool["_deviation_label"].to_numpy() == 0
        if int(unlabeled.sum()) >= target:
            break
        sigmas *= 2  # about one run in a billion: draw again with a wider cutoff (same keys, so same sample)
    pool = pool.reset_index(drop=True)  # rows in table order: partitions in order, rows in partition order
    keys = pool["_deviation_key"].to_numpy()
    chosen = np.flatnonzero(unlabeled)
    if len(chosen) > target:
        chosen = chosen[np.argpartition(keys[chosen], target - 1)[:target]]
    rows = np.sort(np.r_[chosen, np.flatnonzero(~unlabeled)])
    sample = pool.iloc[rows]
    y = sample["_deviation_label"].to_numpy().astype(np.int8)
    X = sample.drop(columns=["_deviation_label", "_deviation_key", "_deviation_part"]).reset_index(drop=True)
    logger.info(
        "sampled %d of %d unlabeled rows and all %d labeled anomalies on %s",
        target, n_unlabeled, n_anomalies, "the cluster" if client is not None else "the local scheduler",
    )
    return X, y


def fit_dask(
    ddf: Any,
    label: str,
    *,
    model: Any = None,
    sample_size: int = 1_000_000,
    anomaly_value: Any = None,
    id_column: str | None = None,
    random_state: int | np.random.Generator | None = None,
    client: Any = None,
) -> Any:
    """Fit DevNet on a Dask DataFrame: sample on the cluster, fit locally.

    The sample is every labeled anomaly plus a uniform random sample of
    ``sample_size`` unlabeled rows (see :func:`sample_dask`); only the sample
    is brought to this process. Why a sample trains the same model
    distribution as the whole table: the module docstring of
    :mod:`deviation.scale.stream`.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
    label : str
        Label column: 1 (or ``anomaly_value``) marks a labeled anomaly, 0 or
        empty an unlabeled row.
    model : DevNet or Pipeline, optional
        Cloned, then fitted on the sample. Default:
        ``Pipeline([("preprocessor", Preprocessor()), ("devnet", DevNet(random_state=random_state))])``.
    sample_size : int, default=1,000,000
        Unlabeled rows in the sample (all of them if the table has fewer).
    anomaly_value : optional
        Label value of anomalies when it is not 1.
    id_column : str, optional
        Dropped from the features.
    random_state : int, Generator or None
        Seeds the sample (and the default model).
    client : distributed.Client, optional
        Default: the current default client if there is one, else the local scheduler.

    Returns
    -------
    DevNet or Pipeline
        The fitted model.
    """
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    from ..estimator import DevNet
    from ..preprocess import Preprocessor

    if model is None:
        model = Pipeline([("preprocessor", Preprocessor()), ("devnet", DevNet(random_state=random_state))])
    else:
        model = clone(model)
    X, y = sample_dask(
        ddf, label, sample_size=sample_size, anomaly_value=anomaly_value, id_column=id_column,
        random_state=random_state, client=client,
    )
    return model.fit(X if hasattr(model, "steps") else X.to_numpy(dtype=np.float64), y)
