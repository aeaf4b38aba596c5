"""DevNet presets: "paper" (the paper's single network) and "default" (a min-max network and a
quantile-view network, merged into one network whose score is the mean of theirs)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile

import numpy as np
import pandas as pd
import pytest
import safetensors.numpy
import scipy.sparse as sp

from deviation import DevNet, ModelFileError, ParameterError, load, load_thyroid, save
from deviation.explain import explain
from deviation.features import InputView
from deviation.mlp import forward_numpy, glorot_uniform_init, merge_networks
from deviation.persistence import dumps, loads, read_model_info
from deviation.persistence.devnet import devnet_from_config as _devnet_from_config
from deviation.persistence.devnet import devnet_to_config as _devnet_to_config
from deviation.persistence.view import view_from_tensors, view_to_tensors
from deviation.protocol import evaluate_scores, paper_split

FAST = {"epochs": 3, "batches_per_epoch": 5, "random_state": 0}
PRESETS = ["paper", "default"]


@pytest.fixture(scope="module")
def fitted(thyroid):
    """One briefly trained model per preset, on all of thyroid."""
    X, y = thyroid
    return {preset: DevNet(**FAST, preset=preset).fit(X, y) for preset in PRESETS}


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def rebuild(raw: bytes, change_config=None, change_tensors=None) -> bytes:
    """Rewrite config.json and/or the tensors of a model file, with every checksum valid.

    Written from docs/model-files.md: a zip of manifest.json (sizes and SHA-256 of the
    two other members), config.json and weights.safetensors, whose comment ends with the
    SHA-256 of every byte before it.
    """
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        config = json.loads(zf.read("config.json"))
        weights = zf.read("weights.safetensors")
    if change_config is not None:
        change_config(config)
    if change_tensors is not None:
        tensors = safetensors.numpy.load(weights)
        change_tensors(tensors)
        weights = safetensors.numpy.save(tensors)
    config_bytes = json.dumps(config).encode()
    manifest = {
        "format": "deviation-model",
        "format_version": 1,
        "files": {
            name: {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
            for name, content in (("config.json", config_bytes), ("weights.safetensors", weights))
        },
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("config.json", config_bytes)
        zf.writestr("weights.safetensors", weights)
        zf.comment = b"deviation-model sha256=" + b"0" * 64
    out = bytearray(buffer.getvalue())
    out[-64:] = hashlib.sha256(bytes(out[:-64])).hexdigest().encode()
    return bytes(out)


# --------------------------------------------------------------------------- the parameter


@pytest.mark.parametrize("value", ["fast", "Paper", "", None, 1])
def test_unknown_preset_is_refused_and_named(thyroid, value):
    X, y = thyroid
    with pytest.raises(ParameterError, match="The 'preset' parameter of DevNet must be one of"):
        DevNet(preset=value).fit(X[:50], y[:50])


def test_default_is_the_default_preset():
    assert DevNet().preset == "default"
    assert DevNet().get_params()["preset"] == "default"


# --------------------------------------------------------------------------- the merged network


@pytest.mark.parametrize("hidden", [(), (7,), (6, 3)], ids=["linear", "depth2", "depth3"])
def test_merged_network_scores_the_mean_of_its_members(hidden):
    rng = np.random.default_rng(0)
    widths = (5, 3)  # the members read input blocks of different widths
    members = []
    for width in widths:
        coefs, intercepts = glorot_uniform_init(rng, width, hidden)
        # non-zero biases, so that a wrong merge of the biases shows
        intercepts = [rng.normal(size=b.shape).astype(np.float32) for b in intercepts]
        members.append((coefs, intercepts))
    if hidden:
        # the two members of different sizes: the second one twice as wide in its first layer
        coefs, intercepts = glorot_uniform_init(rng, widths[1], (hidden[0] * 2, *hidden[1:]))
        intercepts = [rng.normal(size=b.shape).astype(np.float32) for b in intercepts]
        members[1] = (coefs, intercepts)
    coefs, intercepts = merge_networks(members)
    assert len(coefs) == len(hidden) + 1 and coefs[0].shape[0] == sum(widths)
    assert all(c.dtype == np.float32 for c in coefs + intercepts)
    X = rng.normal(size=(200, sum(widths))).astype(np.float32)
    blocks = [X[:, :widths[0]], X[:, widths[0]:]]
    expected = np.mean([forward_numpy(np.ascontiguousarray(b), c, i) for b, (c, i) in zip(blocks, members)], axis=0)
    np.testing.assert_allclose(forward_numpy(X, coefs, intercepts), expected, rtol=1e-5, atol=1e-5)
    # a member's score does not depend on the other member's input block
    only_first = X.copy()
    only_first[:, widths[0]:] = 0
    np.testing.assert_allclose(
        forward_numpy(only_first, coefs, intercepts) - forward_numpy(X, coefs, intercepts),
        (forward_numpy(np.zeros((200, widths[1]), np.float32), *members[1]) - forward_numpy(blocks[1].copy(), *members[1])) / 2,
        rtol=1e-5, atol=1e-5,
    )


def test_default_preset_on_thyroid_merges_two_networks(fitted):
    model = fitted["default"]
    view = model.view_
    assert model.n_networks_ == 2 and isinstance(view, InputView)
    # thyroid: 21 columns, 6 of them continuous (the others are 0/1); the quantile network reads
    # the 6 quantile columns and the 15 binary ones as they are
    assert view.n_features_in == 21 and view.n_continuous == 6 and view.n_binary == 15
    assert view.n_features_out == 42
    assert sorted(np.r_[view.continuous, view.binary].tolist()) == list(range(21))
    X = load_thyroid(return_X_y=True)[0][:50]
    Z = view.transform(X)
    np.testing.assert_array_equal(Z[:, 27:], Z[:, view.binary])  # binary columns, min-max scaled: 0/1 as given
    np.testing.assert_array_equal(Z[:, 27:], X[:, view.binary])
    # more binary columns than continuous ones: each network is the paper's (one hidden layer of
    # 20 units, learning rate 1e-3)
    assert model.hidden_layer_sizes_ == (20,) and model.learning_rate_ == 1e-3
    assert [c.shape for c in model.coefs_] == [(42, 40), (40, 1)]
    assert [b.shape for b in model.intercepts_] == [(40,), (1,)]
    # block-diagonal: the min-max network reads the 21 min-max columns only, the other the 21 others
    assert not model.coefs_[0][:21, 20:].any() and not model.coefs_[0][21:, :20].any()
    assert model.coefs_[0][:21, :20].any() and model.coefs_[0][21:, 20:].any()
    paper = fitted["paper"]
    assert paper.n_networks_ == 1 and paper.view_ is None and paper.coefs_[0].shape == (21, 20)
    assert paper.hidden_layer_sizes_ == (20,) and paper.learning_rate_ == 1e-3
    assert len(model.loss_curve_) == len(paper.loss_curve_) == FAST["epochs"]


def test_mostly_continuous_input_gets_two_deeper_networks():
    rng = np.random.default_rng(0)
    X = np.c_[rng.lognormal(size=(400, 3)), rng.random(400) < 0.4]  # 3 continuous columns, 1 binary
    y = np.zeros(400, dtype=int)
    y[:15] = 1
    model = DevNet(**FAST).fit(X, y)
    assert model.n_networks_ == 2 and model.view_.n_continuous == 3 and model.view_.n_binary == 1
    # each network: two hidden layers of 20 units, learning rate 2e-3
    assert model.hidden_layer_sizes_ == (20, 20) and model.learning_rate_ == 2e-3
    assert [c.shape for c in model.coefs_] == [(8, 40), (40, 40), (40, 1)]
    assert not model.coefs_[0][:4, 20:].any() and not model.coefs_[0][4:, :20].any()
    # the second layers never mix the two networks
    assert not model.coefs_[1][:20, 20:].any() and not model.coefs_[1][20:, :20].any()
    loaded = loads(dumps(model))
    assert loaded.hidden_layer_sizes_ == (20, 20) and same_bits(loaded.decision_function(X), model.decision_function(X))
    # more binary columns than continuous ones: the paper's network twice
    X2 = np.c_[X, rng.random(400) < 0.5, rng.random(400) < 0.5, rng.random(400) < 0.5]
    model2 = DevNet(**FAST).fit(X2, y)
    assert model2.view_.n_binary == 4 and model2.hidden_layer_sizes_ == (20,) and model2.learning_rate_ == 1e-3
    loaded2 = loads(dumps(model2))
    assert loaded2.hidden_layer_sizes_ == (20,)
    assert same_bits(loaded2.decision_function(X2), model2.decision_function(X2))


def test_default_preset_is_far_more_accurate_on_thyroid(thyroid):
    """The paper's protocol (30 labeled anomalies, 2% contamination), three splits."""
    X, y = thyroid
    pr = {"paper": [], "default": [], "shuffled": []}
    for seed in range(3):
        s = paper_split(X, y, np.random.default_rng(seed))
        for preset in PRESETS:
            model = DevNet(preset=preset, random_state=seed).fit(s.X_train, s.y_train)
            pr[preset].append(evaluate_scores(s.y_test, model.decision_function(s.X_test))["auc_pr"])
        shuffled = np.random.default_rng(seed).permutation(s.y_train)
        model = DevNet(random_state=seed).fit(s.X_train, shuffled)
        pr["shuffled"].append(evaluate_scores(s.y_test, model.decision_function(s.X_test))["auc_pr"])
    assert np.mean(pr["default"]) >= np.mean(pr["paper"]) + 0.2, pr
    # the default learns from the labels, not from the view alone
    assert np.mean(pr["default"]) >= np.mean(pr["shuffled"]) + 0.2, pr
    assert all(d > s for d, s in zip(pr["default"], pr["shuffled"])), pr


