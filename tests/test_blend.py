"""deviation.blend: the devnet+catboost blend that `compare` can recommend and save."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from deviation import DataError, ModelFileError, load_thyroid
from deviation.protocol import evaluate_scores, paper_split
from deviation.blend import ScoreBlend, load_blend, save_blend
from deviation.cli import main
from deviation.compare import compare, make_candidate, save_recommended

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
    path = save_blend(fitted_blend, tmp_path / "m.blend.json", metadata={"note": "test"})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["m.blend.json", "m.blend.json.catboost.cbm", "m.blend.json.catboost.cbm.preprocessor.json",
                     "m.blend.json.devnet.model"]
    document = json.loads(path.read_text())
    assert document["format"] == "deviation-blend" and document["metadata"] == {"note": "test"}
    loaded = load_blend(path)
    np.testing.assert_array_equal(loaded.decision_function(split.X_test), fitted_blend.decision_function(split.X_test))


def test_damaged_blend_files_are_refused(tmp_path, split, fitted_blend):
    path = save_blend(fitted_blend, tmp_path / "m.blend.json")
    with pytest.raises(ModelFileError, match="no blend file"):
        load_blend(tmp_path / "absent.blend.json")
    (tmp_path / "other.blend.json").write_text('{"format": "something else"}')
    with pytest.raises(ModelFileError, match="not a deviation blend"):
        load_blend(tmp_path / "other.blend.json")
    (tmp_path / "text.blend.json").write_text("not json")
    with pytest.raises(ModelFileError, match="not a blend file"):
        load_blend(tmp_path / "text.blend.json")
    newer = json.loads(path.read_text())
    newer["version"] = 99
    (tmp_path / "newer.blend.json").write_text(json.dumps(newer))
    with pytest.raises(ModelFileError, match="newer deviation"):
        load_blend(tmp_path / "newer.blend.json")
    (tmp_path / "m.blend.json.devnet.model").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        load_blend(path)


def test_a_failed_save_leaves_no_file(tmp_path, split, fitted_blend, monkeypatch):
    import deviation.persistence

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(deviation.persistence, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_blend(fitted_blend, tmp_path / "m.blend.json")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="does not exist"):
        save_blend(fitted_blend, tmp_path / "no" / "m.blend.json")


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
    model = tmp_path / "best.blend.json"
    assert model.exists() and (tmp_path / "best.blend.json.devnet.model").exists()
    test = pd.DataFrame(split.X_test, columns=[f"f{i}" for i in range(split.X_test.shape[1])])
    test.to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "scores.csv"
    assert main(["score", str(model), str(tmp_path / "test.csv"), "-o", str(out), "-q"]) == 0
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["score"] and len(scores) == len(test)
    assert evaluate_scores(split.y_test, scores["score"].to_numpy())["auc_pr"] > 0.5
    with pytest.raises(SystemExit) as exit_info:  # a usage error: argparse exits with status 2
        main(["score", str(model), str(tmp_path / "test.csv"), "-o", str(tmp_path / "s2.csv"),
              "--confidence", "0.9", "-q"])
    assert exit_info.value.code == 2
    assert not (tmp_path / "s2.csv").exists()


def test_save_recommended_names_the_blend_file(tmp_path, split):
    X, y = split.X_train[:3000], split.y_train[:3000]
    y = y.copy()
    y[:5] = 1
    path = save_recommended("devnet+catboost", X, y, tmp_path / "chosen.model", random_state=0)
    assert path.name == "chosen.blend.json" and load_blend(path).decision_function(X[:10]).shape == (10,)
