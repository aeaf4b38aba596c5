"""Conformal p-values, the decisions built on them, recalibration and drift (deviation.calibration)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control, norm

from deviation import DevNet, load, load_thyroid, save
from deviation.calibration import (
    benjamini_hochberg,
    calibration_rows,
    conformal_p_values,
    conformal_threshold,
    drift_report,
    top_k,
)
from deviation.datasets import thyroid_path
from deviation.estimator import _draw_calibration
from deviation.exceptions import ParameterError
from deviation.protocol import paper_split
from deviation.scale import score_file
from deviation.scoring import decide_all

LEGACY = Path(__file__).resolve().parent / "data" / "legacy"
ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deviation", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT)


# ------------------------------------------------------------------ the p-value itself
def _loo_p_values(values: np.ndarray) -> np.ndarray:
    """Each value's p-value against all the others, counted by hand as the formula says."""
    n = len(values) - 1
    return np.array([(1 + np.sum(np.delete(values, i) >= v)) / (n + 1) for i, v in enumerate(values)])


@pytest.mark.parametrize("seed", range(20))
def test_conformal_p_values_are_valid_on_the_lattice(seed):
    # exchangeable calibration and test scores: by symmetry, P(p <= alpha) is the share of the
    # n + 1 leave-one-out p-values at most alpha; it must be <= alpha for every alpha, ties included
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    values = rng.integers(0, int(rng.integers(1, 8)), size=n + 1).astype(np.float64)  # many ties
    by_hand = _loo_p_values(values)
    p = np.array([conformal_p_values(np.sort(np.delete(values, i)), [v])[0] for i, v in enumerate(values)])
    np.testing.assert_array_equal(p, by_hand)
    assert p.min() >= 1 / (n + 1)
    for alpha in [k / (n + 1) for k in range(n + 2)] + [0.05, 0.1, 0.5]:
        assert np.mean(p <= alpha) <= alpha + 1e-12


def test_conformal_p_values_without_ties_are_uniform_on_the_lattice():
    values = np.random.default_rng(0).normal(size=20)
    p = np.sort(_loo_p_values(values))
    np.testing.assert_allclose(p, np.arange(1, 21) / 20)


@pytest.mark.parametrize("seed", range(10))
def test_threshold_is_exactly_the_p_value_cut(seed):
    rng = np.random.default_rng(seed)
    calibration = np.sort(rng.integers(0, 30, size=int(rng.integers(1, 300))).astype(np.float64) / 7)
    scores = np.concatenate([calibration, rng.integers(-5, 40, size=500) / 7])
    p = conformal_p_values(calibration, scores)
    for alpha in (1e-4, 0.01, 0.05, 1 - 0.95, 0.1, 0.5, 0.999):
        cut = conformal_threshold(calibration, alpha)
        np.testing.assert_array_equal(scores > cut, p <= alpha)


def test_threshold_is_infinite_when_the_level_cannot_be_reached():
    assert conformal_threshold(np.arange(10.0), 0.05) == np.inf  # smallest p-value 1/11
    assert conformal_threshold(np.arange(19.0), 0.05) == 18.0  # 1/20 <= 0.05: above the largest


def test_calibration_size_rule():
    assert calibration_rows(10_000, "auto") == 2_000
    assert calibration_rows(100_000, "auto") == 5_000
    assert calibration_rows(50, "auto") == 0  # 10 rows could not reach p = 0.05
    assert calibration_rows(100, 0) == 0
    assert calibration_rows(100, 30) == 30
    assert calibration_rows(100, 0.25) == 25
    with pytest.raises(ParameterError, match="leaving none to train on"):
        calibration_rows(100, 100)