# --------------------------------------------------------------------------- scoring


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("hidden", [(20,), (), (16, 8)])
def test_a_rows_score_does_not_depend_on_the_other_rows(thyroid, hidden, preset):
    X, y = thyroid
    model = DevNet(hidden, **FAST, preset=preset).fit(X, y)
    assert model.n_networks_ == (1 if preset == "paper" else 2)
    together = model.decision_function(X[:100])
    # thyroid's X is column-major: the memory layout of a batch must not matter either
    assert X.flags["F_CONTIGUOUS"]
    assert same_bits(together, model.decision_function(np.ascontiguousarray(X[:100])))
    one_by_one = np.array([model.decision_function(X[i : i + 1])[0] for i in range(100)])
    assert same_bits(together, one_by_one)
    reversed_rows = model.decision_function(X[:100][::-1])[::-1]
    assert same_bits(together, np.ascontiguousarray(reversed_rows))
    # rows far outside the training range score like the others, one by one or together
    shifted = X[:100] * 3.0 - 1.0
    assert same_bits(
        model.decision_function(shifted),
        np.array([model.decision_function(shifted[i : i + 1])[0] for i in range(100)]),
    )


@pytest.mark.parametrize("preset", ["default", "paper"])
def test_explicit_sizes_and_rate_override_the_presets(thyroid, preset):
    X, y = thyroid
    model = DevNet(**FAST, preset=preset, hidden_layer_sizes=(8,), learning_rate=5e-3).fit(X, y)
    n = 1 if preset == "paper" else 2
    assert model.hidden_layer_sizes_ == (8,) and model.learning_rate_ == 5e-3
    assert [c.shape[1] for c in model.coefs_] == [8 * n, 1]
    # the rate reaches the optimiser: another rate, other weights
    other = DevNet(**FAST, preset=preset, hidden_layer_sizes=(8,), learning_rate=1e-3).fit(X, y)
    assert not np.array_equal(model.coefs_[0], other.coefs_[0])
    # None is the preset's: the explicit paper values give the paper preset's bits
    if preset == "paper":
        explicit = DevNet(**FAST, preset="paper", hidden_layer_sizes=(20,), learning_rate=1e-3).fit(X, y)
        assert same_bits(explicit.decision_function(X), DevNet(**FAST, preset="paper").fit(X, y).decision_function(X))
    loaded = loads(dumps(model))
    assert loaded.hidden_layer_sizes_ == (8,) and loaded.learning_rate_ == 5e-3
    assert same_bits(loaded.decision_function(X), model.decision_function(X))


