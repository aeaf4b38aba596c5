"""deviation.scale.dask on a real two-process LocalCluster, with the bundled thyroid data."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

import dask.dataframe as dd
from distributed import Client, LocalCluster
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from deviation import (
    DataError,
    DevNet,
    FeatureMismatchError,
    MissingDependencyError,
    Preprocessor,
)
from deviation.datasets import thyroid_path
from deviation.scale import dask as sdask

NPARTITIONS = 7


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """thyroid with an id column ``rid`` (not the row number, to catch lost or reordered rows)."""
    df = pd.read_csv(thyroid_path())
    df.insert(0, "rid", np.arange(len(df), dtype=np.int64) * 7 + 3)
    return df


@pytest.fixture(scope="module")
def features(table) -> pd.DataFrame:
    return table.drop(columns=["rid", "class"])


@pytest.fixture(scope="module")
def models(features, table):
    """A Pipeline and a bare DevNet, briefly trained (the scores only need to be non-trivial)."""
    y = table["class"].to_numpy()
    small = {"epochs": 5, "batches_per_epoch": 10, "random_state": 0}
    pipe = Pipeline([("preprocessor", Preprocessor()), ("devnet", DevNet(**small))]).fit(features, y)
    bare = DevNet(**small).fit(features.to_numpy(dtype=np.float64), y)
    return {"pipeline": pipe, "devnet": bare}


@pytest.fixture(scope="module")
def parquet_dir(table, tmp_path_factory):
    path = tmp_path_factory.mktemp("dask") / "thyroid_parquet"
    dd.from_pandas(table, npartitions=NPARTITIONS).to_parquet(str(path), write_index=False)
    return str(path)


def _ddf(source: str, table: pd.DataFrame, parquet_dir: str):
    if source == "pandas":
        return dd.from_pandas(table, npartitions=NPARTITIONS)
    return dd.read_parquet(parquet_dir)


# --------------------------------------------------------------------------- scoring


@pytest.mark.parametrize("source", ["pandas", "parquet"])
@pytest.mark.parametrize("kind", ["pipeline", "devnet"])
def test_scores_equal_local_scores_exactly(client, table, features, models, parquet_dir, source, kind):
    model = models[kind]
    devnet = model.steps[-1][1] if kind == "pipeline" else model
    local = model.decision_function(features if kind == "pipeline" else features.to_numpy(dtype=np.float64))
    ddf = _ddf(source, table, parquet_dir).drop(columns="class")
    assert ddf.npartitions > 2

    scored = sdask.score_dask(model, ddf, client=client, id_column="rid")
    assert list(scored.columns) == ["rid", "score", "p_value", "is_anomaly"]
    assert scored.npartitions == ddf.npartitions
    assert scored.divisions == ddf.divisions
    out = client.compute(scored).result()

    assert len(out) == len(table)
    assert list(out.dtypes) == [np.dtype(np.int64), np.dtype(np.float64), np.dtype(np.float64), np.dtype(np.int8)]
    assert np.array_equal(out["rid"].to_numpy(), table["rid"].to_numpy())
    assert np.array_equal(out["score"].to_numpy(), local)
    assert np.array_equal(out["p_value"].to_numpy(), devnet.p_values_from_scores(local))
    assert np.array_equal(out["is_anomaly"].to_numpy(), (local > devnet.threshold_).astype(np.int8))
    assert np.ptp(local) > 0


def test_confidence_and_no_id_column(client, table, features, models):
    model = models["pipeline"]
    devnet = model.steps[-1][1]
    local = model.decision_function(features)
    ddf = dd.from_pandas(table.drop(columns=["rid", "class"]), npartitions=3)
    out = sdask.score_dask(model, ddf, client=client, confidence=0.5).compute()
    assert 0 < out["is_anomaly"].sum() < len(out)
    assert list(out.columns) == ["score", "p_value", "is_anomaly"]
    assert out.index.equals(table.index)
    assert np.array_equal(out["is_anomaly"].to_numpy(), (local > devnet.threshold_for(0.5)).astype(np.int8))


def test_empty_partitions_and_default_client(client, table, features, models):
    """Partitions emptied by a filter give no rows; client=None uses the default client (this one)."""
    model = models["devnet"]
    ddf = dd.from_pandas(table.drop(columns="class"), npartitions=NPARTITIONS)
    kept = ddf[ddf["rid"] < 7 * 1500]
    out = sdask.score_dask(model, kept, id_column="rid").compute()
    assert len(out) == 1500
    assert np.array_equal(out["score"].to_numpy(), model.decision_function(features.to_numpy()[:1500]))


def test_partition_scored_in_chunks_is_exact(table, features, models):
    """A partition is scored in chunks (bounded memory); chunk boundaries change no score."""
    from deviation.persistence import dumps

    model = models["pipeline"]
    meta = sdask._result_meta(model, table.iloc[:0], "rid")
    out = sdask._score_partition(table.drop(columns="class"), dumps(model), "rid", None, meta, chunk_rows=1000)
    assert np.array_equal(out["score"].to_numpy(), model.decision_function(features))
    assert out.index.equals(table.index)


def test_model_is_loaded_once_per_worker(client, table, models):
    client.run(sdask.clear_worker_cache)
    ddf = dd.from_pandas(table.drop(columns="class"), npartitions=NPARTITIONS)
    assert len(sdask.score_dask(models["pipeline"], ddf, client=client, id_column="rid").compute()) == len(table)
    info = client.run(sdask.worker_cache_info)
    assert len(info) == 2
    assert sum(i["calls"] for i in info.values()) == NPARTITIONS
    assert sum(i["loads"] for i in info.values()) >= 1
    for i in info.values():
        assert i["loads"] == (1 if i["calls"] else 0)
        assert i["cached"] == i["loads"]


def test_scoring_errors(client, table, models):
    ddf = dd.from_pandas(table, npartitions=2)
    with pytest.raises(DataError, match="no id column"):
        sdask.score_dask(models["devnet"], ddf.drop(columns="class"), client=client, id_column="nope")
    with pytest.raises(FeatureMismatchError, match="22 feature column"):
        sdask.score_dask(models["devnet"], ddf, client=client, id_column="rid")  # label column left in
    with pytest.raises(FeatureMismatchError, match="lacks 1 column"):
        sdask.score_dask(models["pipeline"], ddf.drop(columns=["class", "Dim_20"]), client=client)
    with pytest.raises(TypeError, match="dask.dataframe.DataFrame"):
        sdask.score_dask(models["devnet"], table, client=client)


# --------------------------------------------------------------------------- sampled training


def test_fit_dask_learns(client, table, features):
    ddf = dd.from_pandas(table, npartitions=NPARTITIONS)
    model = sdask.fit_dask(ddf, "class", id_column="rid", sample_size=4000, random_state=0, client=client)
    assert isinstance(model, Pipeline)
    pre = model.steps[0][1]
    assert len(pre.column_kinds_) == features.shape[1]  # every input column typed (a column constant in the sample is left out)
    assert pre.n_features_in_ == sum(k.kind != "constant" for k in pre.column_kinds_)
    auc = roc_auc_score(table["class"], model.decision_function(features))
    assert auc > 0.7, auc


def test_same_seed_same_sample_and_model(client, table):
    ddf = dd.from_pandas(table, npartitions=NPARTITIONS)
    n_anomalies = int(table["class"].sum())
    X1, y1 = sdask.sample_dask(ddf, "class", id_column="rid", sample_size=2000, random_state=1, client=client)
    X2, y2 = sdask.sample_dask(ddf, "class", id_column="rid", sample_size=2000, random_state=1, client=client)
    X3, _ = sdask.sample_dask(ddf, "class", id_column="rid", sample_size=2000, random_state=2, client=client)
    pd.testing.assert_frame_equal(X1, X2)
    assert np.array_equal(y1, y2)
    assert not X1.equals(X3)
    assert list(X1.columns) == [c for c in table.columns if c not in ("rid", "class")]
    assert int((y1 == 0).sum()) == 2000 and int(y1.sum()) == n_anomalies
    # every labeled anomaly, in table order
    anomalies = table[table["class"] == 1].drop(columns=["rid", "class"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(X1[y1 == 1].reset_index(drop=True), anomalies)

    small = DevNet(epochs=2, batches_per_epoch=5, random_state=0)
    m1 = sdask.fit_dask(ddf, "class", model=small, id_column="rid", sample_size=2000, random_state=1, client=client)
    m2 = sdask.fit_dask(ddf, "class", model=small, id_column="rid", sample_size=2000, random_state=1, client=client)
    assert m1 is not small and not hasattr(small, "coefs_")  # the given model is cloned
    X = table.drop(columns=["rid", "class"]).to_numpy(dtype=np.float64)
    assert np.array_equal(m1.decision_function(X), m2.decision_function(X))


def test_sample_smaller_table_and_anomaly_value(client, table):
    """All unlabeled rows when there are fewer than sample_size; anomaly_value names the anomaly class."""
    named = table.assign(kind=np.where(table["class"] == 1, "hypo", "")).drop(columns="class")
    ddf = dd.from_pandas(named, npartitions=3)
    X, y = sdask.sample_dask(ddf, "kind", anomaly_value="hypo", id_column="rid", sample_size=10**6, client=client)
    assert len(X) == len(table)
    assert np.array_equal(y, table["class"].to_numpy())
    with pytest.raises(DataError, match="no label column"):
        sdask.sample_dask(ddf, "class", client=client)
    with pytest.raises(DataError, match="values other than 0/1"):
        sdask.sample_dask(ddf, "kind", client=client)


# --------------------------------------------------------------------------- optional dependency


def test_missing_dask_raises(monkeypatch, table, models):
    for name in [m for m in sys.modules if m == "dask" or m.startswith("dask.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'deviation\[dask\]'"):
        sdask.score_dask(models["devnet"], table)
    with pytest.raises(MissingDependencyError, match=r"pip install 'deviation\[dask\]'"):
        sdask.fit_dask(table, "class")


def test_importing_deviation_does_not_import_dask():
    code = ("import sys, deviation, deviation.scale; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