def test_hold_out_takes_unlabeled_rows_only_from_its_own_stream():
    y = np.zeros(100, dtype=np.int8)
    y[::10] = 1
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    rows = _draw_calibration(np.flatnonzero(y == 0), 20, rng)
    assert rng.bit_generator.state == before  # the training stream is untouched
    assert (y[rows] == 0).all() and len(set(rows)) == 20 and (np.diff(rows) > 0).all()
    np.testing.assert_array_equal(rows, _draw_calibration(np.flatnonzero(y == 0), 20, np.random.default_rng(3)))


def test_no_training_batch_draws_a_calibration_row(thyroid_split, monkeypatch):
    import deviation.estimator as estimator_module

    X_train, y_train, _, _ = thyroid_split
    drawn = []
    real = estimator_module.balanced_batches

    def spy(rng, unlabeled_idx, anomaly_idx, *args):
        drawn.append(np.asarray(unlabeled_idx))
        return real(rng, unlabeled_idx, anomaly_idx, *args)

    monkeypatch.setattr(estimator_module, "balanced_batches", spy)
    model = DevNet(random_state=0, epochs=2).fit(X_train, y_train)
    calibration = _draw_calibration(np.flatnonzero(y_train == 0), len(model.calibration_scores_),
                                    np.random.default_rng(0))
    assert len(drawn) == 1 and not np.isin(drawn[0], calibration).any()
    assert len(drawn[0]) + len(calibration) == int((y_train == 0).sum())
    np.testing.assert_array_equal(np.sort(model.decision_function(X_train[calibration])), model.calibration_scores_)


# ------------------------------------------------------------------ DevNet
@pytest.fixture(scope="module")
def fitted(thyroid_split):
    X_train, y_train, X_test, y_test = thyroid_split
    return DevNet(random_state=0, epochs=10).fit(X_train, y_train)


def test_fit_holds_out_a_fifth_of_the_unlabeled_rows(fitted, thyroid_split):
    _, y_train, _, _ = thyroid_split
    n_unlabeled = int((y_train == 0).sum())
    assert len(fitted.calibration_scores_) == round(0.2 * n_unlabeled)
    assert fitted.n_unlabeled_ == n_unlabeled - len(fitted.calibration_scores_)
    assert fitted.n_labeled_anomalies_ == int(y_train.sum())  # labeled anomalies are all trained on
    assert fitted.calibration_scores_.dtype == np.float64
    assert (np.diff(fitted.calibration_scores_) >= 0).all()
    assert fitted.threshold_ == conformal_threshold(fitted.calibration_scores_, 1 - 0.95)


def test_predict_is_the_conformal_p_value_at_the_level(fitted, thyroid_split):
    _, _, X_test, _ = thyroid_split
    p = fitted.p_values(X_test)
    np.testing.assert_array_equal(fitted.predict(X_test) == 1, p <= 1 - fitted.confidence)
    np.testing.assert_array_equal(p, conformal_p_values(fitted.calibration_scores_, fitted.decision_function(X_test)))
    prior = fitted.p_values(X_test, method="prior")
    np.testing.assert_allclose(prior, norm.sf(fitted.decision_function(X_test)))
    for c in (0.5, 0.9, 0.99):
        cut = fitted.threshold_for(c)
        np.testing.assert_array_equal(fitted.decision_function(X_test) > cut, p <= 1 - c)
    with pytest.raises(ParameterError, match="method must be"):
        fitted.p_values(X_test, method="bayes")


def test_hold_out_fits_are_reproducible(thyroid_split):
    X_train, y_train, X_test, _ = thyroid_split
    a = DevNet(random_state=5, epochs=3).fit(X_train, y_train)
    b = DevNet(random_state=5, epochs=3).fit(X_train, y_train)
    np.testing.assert_array_equal(a.calibration_scores_, b.calibration_scores_)
    np.testing.assert_array_equal(a.decision_function(X_test), b.decision_function(X_test))


