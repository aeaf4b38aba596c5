"""ONNX export: ONNX Runtime's answers equal ``deviation score``'s on real data and on mixed tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA
from scipy.stats import norm

from deviation import cli
from deviation.datasets import thyroid_path

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from deviation.export import ExportError, _Graph, input_columns, to_onnx  # noqa: E402

FAST = ["--epochs", "10", "--batches-per-epoch", "20", "--seed", "0", "-q"]
SOLAR = SHARED_DATA / "categorical" / "solar-flare_FvsAll-cleaned.arff"


def mixed_table(n: int, seed: int, unseen: bool = False) -> pd.DataFrame:
    """Numbers with missing cells, categories with rare, missing and (optionally) unseen values, an id, a label."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(3, 1, n), 2)
    age = rng.integers(18, 90, n).astype(float)
    shop = rng.choice(["north", "south", "east", "west", "online"], n, p=[0.3, 0.3, 0.2, 0.1, 0.1]).astype(object)
    shop[rng.choice(n, 3, replace=False)] = "kiosk"  # rare: pooled into <infrequent>
    channel = rng.choice(["web", "app", "phone"], n).astype(object)
    label = (rng.random(n) < 0.05).astype(int)
    amount[label == 1] *= 8
    frame = pd.DataFrame({"txn_id": [f"t{seed}-{i:05d}" for i in range(n)], "amount": amount, "age": age,
                          "shop": shop, "channel": channel, "flag": rng.integers(0, 2, n), "label": label})
    frame.loc[rng.random(n) < 0.05, "amount"] = np.nan
    frame.loc[rng.random(n) < 0.05, "channel"] = None
    if unseen:
        frame.loc[rng.random(n) < 0.05, "shop"] = "mars"
    return frame


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    shutil.copy(thyroid_path(), d / "thyroid.csv")
    mixed_table(800, 0).to_csv(d / "mixed.csv", index=False)
    mixed_table(300, 1, unseen=True).drop(columns="label").to_csv(d / "mixed_new.csv", index=False)
    return d


def fit(workdir: Path, data: str, name: str, *options: str) -> Path:
    out = workdir / f"{name}.model"
    if not out.exists():
        assert cli.main(["fit", str(workdir / data), "-o", str(out), *FAST, *options]) == 0
    return out


def scored(workdir: Path, model: Path, data: Path) -> pd.DataFrame:
    out = workdir / f"{model.stem}-{data.stem}.csv"
    assert cli.main(["score", str(model), str(data), "-o", str(out), "-q"]) == 0
    return pd.read_csv(out)


def feeds(model, data: Path) -> dict[str, np.ndarray]:
    """The graph's inputs for the rows of a CSV or ARFF file: numbers as float32 (NaN missing), text as it is."""
    if data.suffix == ".arff":
        from deviation import read_table

        raw = read_table(data, label="class").X.astype(object).where(lambda f: f.notna(), "")
    else:
        raw = pd.read_csv(data, dtype=str, keep_default_na=False)
    out = {}
    for name, kind in input_columns(model):
        if kind == "float":
            out[name] = pd.to_numeric(raw[name].replace("", np.nan)).to_numpy(np.float32).reshape(-1, 1)
        else:
            out[name] = raw[name].astype(str).to_numpy(dtype=object).reshape(-1, 1)
    return out


def run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, inputs)))


