"""deviation.compare and the ``deviation compare`` command: honest choice among DevNet and its rivals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from deviation import DataError, ParameterError, load, load_thyroid
from deviation.cli import main
from deviation.compare import CANDIDATES, compare, default_methods, make_candidate, save_recommended
from deviation.protocol import evaluate_scores, paper_split
from deviation.rivals import CatBoostRival


@pytest.fixture(scope="module")
def thyroid_split():
    X, y = load_thyroid(return_X_y=True)
    return paper_split(np.asarray(X), np.asarray(y), np.random.default_rng(3))


def _frame(X, y):
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["label"] = y
    return frame


def test_default_methods_hold_one_tree_and_both_presets():
    methods = default_methods()
    assert methods[:2] == ("devnet", "devnet-paper") and methods[3] == "iforest"
    assert methods[2] in ("catboost", "hist-gbt")
    # the blend comes with CatBoost only
    assert methods[4:] == (("devnet+catboost",) if methods[2] == "catboost" else ())
    assert set(methods) <= set(CANDIDATES)


def test_compare_ranks_methods_by_held_out_labeled_anomalies(thyroid_split):
    s = thyroid_split
    result = compare(s.X_train, s.y_train, methods=["devnet", "iforest"], n_folds=3,
                     max_unlabeled=3000, random_state=0)
    table = result.table
    assert list(table.index) == sorted(table.index, key=lambda m: -table.loc[m, "auc_pr"])
    assert result.best == table.index[0]
    # the weakly supervised DevNet uses the labels; the unsupervised iForest cannot (thyroid: 0.99 vs 0.68 AUC-ROC)
    assert table.loc["devnet", "auc_roc"] > table.loc["iforest", "auc_roc"] + 0.1
    assert result.n_folds == 3 and result.n_rows_used == 3000 + int(s.y_train.sum())
    assert len(result.folds) == 3 * 2
    text = result.report()
    assert "recommended: devnet" in text and "below the true accuracy" in text


def test_compare_estimate_uses_the_labels(thyroid_split):
    s = thyroid_split
    kwargs = dict(methods=["devnet"], n_folds=3, max_unlabeled=3000, random_state=1)
    true = compare(s.X_train, s.y_train, **kwargs).table.loc["devnet", "auc_pr"]
    shuffled = compare(s.X_train, np.random.default_rng(0).permutation(s.y_train), **kwargs).table.loc["devnet", "auc_pr"]
    assert true > shuffled + 0.1


def test_compare_is_reproducible_with_a_seed(thyroid_split):
    s = thyroid_split
    a = compare(s.X_train, s.y_train, methods=["devnet-paper"], n_folds=2, max_unlabeled=1000, random_state=5)
    b = compare(s.X_train, s.y_train, methods=["devnet-paper"], n_folds=2, max_unlabeled=1000, random_state=5)
    assert a.table.auc_pr.tolist() == b.table.auc_pr.tolist()


@pytest.mark.parametrize(
    "kwargs, y, error, words",
    [
        ({}, [1, 0, 0, 0, 0, 0], DataError, "at least 2 labeled anomalies"),
        ({}, [1, 1, 1, 1, 1, 1], DataError, "no unlabeled row"),
        ({}, [1, 2, 0, 0, 0, 0], DataError, "0 (unlabeled) and 1"),
        ({"methods": ["svm"]}, [1, 1, 0, 0, 0, 0], ParameterError, "unknown method 'svm'"),
        ({"methods": []}, [1, 1, 0, 0, 0, 0], ParameterError, "methods is empty"),
        ({"n_folds": 1}, [1, 1, 0, 0, 0, 0], ParameterError, "n_folds"),
        ({}, [1, 1, 0, 0, 0], DataError, "6 rows but y has 5"),
    ],
)
def test_compare_rejects_bad_input_clearly(kwargs, y, error, words):
    X = np.random.default_rng(0).random((6, 3))
    with pytest.raises(error, match=None) as info:
        compare(X, np.asarray(y), **kwargs)
    assert words in str(info.value)


def test_folds_are_capped_by_the_labeled_anomalies():
    rng = np.random.default_rng(0)
    X = rng.random((300, 4))
    y = np.zeros(300, dtype=int)
    y[:3] = 1
    X[:3] += 2.0
    result = compare(X, y, methods=["devnet-paper"], n_folds=5, random_state=0)
    assert result.n_folds == 3


def test_saved_devnet_pick_scores_like_a_model_file(tmp_path, thyroid_split):
    s = thyroid_split
    frame = pd.DataFrame(s.X_train[:2000])
    frame.columns = [f"f{i}" for i in range(frame.shape[1])]
    y = s.y_train[:2000]
    written = save_recommended("devnet", frame, y, tmp_path / "best.zip", random_state=0)
    assert written == tmp_path / "best.model"
    model = load(written)
    scores = model.decision_function(frame)
    fresh = make_candidate("devnet", 0).fit(frame, y).decision_function(frame)
    np.testing.assert_array_equal(scores, fresh)


@pytest.mark.parametrize("method", ["hist-gbt", "iforest"])
def test_models_without_a_safe_format_are_not_saved(tmp_path, method):
    X = np.random.default_rng(0).random((50, 3))
    y = np.r_[np.ones(5, int), np.zeros(45, int)]
    with pytest.raises(ParameterError, match="pickle"):
        save_recommended(method, X, y, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_catboost_rival_learns_and_saves_in_its_own_format(tmp_path, thyroid_split):
    pytest.importorskip("catboost")
    s = thyroid_split
    true = CatBoostRival(max_train_rows=2000, random_state=0).fit(s.X_train, s.y_train)
    shuffled = CatBoostRival(max_train_rows=2000, random_state=0).fit(
        s.X_train, np.random.default_rng(0).permutation(s.y_train))
    auc_true = evaluate_scores(s.y_test, true.decision_function(s.X_test))["auc_pr"]
    auc_shuffled = evaluate_scores(s.y_test, shuffled.decision_function(s.X_test))["auc_pr"]
    assert auc_true > auc_shuffled + 0.3
    X = pd.DataFrame(s.X_train[:1500]).add_prefix("f")
    written = save_recommended("catboost", X, s.y_train[:1500], tmp_path / "trees.cbm", random_state=0)
    assert written.name == "trees.model" and sorted(p.name for p in tmp_path.iterdir()) == ["trees.model"]
    from deviation import load, read_model_info

    assert read_model_info(written)["estimator"] == "deviation.CatBoostRival"
    reloaded = load(written)  # a Pipeline of the Preprocessor and the CatBoost rival, from one checksummed file
    direct = make_candidate("catboost", 0).fit(X, s.y_train[:1500]).decision_function(X)
    np.testing.assert_array_equal(reloaded.decision_function(X), direct)


def test_cli_compare_prints_table_and_saves_the_pick(tmp_path, thyroid_split, capsys):
    s = thyroid_split
    path = tmp_path / "data.csv"
    _frame(s.X_train[:2500], s.y_train[:2500]).to_csv(path, index=False)
    code = main(["compare", str(path), "--label", "label", "--methods", "devnet", "iforest", "--folds", "2",
                 "--seed", "0", "--json", "--save-model", str(tmp_path / "pick")])
    assert code == 0
    out = capsys.readouterr().out
    payload = json.loads(out[: out.rindex("}") + 1])
    assert payload["recommended"] in ("devnet", "iforest")
    assert {m["method"] for m in payload["methods"]} == {"devnet", "iforest"}
    if payload["recommended"] == "devnet":
        assert (tmp_path / "pick.model").exists()


def test_cli_compare_with_one_labeled_anomaly_fails_in_one_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = np.zeros(100, dtype=int)
    y[0] = 1
    path = tmp_path / "data.csv"
    _frame(rng.random((100, 3)), y).to_csv(path, index=False)
    assert main(["compare", str(path), "--label", "label"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("deviation: error:") and "at least 2 labeled anomalies" in err
    assert err.count("\n") == 1


def _folds(table):
    return pd.DataFrame([{"method": m, "fold": f, "auc_pr": v} for m, vals in table.items() for f, v in enumerate(vals)])


@pytest.mark.parametrize(
    "table, expected",
    [
        # a clear win on every fold: the leader
        ({"devnet": [0.50, 0.52, 0.48], "catboost": [0.90, 0.91, 0.89]}, "catboost"),
        # a lead smaller than its own noise: the default is kept
        ({"devnet": [0.50, 0.70, 0.40], "catboost": [0.62, 0.55, 0.48]}, "devnet"),
        # the default leads
        ({"devnet": [0.80, 0.82, 0.78], "iforest": [0.30, 0.31, 0.20]}, "devnet"),
        # no default among the candidates: the leader
        ({"devnet-paper": [0.50, 0.70, 0.40], "catboost": [0.62, 0.55, 0.48]}, "catboost"),
        # the blend, when compared, is preferred over DevNet alone
        ({"devnet": [0.60, 0.72, 0.50], "devnet+catboost": [0.55, 0.70, 0.52]}, "devnet+catboost"),
        # ... and kept against a rival's unclear lead, but not against a clear one
        ({"catboost": [0.62, 0.80, 0.45], "devnet+catboost": [0.60, 0.70, 0.50]}, "devnet+catboost"),
        ({"catboost": [0.90, 0.91, 0.89], "devnet+catboost": [0.60, 0.70, 0.50]}, "catboost"),
        # a lead of 1.9 standard errors over 5 folds is not significant at 5% (t = 2.13): kept
        ({"catboost": [0.58, 0.60, 0.60, 0.47, 0.50], "devnet+catboost": [0.50, 0.60, 0.55, 0.45, 0.50]},
         "devnet+catboost"),
        # a lead of 2.8 standard errors is
        ({"catboost": [0.58, 0.62, 0.60, 0.47, 0.51], "devnet+catboost": [0.50, 0.60, 0.55, 0.45, 0.50]},
         "catboost"),
    ],
)
def test_recommend_prefers_the_default_unless_clearly_beaten(table, expected):
    from deviation.compare import recommend

    assert recommend(_folds(table)) == expected