def test_too_small_a_calibration_set_warns_and_flags_nothing(thyroid_split, caplog):
    X_train, y_train, X_test, _ = thyroid_split
    with caplog.at_level(logging.WARNING, logger="deviation"):
        model = DevNet(random_state=0, epochs=2, calibration_size=10).fit(X_train, y_train)
    assert "no p-value is below" in caplog.text
    assert model.threshold_ == np.inf
    assert model.predict(X_test).sum() == 0
    assert model.p_values(X_test).min() >= 1 / 11


def test_calibration_scores_round_trip_bit_for_bit(fitted, thyroid_split, tmp_path):
    _, _, X_test, _ = thyroid_split
    again = load(save(fitted, tmp_path / "m.model"))
    np.testing.assert_array_equal(again.calibration_scores_, fitted.calibration_scores_)
    assert again.threshold_ == fitted.threshold_
    np.testing.assert_array_equal(again.p_values(X_test), fitted.p_values(X_test))
    np.testing.assert_array_equal(again.predict(X_test), fitted.predict(X_test))


def test_models_written_before_calibration_use_the_prior(tmp_path):
    pipeline = load(LEGACY / "default.model")
    model = pipeline[-1]
    assert model.calibration_scores_ is None and model.calibration_size == 0
    X = pipeline[:-1].transform(np.load(LEGACY / "inputs.npz")["thyroid"])
    scores = model.decision_function(X)
    np.testing.assert_allclose(model.p_values(X), norm.sf(scores, model.prior_mean, model.prior_std))
    assert model.threshold_ == pytest.approx(norm.ppf(model.confidence))
    with pytest.raises(ParameterError, match="no calibration scores"):
        model.p_values(X, method="conformal")
    # calibrating one gives it conformal p-values
    model.calibrate(X[:40])
    assert len(model.calibration_scores_) == 40 and model.calibration_drift_ is None
    np.testing.assert_array_equal(model.predict(X) == 1, model.p_values(X) <= 1 - model.confidence)