def check_against_score(workdir: Path, model_path: Path, data: Path) -> dict[str, np.ndarray]:
    onnx_path = workdir / f"{model_path.stem}.onnx"
    assert cli.main(["export", str(model_path), "-o", str(onnx_path), "-q"]) == 0
    onnx.checker.check_model(onnx.load(str(onnx_path)), full_check=True)
    from deviation import load

    model = load(model_path)
    got = run_onnx(onnx_path, feeds(model, data))
    want = scored(workdir, model_path, data)
    assert got["score"].dtype == np.float32 and got["score"].shape == (len(want),)
    np.testing.assert_allclose(got["score"], want["score"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["p_value"], want["p_value"], atol=1e-3, rtol=0)
    cut = float(onnx.load(str(onnx_path)).metadata_props[0].value)
    near = np.abs(want["score"].to_numpy() - cut) < 1e-4
    np.testing.assert_array_equal(got["is_anomaly"][~near], want["is_anomaly"].to_numpy()[~near].astype(bool))
    return got


@pytest.mark.parametrize("preset", ["default", "paper"])
def test_thyroid_onnx_equals_deviation_score(workdir, preset):
    model = fit(workdir, "thyroid.csv", f"thyroid-{preset}", "--label", "class", "--preset", preset)
    got = check_against_score(workdir, model, workdir / "thyroid.csv")
    y = pd.read_csv(workdir / "thyroid.csv")["class"].to_numpy()
    assert got["score"][y == 1].mean() > got["score"][y == 0].mean() + 0.5  # a real model, not zeros
    assert 0 < got["is_anomaly"].sum() < len(y)


def test_categorical_table_onnx_equals_deviation_score(workdir):
    if not SOLAR.exists():
        pytest.skip(f"{SOLAR} is not here (../shared/data)")
    model = fit(workdir, str(SOLAR), "solar", "--label", "class")
    from deviation import load

    assert all(kind == "string" for _, kind in input_columns(load(model)))
    check_against_score(workdir, model, SOLAR)


@pytest.mark.parametrize("scaling,preset", [("minmax", "default"), ("quantile", "paper"), ("standard", "default")])
def test_mixed_table_with_missing_rare_and_unseen_values(workdir, scaling, preset):
    model = fit(workdir, "mixed.csv", f"mixed-{scaling}-{preset}", "--label", "label", "--id-column", "txn_id",
                "--scaling", scaling, "--preset", preset)
    from deviation import load

    kinds = dict(input_columns(load(model)))
    assert kinds == {"amount": "float", "age": "float", "shop": "string", "channel": "string", "flag": "float"}
    new = workdir / "mixed_new.csv"
    raw = pd.read_csv(new, dtype=str, keep_default_na=False)
    assert (raw["amount"] == "").any() and (raw["channel"] == "").any() and (raw["shop"] == "mars").any()
    check_against_score(workdir, model, new)
    check_against_score(workdir, model, workdir / "mixed.csv")


def test_missing_values_are_nan_and_empty_strings(workdir):
    from deviation import load

    model_path = fit(workdir, "mixed.csv", "mixed-minmax-default", "--label", "label", "--id-column", "txn_id",
                     "--scaling", "minmax", "--preset", "default")
    model = load(model_path)
    session = ort.InferenceSession(to_onnx(model).SerializeToString())
    row = {"amount": [[np.nan]], "age": [[40.0]], "shop": [[""]], "channel": [["NA"]], "flag": [[1.0]]}
    inputs = {k: np.array(v, dtype=np.float32 if k in ("amount", "age", "flag") else object) for k, v in row.items()}
    score = session.run(["score"], inputs)[0]
    frame = pd.DataFrame({"amount": [np.nan], "age": [40.0], "shop": [None], "channel": [None], "flag": [1.0]})
    np.testing.assert_allclose(score, model.decision_function(frame), atol=1e-4)
    # a value never seen at fit scores as the <infrequent> level, as deviation score does
    inputs["shop"] = np.array([["kiosk"]], dtype=object)
    pooled = session.run(["score"], inputs)[0]
    inputs["shop"] = np.array([["mars"]], dtype=object)
    np.testing.assert_array_equal(session.run(["score"], inputs)[0], pooled)


def test_conformal_p_values_use_the_embedded_calibration_scores(workdir):
    from deviation import load

    model = load(fit(workdir, "thyroid.csv", "thyroid-paper", "--label", "class", "--preset", "paper"))
    est = model.steps[-1][1]
    X = pd.read_csv(workdir / "thyroid.csv").drop(columns="class")
    scores = model.decision_function(X)
    rng = np.random.default_rng(0)
    est.calibration_scores_ = np.sort(scores[rng.choice(len(scores), 500, replace=False)])
    proto = to_onnx(model)
    assert {p.key: p.value for p in proto.metadata_props}["p_values"] == "conformal"
    session = ort.InferenceSession(proto.SerializeToString())
    inputs = {c: X[c].to_numpy(np.float32).reshape(-1, 1) for c in X.columns}
    got_scores, got_p = session.run(["score", "p_value"], inputs)
    cal = est.calibration_scores_
    # (1 + #{calibration >= s}) / (n + 1) on Python's scores: the calibration rows themselves and their
    # duplicates tie exactly there, and must here too, although the graph's float32 sums differ by ~1e-6
    want = (1 + (cal[None, :] >= scores[:, None]).sum(axis=1)) / (len(cal) + 1)
    np.testing.assert_allclose(got_p, want, rtol=1e-6)
    assert got_p.min() == pytest.approx(1 / 501) and got_p.max() == pytest.approx(1.0)
    del est.calibration_scores_


def test_normal_quantile_matches_scipy_to_float32_precision():
    g = _Graph(onnx)
    g.nodes.append(onnx.helper.make_node("Identity", [g.normal_ppf("p")], ["z"]))
    graph = onnx.helper.make_graph(
        g.nodes, "ppf", [onnx.helper.make_tensor_value_info("p", onnx.TensorProto.DOUBLE, ["N"])],
        [onnx.helper.make_tensor_value_info("z", onnx.TensorProto.DOUBLE, ["N"])], g.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 19)])
    proto.ir_version = 9
    p = np.concatenate([np.geomspace(1e-7, 0.5, 20_000), 1 - np.geomspace(1e-7, 0.5, 20_000),
                        np.linspace(0.01, 0.99, 20_000), [0.02425, 1 - 0.02425]])
    z = ort.InferenceSession(proto.SerializeToString()).run(None, {"p": p})[0]
    want = norm.ppf(p)
    assert np.max(np.abs(z - want) / np.maximum(np.abs(want), 1e-3)) < 1e-8


