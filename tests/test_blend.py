"""deviation.blend: the devnet+catboost blend that `compare` can recommend and save."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from deviation import (
    DataError,
    ModelFileError,
    load,
    load_thyroid,
    read_model_info,
    save,
)
from deviation.blend import ScoreBlend, load_blend, save_blend
from deviation.cli import main
from deviation.compare import compare, make_candidate, save_recommended
from deviation.protocol import evaluate_scores, paper_split

pytest.importorskip("catboost")  # a test dependency; the blend needs it


@pytest.fixture(scope="module")
def split():
    X, y = load_thyroid(return_X_y=True)
    return paper_split(np.asarray(X), np.asarray(y), np.random.default_rng(5))


@pytest.fixture(scope="module")
def fitted_blend(split):
    return make_candidate("devnet+catboost", random_state=0).fit(split.X_train, split.y_train)


def test_members_are_standardised_on_the_unlabeled_rows(split, fitted_blend):
    unlabeled = split.X_train[split.y_train == 0]
    for (name, model), center, scale in zip(fitted_blend.members_, fitted_blend.centers_, fitted_blend.scales_):
        z = (model.decision_function(unlabeled) - center) / scale
        assert abs(z.mean()) < 1e-6 and abs(z.std() - 1) < 1e-6, name
    expected = np.mean([(m.decision_function(split.X_test) - c) / s for (_, m), c, s in
                        zip(fitted_blend.members_, fitted_blend.centers_, fitted_blend.scales_)], axis=0)
    np.testing.assert_allclose(fitted_blend.decision_function(split.X_test), expected)


def test_blend_learns_from_the_labels(split, fitted_blend):
    true = evaluate_scores(split.y_test, fitted_blend.decision_function(split.X_test))["auc_pr"]
    shuffled_y = np.random.default_rng(0).permutation(split.y_train)
    shuffled = make_candidate("devnet+catboost", random_state=0).fit(split.X_train, shuffled_y)
    worse = evaluate_scores(split.y_test, shuffled.decision_function(split.X_test))["auc_pr"]
    assert true > 0.6 and true > worse + 0.3


def test_from_fitted_matches_fit(split, fitted_blend):
    members = [(name, model) for name, model in fitted_blend.members_]
    again = ScoreBlend.from_fitted(members, split.X_train, split.y_train, random_state=0)
    np.testing.assert_array_equal(again.decision_function(split.X_test), fitted_blend.decision_function(split.X_test))


def test_blend_errors(split):
    with pytest.raises(DataError, match="at least one member"):
        ScoreBlend([]).fit(split.X_train, split.y_train)
    with pytest.raises(DataError, match="unlabeled"):
        make_candidate("devnet+catboost", 0).fit(split.X_train[:40], np.ones(40, dtype=int))
    from deviation import NotFittedError

    with pytest.raises(NotFittedError):
        ScoreBlend([("devnet", make_candidate("devnet"))]).decision_function(split.X_test)


def test_save_and_load_score_identically(tmp_path, split, fitted_blend):
    path = save_blend(fitted_blend, tmp_path / "m.model", metadata={"note": "test"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.model"]  # one file, members inside
    info = read_model_info(path)
    assert info["model_type"] == "ScoreBlend" and info["metadata"] == {"note": "test"}
    for loaded in (load_blend(path), load(path)):
        assert type(loaded) is ScoreBlend
        np.testing.assert_array_equal(loaded.decision_function(split.X_test), fitted_blend.decision_function(split.X_test))
        np.testing.assert_array_equal(loaded.centers_, fitted_blend.centers_)


def test_damaged_blend_files_are_refused(tmp_path, split, fitted_blend):
    path = save_blend(fitted_blend, tmp_path / "m.model")
    with pytest.raises(ModelFileError, match="no blend file"):
        load_blend(tmp_path / "absent.model")
    (tmp_path / "other.blend.json").write_text('{"format": "something else"}')
    with pytest.raises(ModelFileError, match="not a deviation blend"):
        load_blend(tmp_path / "other.blend.json")
    (tmp_path / "text.blend.json").write_text("not json")
    with pytest.raises(ModelFileError, match="not a blend file"):
        load_blend(tmp_path / "text.blend.json")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (tmp_path / "flipped.model").write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="corrupted"):
        load_blend(tmp_path / "flipped.model")
    devnet_only = save(fitted_blend.members_[0][1], tmp_path / "devnet.model")
    with pytest.raises(ModelFileError, match="not a blend"):
        load_blend(devnet_only)


def test_legacy_blend_json_still_loads(tmp_path):
    """The .blend.json + member files of older versions (tests/data/legacy) load with load_blend and load."""
    import shutil
    from pathlib import Path

    legacy = Path(__file__).resolve().parent / "data" / "legacy"
    X = np.load(legacy / "inputs.npz")["thyroid"]
    expected = np.load(legacy / "expected_scores.npz")["blend"]
    for loaded in (load_blend(legacy / "blend.blend.json"), load(legacy / "blend.blend.json")):
        # its DevNet member is the default preset's: within 1e-5 since issue 18's fast input view
        np.testing.assert_allclose(loaded.decision_function(X), expected, rtol=1e-5, atol=1e-5)
    for name in ("blend.blend.json", "blend.blend.json.catboost.cbm.preprocessor.json"):
        shutil.copy(legacy / name, tmp_path / name)
    newer = json.loads((tmp_path / "blend.blend.json").read_text())
    newer["version"] = 99
    (tmp_path / "newer.blend.json").write_text(json.dumps(newer))
    with pytest.raises(ModelFileError, match="newer deviation"):
        load_blend(tmp_path / "newer.blend.json")
    with pytest.raises(ModelFileError, match="missing"):  # the member files are not beside it
        load_blend(tmp_path / "blend.blend.json")


def test_a_failed_save_leaves_no_file(tmp_path, split, fitted_blend, monkeypatch):
    import deviation.persistence

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(deviation.persistence, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_blend(fitted_blend, tmp_path / "m.model")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    with pytest.raises(DataError, match="does not exist"):
        save_blend(fitted_blend, tmp_path / "no" / "m.model")
    # a failure while writing leaves no file and no temporary file either
    import os

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(ModelFileError, match="disk full"):
        save_blend(fitted_blend, tmp_path / "m.model")
    assert list(tmp_path.iterdir()) == []


def test_compare_reuses_the_members_fits(split):
    result = compare(split.X_train, split.y_train, methods=["devnet+catboost", "devnet", "catboost"],
                     n_folds=2, max_unlabeled=2000, random_state=0)
    table = result.table
    assert set(table.index) == {"devnet", "catboost", "devnet+catboost"}
    # the blend's cost is its members' fits plus the standardisation, not a second fit of each
    assert table.loc["devnet+catboost", "fit_seconds"] >= table.loc["devnet", "fit_seconds"] + \
        table.loc["catboost", "fit_seconds"]
    alone = compare(split.X_train, split.y_train, methods=["devnet+catboost"], n_folds=2, max_unlabeled=2000,
                    random_state=0)
    # the same seeds per fold: the blend fitted on its own gives the same estimate
    assert alone.table.loc["devnet+catboost", "auc_pr"] == pytest.approx(table.loc["devnet+catboost", "auc_pr"])


def test_cli_saves_and_scores_a_blend(tmp_path, split):
    frame = pd.DataFrame(split.X_train, columns=[f"f{i}" for i in range(split.X_train.shape[1])])
    frame["label"] = split.y_train
    data = tmp_path / "train.csv"
    # a third of the unlabeled rows and every labeled anomaly: quicker, same task
    unlabeled = frame[frame.label == 0]
    pd.concat([unlabeled.iloc[::3], frame[frame.label == 1]]).to_csv(data, index=False)
    assert main(["compare", str(data), "--label", "label", "--methods", "devnet+catboost", "--folds", "2",
                 "--save-model", str(tmp_path / "best"), "--seed", "0", "-q"]) == 0
    model = tmp_path / "best.model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.model", "train.csv"]
    test = pd.DataFrame(split.X_test, columns=[f"f{i}" for i in range(split.X_test.shape[1])])
    test.to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "scores.csv"
    assert main(["score", str(model), str(tmp_path / "test.csv"), "-o", str(out), "-q"]) == 0
    scores = pd.read_csv(out)
    # compare held calibration rows out of the blend's training: conformal p-values and decisions
    assert list(scores.columns) == ["score", "p_value", "is_anomaly"] and len(scores) == len(test)
    assert evaluate_scores(split.y_test, scores["score"].to_numpy())["auc_pr"] > 0.5
    assert main(["score", str(model), str(tmp_path / "test.csv"), "-o", str(tmp_path / "s2.csv"),
                 "--confidence", "0.9", "-q"]) == 0
    looser = pd.read_csv(tmp_path / "s2.csv")
    assert looser.is_anomaly.sum() >= scores.is_anomaly.sum()


def test_save_recommended_names_the_blend_file(tmp_path, split):
    X, y = split.X_train[:3000], split.y_train[:3000]
    y = y.copy()
    y[:5] = 1
    path = save_recommended("devnet+catboost", X, y, tmp_path / "chosen.blend.json", random_state=0)
    assert path.name == "chosen.model" and load_blend(path).decision_function(X[:10]).shape == (10,)


def test_cli_info_evaluate_explain_with_a_blend(tmp_path, split, fitted_blend, capsys):
    path = save_blend(fitted_blend, tmp_path / "b.model", metadata={"note": "cli"})
    test = pd.DataFrame(split.X_test)
    test["label"] = split.y_test
    data = tmp_path / "test.csv"
    test.to_csv(data, index=False)

    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "a blend of 2 models" in out and "no threshold" in out
    for (name, _), center, scale in zip(fitted_blend.members_, fitted_blend.centers_, fitted_blend.scales_):
        assert f"member          {name} ({name}): weight 1/2, center {center}, scale {scale}" in out
    assert '"note": "cli"' in out
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_type"] == "ScoreBlend" and len(info["blend"]["members"]) == 2

    assert main(["evaluate", str(path), str(data), "--label", "label", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    scores = fitted_blend.decision_function(split.X_test)
    assert set(result) == {"rows", "anomalies", "auc_roc", "auc_pr", "precision_at_n"}  # no threshold, no flags
    assert result["auc_pr"] == pytest.approx(evaluate_scores(split.y_test, scores)["auc_pr"])
    assert main(["evaluate", str(path), str(data), "--label", "label"]) == 0
    text = capsys.readouterr().out
    assert "AUC-PR" in text and "flagged" not in text

    code = main(["explain", str(path), str(data), "-o", str(tmp_path / "ex.csv"), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and not (tmp_path / "ex.csv").exists()
    assert "is a blend of devnet and catboost: explanations need a DevNet model" in err
    assert "deviation fit" in err and len(err.strip().splitlines()) == 1


def test_cli_scores_a_legacy_blend_json(tmp_path):
    from pathlib import Path

    legacy = Path(__file__).resolve().parent / "data" / "legacy"
    X = np.load(legacy / "inputs.npz")["thyroid"]
    pd.DataFrame(X).to_csv(tmp_path / "x.csv", index=False)
    assert main(["score", str(legacy / "blend.blend.json"), str(tmp_path / "x.csv"), "-o", str(tmp_path / "s.csv"),
                 "-q"]) == 0
    # within 1e-5: the DevNet member is the default preset's, scored with issue 18's fast input view
    np.testing.assert_allclose(pd.read_csv(tmp_path / "s.csv")["score"], np.load(legacy / "expected_scores.npz")["blend"],
                               rtol=1e-5, atol=1e-5)