# ------------------------------------------------------------------ recalibration and drift
@pytest.fixture(scope="module")
def half_split():
    X, y = load_thyroid(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    first, second = order[: len(y) // 2], order[len(y) // 2 :]
    y_weak = np.zeros(len(first), dtype=np.int8)
    y_weak[np.flatnonzero(y[first] == 1)[:30]] = 1
    model = DevNet(random_state=0, epochs=10).fit(X[first], y_weak)
    return model, X[second]


def test_recalibration_on_the_same_data_reports_no_drift(half_split, caplog):
    model, X_new = half_split
    model = DevNet.from_fitted(model.get_params(), _fitted_attributes(model))
    with caplog.at_level(logging.WARNING, logger="deviation"):
        model.calibrate(X_new)
    assert not model.calibration_drift_.drifted, model.calibration_drift_
    assert "drift" not in caplog.text
    assert model.calibration_drift_.message().startswith("no drift")
    assert len(model.calibration_scores_) == len(X_new)


def test_recalibration_on_shifted_data_reports_drift(half_split, caplog):
    model, X_new = half_split
    model = DevNet.from_fitted(model.get_params(), _fitted_attributes(model))
    shifted = X_new.copy()
    shifted[:, -6:] = np.clip(shifted[:, -6:] * 1.5 + 0.1, 0, None)  # the continuous columns moved
    old_threshold = model.threshold_
    with caplog.at_level(logging.WARNING, logger="deviation"):
        model.calibrate(shifted)
    drift = model.calibration_drift_
    assert drift.drifted and drift.statistic >= 0.1 and drift.p_value < 0.01
    assert drift.median_shift > 0.3  # the scores moved up
    assert "drift:" in caplog.text
    assert model.threshold_ != old_threshold


def test_calibrate_leaves_out_known_anomalies(fitted, thyroid_split):
    _, _, X_test, y_test = thyroid_split
    model = DevNet.from_fitted(fitted.get_params(), _fitted_attributes(fitted))
    model.calibrate(X_test, y_test)
    assert len(model.calibration_scores_) == int((y_test == 0).sum())


def test_drift_report_is_symmetric_in_plain_cases():
    rng = np.random.default_rng(0)
    same = drift_report(rng.normal(size=3000), rng.normal(size=3000), 1.645, 0.05)
    moved = drift_report(rng.normal(size=3000), rng.normal(0.5, 1, size=3000), 1.645, 0.05)
    assert not same.drifted and moved.drifted
    assert moved.median_shift == pytest.approx(0.5, abs=0.1)


def _fitted_attributes(model: DevNet) -> dict:
    names = [*DevNet.FITTED_ATTRIBUTES, "n_networks_", "view_", "baseline_", "calibration_scores_"]
    return {name: getattr(model, name) for name in names}


# ------------------------------------------------------------------ decisions over all rows
def test_benjamini_hochberg_is_scipys():
    p = np.random.default_rng(1).uniform(size=500) ** 3
    np.testing.assert_array_equal(benjamini_hochberg(p, 0.1), false_discovery_control(p) <= 0.1)
    with pytest.raises(ParameterError):
        benjamini_hochberg(p, 1.5)


def test_top_k_flags_exactly_k_rows_ties_by_order():
    flags = top_k([3.0, 5.0, 5.0, 1.0, 5.0], 2)
    np.testing.assert_array_equal(flags, [False, True, True, False, False])
    assert top_k([1.0, 2.0], 5).sum() == 2


def test_streamed_fdr_and_top_decide_over_the_whole_file(fitted, tmp_path):
    X, y = load_thyroid(return_X_y=True)
    # calibrated on clean normal rows (not in the file): Benjamini-Hochberg then has power
    fitted = DevNet.from_fitted(fitted.get_params(), _fitted_attributes(fitted))
    fitted.calibrate(X[3000:], y[3000:])
    path = tmp_path / "rows.csv"
    pd.DataFrame(X[:3000]).to_csv(path, index=False)
    scores = fitted.decision_function(X[:3000])
    out = tmp_path / "fdr.csv"
    # batches of 700 rows: Benjamini-Hochberg must still compare every row with all 3,000
    score_file(fitted, path, out, fdr=0.1, batch_size=700)
    written = pd.read_csv(out)
    expected = benjamini_hochberg(conformal_p_values(fitted.calibration_scores_, scores), 0.1)
    np.testing.assert_array_equal(written["is_anomaly"].to_numpy() == 1, expected)
    assert expected.sum() > 0
    score_file(fitted, path, tmp_path / "top.csv", top=25, batch_size=700)
    top = pd.read_csv(tmp_path / "top.csv")
    assert top["is_anomaly"].sum() == 25
    assert top["score"][top["is_anomaly"] == 1].min() >= top["score"][top["is_anomaly"] == 0].max()
    with pytest.raises(Exception, match="exactly one"):
        decide_all(fitted, scores)


# ------------------------------------------------------------------ real data: the guarantees hold
def test_decisions_on_real_data_keep_their_error_rates(thyroid):
    """A small version of benchmarks/decisions.py: the paper's protocol on thyroid, three splits."""
    X, y = thyroid
    fpr, fdp, prior_fpr = [], [], []
    for run in range(3):
        split = paper_split(X, y, np.random.default_rng([0, run]))
        model = DevNet(random_state=run).fit(split.X_train, split.y_train)
        normal = split.y_test == 0
        fpr.append(model.predict(split.X_test)[normal].mean())
        prior_fpr.append((model.decision_function(split.X_test)[normal] > 1.6448536).mean())
        flags = benjamini_hochberg(model.p_values(split.X_test), 0.1)
        fdp.append(flags[normal].sum() / max(flags.sum(), 1))
    assert np.mean(fpr) <= 0.055 and max(fpr) <= 0.10, fpr
    assert np.mean(fdp) <= 0.10, fdp
    assert np.mean(prior_fpr) > 0.10  # what the prior's threshold does on the same splits


# ------------------------------------------------------------------ command line
@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    work = tmp_path_factory.mktemp("cli")
    result = _cli("fit", thyroid_path(), "--label", "class", "--seed", "0", "--epochs", "5", "-q",
                  "-o", work / "m.model")
    assert result.returncode == 0, result.stderr
    return work


def test_cli_score_decision_options(cli_model):
    work = cli_model
    for option, value in (("--fdr", "0.1"), ("--top", "40"), ("--alert-rate", "0.01")):
        result = _cli("score", work / "m.model", thyroid_path(), "-o", work / "s.csv", option, value)
        assert result.returncode == 0, result.stderr
        flagged = pd.read_csv(work / "s.csv")["is_anomaly"]
        if option == "--top":
            assert flagged.sum() == 40
    written = pd.read_csv(work / "s.csv")
    np.testing.assert_array_equal(written["is_anomaly"] == 1, written["p_value"] <= 0.01)
    clash = _cli("score", work / "m.model", thyroid_path(), "-o", work / "s.csv", "--fdr", "0.1", "--top", "3")
    assert clash.returncode == 2 and "--fdr and --top" in clash.stderr


def test_cli_evaluate_reports_decision_metrics_and_warns_on_the_training_file(cli_model):
    work = cli_model
    result = _cli("evaluate", work / "m.model", thyroid_path(), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert {"precision", "recall", "false_positive_rate", "flagged", "threshold"} <= set(metrics)
    assert "conformal" in metrics["rule"]
    assert "looks like the file" in result.stderr
    top = json.loads(_cli("evaluate", work / "m.model", thyroid_path(), "--json", "--top", "100").stdout)
    assert top["flagged"] == 100 and top["precision"] == pytest.approx(top["recall"] * top["anomalies"] / 100)


def test_cli_calibrate_reports_drift_and_writes_a_model(cli_model):
    work = cli_model
    X, y = load_thyroid(return_X_y=True)
    frame = pd.read_csv(thyroid_path())
    frame.iloc[::2].to_csv(work / "same.csv", index=False)
    shifted = frame.iloc[::2].copy()
    numeric = [c for c in shifted.columns if c != "class" and shifted[c].nunique() > 2]
    shifted[numeric] = shifted[numeric] * 1.5 + 0.1
    shifted.to_csv(work / "shifted.csv", index=False)
    same = _cli("calibrate", work / "m.model", work / "same.csv", "-o", work / "same.model", "--json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["drift"]["drifted"] is False
    moved = _cli("calibrate", work / "m.model", work / "shifted.csv", "-o", work / "moved.model", "--json")
    assert moved.returncode == 0, moved.stderr
    report = json.loads(moved.stdout)
    assert report["drift"]["drifted"] is True and "drift:" in moved.stderr
    model = load(work / "moved.model")
    assert len(model[-1].calibration_scores_) == report["n_calibration"]


def test_cli_scoring_an_old_model_says_how_to_calibrate(tmp_path):
    X = np.load(LEGACY / "inputs.npz")["thyroid"]
    pd.DataFrame(X[:50]).to_csv(tmp_path / "x.csv", index=False)
    result = _cli("score", LEGACY / "default.model", tmp_path / "x.csv", "-o", tmp_path / "s.csv")
    assert result.returncode == 0, result.stderr
    assert "no calibration scores" in result.stderr and "deviation calibrate" in result.stderr


# ------------------------------------------------------------------ blends and saved rivals
@pytest.fixture(scope="module")
def calibrated_blend(thyroid_split):
    from deviation.blend import ScoreBlend

    X_train, y_train, X_test, y_test = thyroid_split
    blend = ScoreBlend([("deep", DevNet(epochs=3, random_state=0)),
                        ("paper", DevNet(epochs=3, preset="paper", random_state=1))], random_state=0)
    blend.fit(X_train, y_train)
    assert blend.calibration_scores_ is None  # ranks rows only until calibrated
    assert not hasattr(blend, "threshold_") and getattr(blend, "threshold_", None) is None
    with pytest.raises(ParameterError, match="no calibration scores"):
        blend.p_values(X_test)
    normal = np.flatnonzero(y_test == 0)
    blend.calibrate(X_test[normal[:600]])
    rest = np.setdiff1d(np.arange(len(y_test)), normal[:600])
    return blend, X_test[rest], y_test[rest]


def test_a_calibrated_blend_has_conformal_p_values(calibrated_blend, tmp_path):
    blend, X, y = calibrated_blend
    scores = blend.decision_function(X)
    p = blend.p_values(X)
    np.testing.assert_array_equal(p, conformal_p_values(blend.calibration_scores_, scores))
    assert blend.threshold_ == conformal_threshold(blend.calibration_scores_, 1 - 0.95)
    np.testing.assert_array_equal(blend.predict(X) == 1, p <= 0.05)
    assert blend.predict(X)[y == 0].mean() <= 0.10
    again = load(save(blend, tmp_path / "b.model"))
    np.testing.assert_array_equal(again.calibration_scores_, blend.calibration_scores_)
    np.testing.assert_array_equal(again.p_values(X), p)


def test_scoring_a_calibrated_blend_writes_p_values(calibrated_blend, tmp_path):
    from deviation.scoring import has_decisions, scored_frame

    blend, X, _ = calibrated_blend
    assert has_decisions(blend)
    frame = scored_frame(blend, blend.decision_function(X))
    np.testing.assert_array_equal(frame["is_anomaly"] == 1, frame["p_value"] <= 0.05)


def test_saved_catboost_and_blend_picks_are_calibrated(thyroid_split, tmp_path):
    pytest.importorskip("catboost")
    from deviation.compare import save_recommended

    X_train, y_train, X_test, _ = thyroid_split
    path = save_recommended("catboost", X_train, y_train, tmp_path / "trees.model", random_state=0)
    model = load(path)
    rival = model.steps[-1][1]
    assert len(rival.calibration_scores_) == round(0.2 * (y_train == 0).sum())
    p = rival.p_values(model[:-1].transform(X_test))
    assert p.min() >= 1 / (len(rival.calibration_scores_) + 1)


def test_cli_calibrates_a_blend_which_then_scores_with_p_values(calibrated_blend, tmp_path):
    blend, X, y = calibrated_blend
    ranking_only = load(save(blend, tmp_path / "b.model"))
    ranking_only.calibration_scores_ = None
    save(ranking_only, tmp_path / "ranking.model")
    pd.DataFrame(X[:300]).to_csv(tmp_path / "rows.csv", index=False)
    pd.DataFrame(X[300:][y[300:] == 0]).to_csv(tmp_path / "normal.csv", index=False)
    refused = _cli("score", tmp_path / "ranking.model", tmp_path / "rows.csv", "-o", tmp_path / "s.csv", "--fdr", "0.1")
    assert refused.returncode == 2 and "calibrate" in refused.stderr
    top = _cli("score", tmp_path / "ranking.model", tmp_path / "rows.csv", "-o", tmp_path / "s.csv", "--top", "7")
    assert top.returncode == 0, top.stderr
    assert pd.read_csv(tmp_path / "s.csv")["is_anomaly"].sum() == 7
    done = _cli("calibrate", tmp_path / "ranking.model", tmp_path / "normal.csv", "-o", tmp_path / "cal.model")
    assert done.returncode == 0, done.stderr
    scored = _cli("score", tmp_path / "cal.model", tmp_path / "rows.csv", "-o", tmp_path / "s.csv")
    assert scored.returncode == 0, scored.stderr
    frame = pd.read_csv(tmp_path / "s.csv")
    np.testing.assert_array_equal(frame["is_anomaly"] == 1, frame["p_value"] <= 0.05)
    assert frame["p_value"].min() >= 1 / (int((y[300:] == 0).sum()) + 1)