def test_sparse_input_trains_the_papers_network(thyroid):
    X, y = thyroid
    Xs = sp.csr_matrix(X)
    model = DevNet(**FAST).fit(Xs, y)
    assert model.n_networks_ == 1 and model.view_ is None and model.coefs_[0].shape == (21, 20)
    assert model.hidden_layer_sizes_ == (20,) and model.learning_rate_ == 1e-3
    paper = DevNet(**FAST, preset="paper").fit(Xs, y)
    assert same_bits(model.decision_function(Xs), paper.decision_function(Xs))


def test_all_binary_input_gets_the_min_max_view_and_one_network():
    rng = np.random.default_rng(0)
    X = (rng.random((300, 6)) < 0.3).astype(np.float64)
    X[:, 2] = 1.0  # a constant column: range 1, min-max gives 0
    y = np.zeros(300, dtype=int)
    y[:12] = 1
    model = DevNet(**FAST).fit(X, y)
    assert model.n_networks_ == 1 and model.view_ is not None
    assert model.view_.n_continuous == 0 and model.view_.n_features_out == 6
    assert model.coefs_[0].shape == (6, 20) and len(model.coefs_) == 2
    assert model.hidden_layer_sizes_ == (20,) and model.learning_rate_ == 1e-3
    np.testing.assert_array_equal(model.view_.transform(X), np.where(np.arange(6) == 2, 0.0, X))
    loaded = loads(dumps(model))
    assert loaded.n_networks_ == 1 and loaded.view_.n_continuous == 0
    assert same_bits(loaded.decision_function(X), model.decision_function(X))