def test_blends_sparse_models_and_dates_are_refused_with_one_line(workdir, tmp_path, capsys):
    import scipy.sparse as sp
    from sklearn.pipeline import Pipeline

    from deviation import DevNet, Preprocessor

    X = sp.random(200, 30, density=0.2, format="csr", random_state=0)
    y = np.zeros(200, dtype=int)
    y[:10] = 1
    sparse = Pipeline([("pre", Preprocessor()), ("devnet", DevNet(epochs=2, batches_per_epoch=2, random_state=0))])
    sparse.fit(X, y)
    with pytest.raises(ExportError, match="sparse"):
        to_onnx(sparse)
    from deviation.blend import ScoreBlend

    blend = ScoreBlend([("devnet", DevNet(epochs=2, batches_per_epoch=2)), ("paper", DevNet(preset="paper",
                        epochs=2, batches_per_epoch=2))], random_state=0).fit(X.toarray(), y)
    with pytest.raises(ExportError, match="blend"):
        to_onnx(blend)
    table = mixed_table(300, 2)
    table["when"] = pd.date_range("2024-01-01", periods=300, freq="7h").strftime("%Y-%m-%d %H:%M")
    table.to_csv(tmp_path / "dated.csv", index=False)
    assert cli.main(["fit", str(tmp_path / "dated.csv"), "--label", "label", "-o", str(tmp_path / "d.model"),
                     *FAST]) == 0
    capsys.readouterr()
    assert cli.main(["export", str(tmp_path / "d.model"), "-o", str(tmp_path / "d.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'when'" in err and "dates" in err and "Traceback" not in err
    assert not (tmp_path / "d.onnx").exists() and list(tmp_path.glob(".d.onnx*")) == []


def test_double_inputs_read_exactly_the_numbers_deviation_score_reads(workdir):
    from deviation import export_onnx, load

    model_path = fit(workdir, "mixed.csv", "mixed-standard-default", "--label", "label", "--id-column", "txn_id",
                     "--scaling", "standard", "--preset", "default")
    model = load(model_path)
    proto = export_onnx(model, workdir / "double.onnx", double=True)
    assert {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}["amount"] == onnx.TensorProto.DOUBLE
    inputs = {k: (v.astype(np.float64) if v.dtype == np.float32 else v)
              for k, v in feeds(model, workdir / "mixed_new.csv").items()}
    # exact float64 inputs: the CSV's own numbers, not a float32 rounding of them
    raw = pd.read_csv(workdir / "mixed_new.csv", dtype=str, keep_default_na=False)
    for c in ("amount", "age", "flag"):
        inputs[c] = pd.to_numeric(raw[c].replace("", np.nan)).to_numpy(np.float64).reshape(-1, 1)
    got = run_onnx(workdir / "double.onnx", inputs)
    want = scored(workdir, model_path, workdir / "mixed_new.csv")
    np.testing.assert_allclose(got["score"], want["score"], atol=2e-6, rtol=0)


def test_without_onnx_the_export_says_which_extra_to_install(monkeypatch, workdir):
    import sys

    from deviation import MissingDependencyError, load

    model = load(fit(workdir, "thyroid.csv", "thyroid-paper", "--label", "class", "--preset", "paper"))
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'deviation\[onnx\]'"):
        to_onnx(model)


@pytest.mark.parametrize("name", ["default", "paper", "devnet", "categorical"])
def test_model_files_of_earlier_versions_export_and_score_the_recorded_scores(name):
    from deviation import load

    legacy = Path(__file__).resolve().parent / "data" / "legacy"
    inputs = np.load(legacy / "inputs.npz")
    expected = np.load(legacy / "expected_scores.npz")[name]
    model = load(legacy / f"{name}.model")
    if name == "categorical":
        colour = inputs["categorical_colour"].astype(object).reshape(-1, 1)  # "" = missing, as in the recorded run
        feeds_ = {"a": inputs["categorical_a"], "b": inputs["categorical_b"]}
        feeds_ = {k: v.astype(np.float32).reshape(-1, 1) for k, v in feeds_.items()} | {"colour": colour}
    else:
        X = inputs["thyroid"] / (inputs["thyroid_scale"] if name == "devnet" else 1.0)
        feeds_ = {n: X[:, j].astype(np.float32).reshape(-1, 1) for j, (n, _) in enumerate(input_columns(model))}
    session = ort.InferenceSession(to_onnx(model).SerializeToString())
    np.testing.assert_allclose(session.run(["score"], feeds_)[0], expected, atol=1e-4, rtol=0)
