"""Edge cases found by trying to break the one reader and the column kinds (issue 16's whole kinds)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deviation.cli import main
from deviation.exceptions import DataError
from deviation.io import read_table
from deviation.preprocess import Preprocessor
from deviation.preprocess.kinds import classify_column, parse_dates

FAST = ["--epochs", "2", "--batches-per-epoch", "5", "--seed", "0", "-q"]


def _dated(path: Path, n: int = 300, extra: dict | None = None) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "when": pd.date_range("2024-01-01", periods=n, freq="7h").strftime("%Y-%m-%d %H:%M"),
        "x": rng.normal(size=n).round(3),
        **(extra or {}),
        "label": [int(i % 10 == 0) for i in range(n)],
    })
    frame.to_csv(path, index=False)
    return path


def test_a_column_named_like_a_date_part_is_refused_at_fit(tmp_path: Path) -> None:
    X = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=100, freq="7h").strftime("%Y-%m-%d %H:%M"),
                      "when.hour": np.arange(100.0) % 7})
    with pytest.raises(DataError, match="'when.hour' has the name of a date feature of column 'when'"):
        Preprocessor().fit(X)


def test_explain_shows_the_date_cell_for_date_features(tmp_path: Path) -> None:
    path = _dated(tmp_path / "e.csv")
    assert main(["fit", str(path), "--label", "label", "-o", str(tmp_path / "m.model"), *FAST]) == 0
    assert main(["explain", str(tmp_path / "m.model"), str(path), "-o", str(tmp_path / "why.csv"), "--top", "5",
                 "-q"]) == 0
    why = pd.read_csv(tmp_path / "why.csv", dtype=str)
    data = pd.read_csv(path, dtype=str)
    for j in range(1, 6):
        dated = why[f"feature_{j}"].str.startswith("when.")
        assert (why.loc[dated, f"value_{j}"] == data.loc[why.loc[dated, "row"].astype(int), "when"].to_numpy()).all()
        plain = why[f"feature_{j}"] == "x"
        assert (why.loc[plain, f"value_{j}"].astype(float)
                == data.loc[why.loc[plain, "row"].astype(int), "x"].astype(float).to_numpy()).all()


@pytest.mark.parametrize("name", ["score", "p_value", "is_anomaly"])
def test_an_id_column_named_like_an_output_column_is_refused(tmp_path: Path, name: str, capsys) -> None:
    path = _dated(tmp_path / "t.csv", extra={name: [f"id{i}" for i in range(300)]})
    # fit refuses it as an id (every score of the model would), and writes no model
    assert main(["fit", str(path), "--label", "label", "--id-column", name, "-o", str(tmp_path / "m.model"), *FAST]) == 1
    assert f"id column {name!r} has the name of an output column" in capsys.readouterr().err
    assert not (tmp_path / "m.model").exists()
    # fitted without it (an identifier, left out), it cannot be named an id at scoring either
    assert main(["fit", str(path), "--label", "label", "-o", str(tmp_path / "m.model"), *FAST]) == 0
    assert main(["score", str(tmp_path / "m.model"), str(path), "--id-column", name, "-o",
                 str(tmp_path / "s.csv"), "-q"]) == 1
    assert f"id column {name!r} has the name of an output column" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def test_left_out_columns_are_not_needed_at_scoring_and_can_be_ids(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    extra = {"ref": [f"R{100000 + i}" for i in range(300)], "const": ["same"] * 300,
             "note": [f"a long free text comment about order {i} and more" for i in range(300)]}
    path = _dated(tmp_path / "t.csv", extra=extra)
    assert main(["fit", str(path), "--label", "label", "-o", str(tmp_path / "m.model"), *FAST]) == 0
    full = pd.read_csv(path, dtype=str, keep_default_na=False)
    lean = full.drop(columns=["ref", "const", "note", "label"])
    lean.to_csv(tmp_path / "lean.csv", index=False)
    assert main(["score", str(tmp_path / "m.model"), str(tmp_path / "lean.csv"), "-o", str(tmp_path / "a.csv"), "-q"]) == 0
    # the warning said "declare it with --id-column": at scoring it is copied verbatim
    full.loc[0, "ref"] = "not even an id"
    full.to_csv(tmp_path / "full.csv", index=False)
    assert main(["score", str(tmp_path / "m.model"), str(tmp_path / "full.csv"), "--id-column", "ref",
                 "-o", str(tmp_path / "b.csv"), "-q"]) == 0
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv", dtype={"ref": str})
    np.testing.assert_array_equal(a["score"], b["score"])
    assert b["ref"].iloc[0] == "not even an id" and b["ref"].iloc[1] == "R100001"
    del rng


def test_percentages_mixed_with_plain_numbers_are_refused() -> None:
    with pytest.raises(DataError, match="mixes percentages"):
        classify_column("rate", pd.Series(["5%", "10", "12.5%", "20"] * 5, dtype=object))
    pre = Preprocessor().fit(pd.DataFrame({"rate": [f"{i}%" for i in range(40)]}))
    with pytest.raises(DataError, match="written as a percentage"):
        pre.transform(pd.DataFrame({"rate": ["45"]}))
    np.testing.assert_allclose(pre.transform(pd.DataFrame({"rate": ["39%"]})), [[1.0]])


def test_two_digit_years_follow_strptime() -> None:
    dates, bad = parse_dates(pd.Series(["05/05/99", "01/02/03", "31/12/68", "01/01/69"], dtype=object), "dd/mm/yyyy")
    assert not bad.any()
    assert [d.year for d in dates] == [1999, 2003, 2068, 1969]
    assert dates.iloc[0].dayofweek == 2  # 5 May 1999 was a Wednesday


def test_true_false_columns_with_some_zeros_and_ones_are_binary(tmp_path: Path) -> None:
    cells = ["true", "false", "0", "1", "TRUE", ""] * 10
    path = tmp_path / "b.csv"
    pd.DataFrame({"flag": cells, "label": [1] + [0] * 59}).to_csv(path, index=False)
    table = read_table(path, "label")
    assert table.schema.columns == {"flag": "boolean"}
    assert table.X["flag"].iloc[:6].tolist()[:5] == [1.0, 0.0, 0.0, 1.0, 1.0]
    assert np.isnan(table.X["flag"].iloc[5])


def test_parquet_dates_and_big_integers(tmp_path: Path) -> None:
    n = 300
    frame = pd.DataFrame({
        "ts": pd.date_range("2024-01-01", periods=n, freq="7h", tz="Europe/Paris"),
        "day": pd.date_range("2024-01-01", periods=n, freq="D").date,
        "big": (2**62 + np.arange(n) * 7919).astype("int64"),
        "x": np.random.default_rng(0).normal(size=n),
        "label": (np.arange(n) < 10).astype(int),
    })
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    table = read_table(tmp_path / "t.parquet", "label")
    pre = Preprocessor().fit(table.X)
    kinds = {k.name: k.kind for k in pre.column_kinds_}
    assert kinds == {"ts": "datetime", "day": "datetime", "big": "identifier", "x": "numeric"}
    assert "day.hour" not in pre.feature_names_out_ and "ts.hour" in pre.feature_names_out_
    assert main(["fit", str(tmp_path / "t.parquet"), "--label", "label", "-o", str(tmp_path / "m.model"), *FAST]) == 0
    assert main(["score", str(tmp_path / "m.model"), str(tmp_path / "t.parquet"), "-o", str(tmp_path / "s.csv"),
                 "-q"]) == 0
    assert len(pd.read_csv(tmp_path / "s.csv")) == n


def test_sigterm_while_scoring_leaves_no_partial_file(tmp_path: Path, monkeypatch, capsys) -> None:
    path = _dated(tmp_path / "t.csv", n=600)
    assert main(["fit", str(path), "--label", "label", "-o", str(tmp_path / "m.model"), *FAST]) == 0
    import deviation.scale.stream as stream

    real = stream.feature_scores  # the stream scores preprocessed batches with it
    calls = []

    def scores_then_sigterm(model, X, **kwargs):
        calls.append(X.shape[0])
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # as `timeout` or `docker stop` would
        return real(model, X, **kwargs)

    monkeypatch.setattr(stream, "feature_scores", scores_then_sigterm)
    real_iter = stream.iter_tables
    monkeypatch.setattr(stream, "iter_tables", lambda *a, **k: real_iter(*a, **{**k, "batch_rows": 100}))
    out = tmp_path / "out" / "s.csv"
    out.parent.mkdir()
    code = main(["score", str(tmp_path / "m.model"), str(path), "-o", str(out), "-q"])
    assert len(calls) == 2  # the signal arrived while the second of six batches was scored
    assert code == 143 and "deviation: terminated" in capsys.readouterr().err
    assert list(out.parent.iterdir()) == []


def test_a_blend_saved_by_compare_scores_a_business_table(tmp_path: Path) -> None:
    pytest.importorskip("catboost")
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({
        "txn": [f"T{100000 + i}" for i in range(n)],
        "when": pd.date_range("2020-01-01", periods=n, freq="5h").strftime("%d/%m/%Y"),
        "job": rng.choice(["a", "b", "c"], n),
        "x": np.r_[rng.normal(4, 1, 20), rng.normal(0, 1, n - 20)],
        "label": ["fraud"] * 20 + [""] * (n - 20),
    })
    frame.to_csv(tmp_path / "t.csv", index=False)
    # the blend alone: the pick whenever CatBoost is installed and the folds cannot separate the candidates
    assert main(["compare", str(tmp_path / "t.csv"), "--label", "label", "--anomaly-value", "fraud", "--methods",
                 "devnet+catboost", "--folds", "2", "--seed", "0", "--save-model",
                 str(tmp_path / "best"), "-q"]) == 0
    saved = next(tmp_path.glob("best*.model"))
    assert main(["score", str(saved), str(tmp_path / "t.csv"), "--id-column", "txn", "-o", str(tmp_path / "s.csv"),
                 "-q"]) == 0
    scored = pd.read_csv(tmp_path / "s.csv", dtype={"txn": str})
    assert scored["txn"].tolist() == frame["txn"].tolist()
    assert scored["score"].iloc[:20].mean() > scored["score"].iloc[20:].mean()
    assert main(["evaluate", str(saved), str(tmp_path / "t.csv"), "--label", "label", "--anomaly-value", "fraud",
                 "--json"]) == 0


def test_an_anomaly_value_in_the_wrong_case_gets_a_did_you_mean(tmp_path: Path, capsys) -> None:
    path = _dated(tmp_path / "t.csv")
    frame = pd.read_csv(path)
    frame["label"] = np.where(frame["label"] == 1, "fraud", "")
    frame.to_csv(path, index=False)
    assert main(["fit", str(path), "--label", "label", "--anomaly-value", "Fraud", "-o", str(tmp_path / "m.model"),
                 *FAST]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no row of label column 'label' has the value 'Fraud'" in err
    assert "did you mean --anomaly-value fraud?" in err
    assert not (tmp_path / "m.model").exists()