def test_wide_dense_model_scores_sparse_rows():
    """A default-preset model trained on dense rows wider than the sparse threshold scores CSR rows."""
    rng = np.random.default_rng(0)
    X = (rng.random((60, 16_400)) < 0.01).astype(np.float64)
    X[:, 0] = rng.normal(size=60)
    y = np.zeros(60, dtype=int)
    y[:5] = 1
    model = DevNet(epochs=1, batches_per_epoch=2, random_state=0).fit(X, y)
    assert model.n_networks_ == 2
    assert same_bits(model.decision_function(sp.csr_matrix(X)), model.decision_function(X))


def test_rows_far_outside_a_tiny_training_range_get_finite_scores():
    rng = np.random.default_rng(0)
    X = rng.random((100, 3))
    X[:, 1] = rng.random(100) * 1e-300  # continuous, with a range of about 1e-300
    y = np.zeros(100, dtype=int)
    y[:5] = 1
    scores = {}
    for preset in PRESETS:
        model = DevNet(**FAST, preset=preset).fit(X, y)
        rows = np.repeat(X[:1], 4, axis=0)
        rows[:, 1] = [1.0, -1.0, 1e-290, 1e30]
        scores[preset] = model.decision_function(rows)
        assert np.isfinite(scores[preset]).all(), (preset, scores[preset])
    # the training rows still score as before (the clip only touches far-away values)
    model = DevNet(**FAST).fit(X, y)
    view = model.view_.transform(X)
    assert np.isfinite(view).all() and view[:, :3].min() >= 0 and view[:, :3].max() <= 1


# --------------------------------------------------------------------------- persistence


@pytest.mark.parametrize("preset", PRESETS)
def test_save_and_load_keep_the_preset_and_the_bits(fitted, thyroid, tmp_path, preset):
    X, _ = thyroid
    model = fitted[preset]
    expected = model.decision_function(X)
    for loaded in (load(save(model, tmp_path / "m.model")), loads(dumps(model))):
        assert loaded.preset == preset and loaded.get_params() == model.get_params()
        assert loaded.n_networks_ == model.n_networks_ == (1 if preset == "paper" else 2)
        assert same_bits(loaded.decision_function(X), expected)
        assert same_bits(loaded.decision_function(sp.csr_matrix(X)), model.decision_function(sp.csr_matrix(X)))
        assert (loaded.view_ is None) == (preset == "paper")
        if loaded.view_ is not None:
            for name, array in view_to_tensors(model.view_).items():
                assert same_bits(view_to_tensors(loaded.view_)[name], array), name
    info = read_model_info(tmp_path / "m.model")
    assert info["params"]["preset"] == preset and info["fitted"]["n_networks_"] == model.n_networks_


def test_a_file_without_preset_loads_as_the_paper_model(fitted, thyroid):
    """Files written before presets existed have neither the parameter nor n_networks_."""
    X, _ = thyroid
    paper = fitted["paper"]

    def make_old(config):
        del config["params"]["preset"]
        del config["fitted"]["n_networks_"]

    old = loads(rebuild(dumps(paper), make_old))
    assert old.preset == "paper" and old.n_networks_ == 1 and old.view_ is None
    assert same_bits(old.decision_function(X), paper.decision_function(X))
    # the same through the config directly
    config, tensors = _devnet_to_config(paper)
    del config["params"]["preset"]
    assert _devnet_from_config(config, tensors).preset == "paper"
    # a default-preset file stripped of its preset cannot pass for an old one: old files hold no view
    config, tensors = _devnet_to_config(fitted["default"])
    del config["params"]["preset"]
    with pytest.raises(ModelFileError, match="preset='paper'"):
        _devnet_from_config(config, tensors)


