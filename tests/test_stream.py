import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from deviation import DataError, DevNet, Preprocessor, load_thyroid
from deviation.scale import iter_batches, sample_file, score_file


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    frame, y = load_thyroid(return_X_y=True, as_frame=True)
    frame = frame.copy()
    frame.insert(0, "id", [f"p{i}" for i in range(len(frame))])
    frame["class"] = y
    paths = {
        "csv": d / "t.csv", "gz": d / "t.csv.gz", "tsv": d / "t.tsv", "parquet": d / "t.parquet",
    }
    frame.to_csv(paths["csv"], index=False)
    frame.to_csv(paths["gz"], index=False, compression="gzip")
    frame.to_csv(paths["tsv"], index=False, sep="\t")
    frame.to_parquet(paths["parquet"], row_group_size=1000)
    return d, frame, paths


@pytest.fixture(scope="module")
def pipeline(files):
    _, frame, _ = files
    X = frame.drop(columns=["id", "class"])
    return Pipeline([("preprocessor", Preprocessor()), ("devnet", DevNet(random_state=0))]).fit(X, frame["class"])


@pytest.mark.parametrize("kind", ["csv", "gz", "tsv", "parquet"])
@pytest.mark.parametrize("batch_size", [777, 100_000])
def test_streamed_scores_equal_in_memory_scores_exactly(files, pipeline, kind, batch_size):
    d, frame, paths = files
    out = d / f"out-{kind}-{batch_size}.parquet"
    summary = score_file(pipeline, paths[kind], out, id_column="id", batch_size=batch_size)
    result = pd.read_parquet(out)
    expected = pipeline.decision_function(frame.drop(columns=["id", "class"]))
    assert summary.n_rows == len(frame) == len(result)
    assert list(result.columns) == ["id", "score", "p_value", "is_anomaly"]
    assert (result["id"] == frame["id"]).all()
    np.testing.assert_array_equal(result["score"].to_numpy(), expected)
    assert summary.n_flagged == int((expected > pipeline[-1].threshold_).sum())


def test_csv_output_and_batches_cover_every_row_once(files, pipeline):
    d, frame, paths = files
    sizes = [len(b) for b in iter_batches(paths["gz"], batch_size=1000)]
    assert sizes == [1000] * 7 + [200]
    out = d / "scores.csv.gz"
    score_file(pipeline, paths["csv"], out, confidence=0.99)
    result = pd.read_csv(out)
    assert len(result) == len(frame)
    assert ((result["score"] > pipeline[-1].threshold_for(0.99)) == result["is_anomaly"].astype(bool)).all()


def test_failure_midway_leaves_no_file(files, pipeline, monkeypatch):
    d, _, paths = files
    out = d / "never.parquet"
    calls = {"n": 0}
    # the stream preprocesses in a background thread and scores with the pipeline's last step
    devnet = pipeline.steps[-1][1]
    original = devnet.decision_function

    def flaky(X):
        calls["n"] += 1
        if calls["n"] == 3:
            raise DataError("boom")
        return original(X)

    monkeypatch.setattr(devnet, "decision_function", flaky)
    with pytest.raises(DataError, match="boom"):
        score_file(pipeline, paths["parquet"], out, batch_size=1000)
    assert not out.exists()
    assert not [p for p in d.iterdir() if p.name.startswith(".never")]
    with pytest.raises(DataError, match="does not exist"):
        score_file(pipeline, paths["csv"], d / "missing" / "o.csv")


def test_sample_keeps_every_anomaly_and_a_uniform_unlabeled_sample(files):
    _, frame, paths = files
    n_unlabeled = int((frame["class"] == 0).sum())
    t = sample_file(paths["csv"], "class", sample_size=1000, id_column="id", random_state=0, batch_size=999)
    assert t.y.sum() == 534 and (t.y == 0).sum() == 1000
    assert "id" not in t.X.columns and "class" not in t.X.columns
    again = sample_file(paths["parquet"], "class", sample_size=1000, id_column="id", random_state=0, batch_size=999)
    pd.testing.assert_frame_equal(t.X, again.X, check_dtype=False)
    # uniform: over many seeds, each unlabeled row is kept with probability 1000 / 6666;
    # checked on the share of the sample drawn from the first half of the file
    expected = int((frame["class"][:3600] == 0).sum()) / n_unlabeled
    shares = []
    for seed in range(40):
        s = sample_file(paths["parquet"], "class", sample_size=1000, random_state=seed, batch_size=2500)
        kept = s.X.loc[s.y == 0, "id"].str[1:].astype(int)
        assert kept.is_monotonic_increasing  # file order is kept
        shares.append((kept < 3600).mean())
    assert abs(np.mean(shares) - expected) < 0.01
    assert np.std(shares) > 0  # the seeds do differ


def test_a_model_trained_on_a_sample_learns_like_one_trained_on_everything(files):
    _, frame, paths = files
    X = frame.drop(columns=["id", "class"])
    y = frame["class"]
    t = sample_file(paths["csv"], "class", sample_size=3000, id_column="id", random_state=1)
    sampled = Pipeline([("preprocessor", Preprocessor()), ("devnet", DevNet(random_state=0))]).fit(t.X, t.y)
    full = Pipeline([("preprocessor", Preprocessor()), ("devnet", DevNet(random_state=0))]).fit(X, y)
    auc_sampled = roc_auc_score(y, sampled.decision_function(X))
    auc_full = roc_auc_score(y, full.decision_function(X))
    assert auc_sampled > 0.8 and abs(auc_sampled - auc_full) < 0.05


def test_bad_streams(files, tmp_path):
    _, _, paths = files
    with pytest.raises(DataError, match="label column"):
        sample_file(paths["csv"], "nope")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n" + "1,2\n" * 10 + "3\n")
    with pytest.raises(DataError):
        list(iter_batches(bad))
    with pytest.raises(DataError):
        sample_file(paths["csv"], "class", sample_size=0)


def test_a_bad_cell_is_named_by_its_row_of_the_file(tmp_path):
    # the preprocessing counts rows within a batch; the message counts them in the file
    rng = np.random.default_rng(0)
    n = 2500
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M"),
                          "amount": rng.normal(size=n).round(3), "label": (np.arange(n) % 50 == 0).astype(int)})
    X, y = frame.drop(columns="label"), frame["label"].to_numpy()
    model = Pipeline([("p", Preprocessor()), ("d", DevNet(epochs=1, batches_per_epoch=2, random_state=0))]).fit(X, y)
    frame.loc[1499, "when"] = "notadate"  # data row 1500 of the file, row 500 of its second batch
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"holds 'notadate' \(data row 1500\)"):
        score_file(model, tmp_path / "bad.csv", tmp_path / "out.csv", batch_size=1000)
    assert not (tmp_path / "out.csv").exists()