def _view_tensors(model):
    return {name: array.copy() for name, array in view_to_tensors(model.view_).items()}


def _unsorted(t):
    t["view.quantiles"][[0, -1], 0] = t["view.quantiles"][[-1, 0], 0]


def _nan_min(t):
    t["view.data_min"][3] = np.nan


CORRUPTIONS = {
    "unsorted quantiles": (_unsorted, "not sorted"),
    "short data_min": (lambda t: t.update({"view.data_min": t["view.data_min"][:-1]}), "inconsistent shapes"),
    "quantiles of another width": (lambda t: t.update({"view.quantiles": t["view.quantiles"][:, :-1]}), "inconsistent shapes"),
    "references of another length": (lambda t: t.update({"view.references": t["view.references"][:-1]}), "inconsistent shapes"),
    "column out of range": (lambda t: t["view.continuous"].__setitem__(0, 21), "outside"),
    "negative column": (lambda t: t["view.continuous"].__setitem__(0, -1), "outside"),
    "repeated column": (lambda t: t["view.continuous"].__setitem__(1, t["view.continuous"][0]), "outside"),
    "NaN minimum": (_nan_min, "non-finite"),
    "zero range": (lambda t: t["view.data_range"].__setitem__(0, 0.0), "non-positive range"),
    "levels above 1": (lambda t: t.update({"view.references": t["view.references"] * 2}), "outside [0, 1]"),
    "float column indices": (lambda t: t.update({"view.continuous": t["view.continuous"].astype(np.float64)}), "int64"),
    "float32 quantiles": (lambda t: t.update({"view.quantiles": t["view.quantiles"].astype(np.float32)}), "float64"),
    "missing references": (lambda t: t.pop("view.references"), "lacks view.references"),
    "binary column out of range": (lambda t: t["view.binary"].__setitem__(0, 21), "binary columns are outside"),
    "binary column also continuous": (
        lambda t: t["view.binary"].__setitem__(0, t["view.continuous"][0]), "overlap the continuous"),
    "float binary indices": (lambda t: t.update({"view.binary": t["view.binary"].astype(np.float64)}), "int64"),
    "binary columns without a continuous one": (
        lambda t: t.update({"view.continuous": t["view.continuous"][:0], "view.quantiles": t["view.quantiles"][:, :0]}),
        "binary columns are outside"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupted_view_tensors_are_refused(fitted, corruption):
    change, fragment = CORRUPTIONS[corruption]
    tensors = _view_tensors(fitted["default"])
    change(tensors)
    with pytest.raises(ValueError, match=re.escape(fragment)) as info:
        view_from_tensors(tensors, 21)
    assert type(info.value) is ValueError
    # in a model file, the same problem is a ModelFileError
    config, all_tensors = _devnet_to_config(fitted["default"])
    all_tensors = {k: v for k, v in all_tensors.items() if not k.startswith("view.")}
    all_tensors.update(tensors)
    with pytest.raises(ModelFileError, match=re.escape(fragment)):
        _devnet_from_config(config, all_tensors)


def test_corrupted_view_in_a_file_is_a_model_file_error(fitted, thyroid, tmp_path):
    X, _ = thyroid
    raw = dumps(fitted["default"])
    # the hand-built file loads when nothing is changed
    assert same_bits(loads(rebuild(raw)).decision_function(X), fitted["default"].decision_function(X))
    path = tmp_path / "bad.model"
    path.write_bytes(rebuild(raw, change_tensors=_unsorted))
    with pytest.raises(ModelFileError, match="quantiles are not sorted"):
        load(path)
    path.write_bytes(rebuild(raw, change_tensors=lambda t: t.pop("view.data_range")))
    with pytest.raises(ModelFileError, match="lacks view.data_range"):
        load(path)


def test_unknown_view_tensors_and_inconsistent_network_counts_are_refused(fitted):
    config, tensors = _devnet_to_config(fitted["default"])
    with pytest.raises(ModelFileError, match="unknown tensors"):
        _devnet_from_config(config, {**tensors, "view.extra": np.zeros(3)})
    config["fitted"]["n_networks_"] = 3
    with pytest.raises(ModelFileError, match="n_networks_=3 is inconsistent"):
        _devnet_from_config(config, tensors)
    config, tensors = _devnet_to_config(fitted["paper"])
    config["fitted"]["n_networks_"] = 2
    with pytest.raises(ModelFileError, match="n_networks_"):
        _devnet_from_config(config, tensors)


# --------------------------------------------------------------------------- explain


def test_explain_a_default_preset_model(fitted, thyroid):
    X, _ = thyroid
    model = fitted["default"]
    rows = np.arange(0, 7200, 36)
    ex = explain(model, X, rows=rows)
    assert ex.values.shape == (len(rows), model.n_features_in_) == (200, 21)
    assert np.abs(ex.completeness_gap()).max() < 1e-4
    np.testing.assert_allclose(ex.scores, model.decision_function(X[rows]), atol=1e-5)
    base = model.decision_function(model.baseline_[None, :])[0]
    assert ex.baseline_score == pytest.approx(base, abs=1e-5)
    # the baseline row itself gets no attribution in either view
    on_base = explain(model, model.baseline_[None, :].astype(np.float64))
    np.testing.assert_allclose(on_base.values, 0.0, atol=1e-6)


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize("preset,n_networks", [("paper", 1), ("default", 2)])
def test_cli_fit_preset_is_saved(tmp_path, capsys, preset, n_networks):
    from deviation.cli import main

    X, y = load_thyroid(return_X_y=True)
    frame = pd.DataFrame(X[:1500], columns=[f"f{i}" for i in range(X.shape[1])])
    frame["class"] = y[:1500]
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    model = tmp_path / "m.model"
    argv = ["fit", str(data), "--label", "class", "-o", str(model), "--epochs", "2",
            "--batches-per-epoch", "3", "--seed", "0", "-q"]
    if preset == "paper":
        argv += ["--preset", "paper"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["info", str(model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"]["preset"] == preset
    assert info["fitted"]["n_networks_"] == n_networks
    assert info["layers"][0] == (21 if preset == "paper" else 42)  # default: 21 min-max, 6 quantile, 15 binary
    assert load(model)[-1].preset == preset


def test_view_quantiles_are_those_of_quantile_transformer():
    from sklearn.preprocessing import QuantileTransformer

    from deviation.features import _quantiles

    rng = np.random.default_rng(0)
    # skewed, tied (few distinct values) and uniform columns
    X = np.c_[rng.lognormal(size=3000), rng.integers(0, 5, 3000), rng.random(3000)]
    qt = QuantileTransformer(n_quantiles=1000, output_distribution="normal", subsample=None).fit(X)
    np.testing.assert_allclose(_quantiles(X, qt.references_), qt.quantiles_, rtol=0, atol=1e-12)
    view = InputView.fit(X, np.random.default_rng(1))
    # the precomputed map (issue 18): within 2e-6 of the transformer, plus float32 rounding;
    # the exact path that training reads: bit for bit
    np.testing.assert_allclose(view.quantile(X), qt.transform(X), atol=2.5e-6)
    d = view.n_features_in
    np.testing.assert_array_equal(view.transform(X, exact=True)[:, d:], qt.transform(X).astype(np.float32))


def test_the_quantile_network_reads_the_binary_columns_and_old_views_still_load():
    rng = np.random.default_rng(0)
    X = np.c_[rng.lognormal(size=500), rng.random(500) < 0.3, rng.random(500), rng.random(500) < 0.5].astype(float)
    view = InputView.fit(X, np.random.default_rng(1))
    np.testing.assert_array_equal(view.continuous, [0, 2])
    np.testing.assert_array_equal(view.binary, [1, 3])
    Z = view.transform(X)
    assert Z.shape == (500, 4 + 2 + 2) and view.n_features_out == 8
    np.testing.assert_array_equal(Z[:, 6:], X[:, [1, 3]])  # 0/1 as given
    np.testing.assert_array_equal(view.source_columns(), [0, 1, 2, 3, 0, 2, 1, 3])
    again = view_from_tensors(view_to_tensors(view), 4)
    assert again.transform(X).tobytes() == Z.tobytes()
    # the view of files written before issue 17: continuous columns only, no view.binary tensor
    old = InputView.fit(X, np.random.default_rng(1), with_binary=False)
    tensors = view_to_tensors(old)
    assert "view.binary" not in tensors and old.n_features_out == 6
    loaded = view_from_tensors(tensors, 4)
    assert loaded.n_binary == 0 and loaded.transform(X).tobytes() == Z[:, :6].tobytes()
