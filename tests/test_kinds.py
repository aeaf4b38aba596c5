"""Column kinds (deviation.preprocess.kinds): business tables as they come.

Cases 16 (identifier text column), 17 (date column) and 19 ('?' in a numeric column) of
../shared/cases/real-tables, and their whole kinds, with the right values asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA

from deviation.cli import main
from deviation.exceptions import DataError, FeatureMismatchError
from deviation.persistence import load
from deviation.preprocess import Preprocessor
from deviation.preprocess.kinds import classify_column, parse_dates, parse_number_text

FAST = ["--epochs", "3", "--batches-per-epoch", "10", "--seed", "0", "-q"]


def _kind(values, name: str = "c") -> tuple[str, str]:
    kind = classify_column(name, pd.Series(values, dtype=object if isinstance(values[0], str) else None))
    return kind.kind, kind.reason


# ------------------------------------------------------------------ numbers written as text
@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["$12", "$1,234.50", "-$3", "$0.99"], [12.0, 1234.5, -3.0, 0.99]),
        (["45%", "12.5%", "100%", "0%"], [0.45, 0.125, 1.0, 0.0]),
        (["(1,234)", "1,234", "12", "(5)"], [-1234.0, 1234.0, 12.0, -5.0]),
        (["€ 1,000", "£2", "¥30", "4 €"], [1000.0, 2.0, 30.0, 4.0]),
        (["1,234,567.25", "999", "12,000", None], [1234567.25, 999.0, 12000.0, np.nan]),
    ],
)
def test_numbers_written_as_text(cells, expected) -> None:
    numbers, bad, _ = parse_number_text(pd.Series(cells, dtype=object))
    assert not bad.any()
    np.testing.assert_allclose(numbers, expected, equal_nan=True)
    kind, reason = _kind([c if c is not None else None for c in cells] * 5)
    assert kind == "numeric" and reason.startswith("numbers written as text")


def test_decimal_comma_numbers() -> None:
    numbers, bad, _ = parse_number_text(pd.Series(["1.234,5", "0,25", "-3"], dtype=object), decimal=",")
    assert not bad.any()
    np.testing.assert_allclose(numbers, [1234.5, 0.25, -3.0])


def test_a_payment_of_ten_million_is_a_large_number_not_an_unseen_category(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    amounts = [f"${v:,.2f}" for v in rng.lognormal(5, 0.5, 300)]
    X = pd.DataFrame({"amount": amounts, "x": rng.normal(size=300)})
    pre = Preprocessor().fit(X)
    out = pre.transform(pd.DataFrame({"amount": ["$10,000,000.00", "$850.00"], "x": [0.0, 0.0]}))
    amount = list(pre.feature_names_out_).index("amount")
    assert out[0, amount] > 100 * out[1, amount] > 0  # scaled far outside the training range, not ignored


def test_words_in_a_numbers_as_text_column_at_scoring_are_refused() -> None:
    X = pd.DataFrame({"amount": [f"${i},000" for i in range(1, 40)]})
    pre = Preprocessor().fit(X)
    with pytest.raises(DataError, match=r"column 'amount' holds 'call us' \(data row 2\), which is not a number"):
        pre.transform(pd.DataFrame({"amount": ["$5", "call us"]}))


# ------------------------------------------------------------------ dates
@pytest.mark.parametrize(
    ("cells", "fmt"),
    [
        (["2024-03-01", "2024-03-15", "2024-04-30"], "iso"),
        (["2024-03-01T08:30:00", "2024-03-15 17:05", "2024-04-30T23:59:59Z"], "iso"),
        (["25/12/2023", "01/02/2024", "13/06/2024"], "dd/mm/yyyy"),
        (["12/25/2023", "02/01/2024", "06/13/2024"], "mm/dd/yyyy"),
        (["25.12.2023 10:15", "01.02.2024 08:00", "13.06.2024 23:30"], "dd/mm/yyyy"),
    ],
)
def test_date_formats_are_recognised(cells, fmt) -> None:
    values = cells * 10
    kind = classify_column("when", pd.Series(values, dtype=object))
    assert kind.kind == "datetime" and kind.spec["format"] == fmt
    dates, bad = parse_dates(pd.Series(values, dtype=object), fmt)
    assert not bad.any()
    assert dates.iloc[0].month in (3, 12)


def test_day_first_order_is_inferred_and_ambiguous_order_is_said() -> None:
    us = classify_column("d", pd.Series(["03/04/2024", "12/31/2024"] * 5, dtype=object))
    assert us.spec["format"] == "mm/dd/yyyy"
    ambiguous = classify_column("d", pd.Series(["03/04/2024", "05/06/2024"] * 5, dtype=object))
    assert ambiguous.spec["format"] == "dd/mm/yyyy" and "read day first" in ambiguous.reason


def test_dates_become_parts_that_generalise_to_new_dates() -> None:
    train = pd.date_range("2024-01-01", periods=400, freq="23h")  # a year: every month, weekday and hour
    X = pd.DataFrame({"ts": train.strftime("%Y-%m-%d %H:%M:%S"), "x": np.random.default_rng(0).normal(size=400)})
    pre = Preprocessor().fit(X)
    assert list(pre.feature_names_out_) == ["ts.hour", "ts.day_of_week", "ts.day_of_month", "ts.month", "x"]
    # a date after every training date scores by its parts (a Friday 10:30 in March), never as an unseen category
    out = pre.transform(pd.DataFrame({"ts": ["2031-03-14 10:30:00"], "x": [0.0]}))
    names = list(pre.feature_names_out_)
    assert out[0, names.index("ts.day_of_week")] == pytest.approx(4 / 6)
    assert out[0, names.index("ts.month")] == pytest.approx(2 / 11)
    assert np.isfinite(out).all()
    with pytest.raises(DataError, match="not a date"):
        pre.transform(pd.DataFrame({"ts": ["next tuesday"], "x": [0.0]}))


# ------------------------------------------------------------------ identifiers, free text, constants
@pytest.mark.parametrize(
    ("values", "name", "kind"),
    [
        ([f"T{100000 + i}" for i in range(200)], "ref", "identifier"),
        ([f"{i:08d}" for i in range(200)], "account", "identifier"),
        ([f"customer wrote a long comment number {i} about the order" for i in range(200)], "note", "text"),
        (list(np.arange(1000, 1200, dtype=float)), "row", "identifier"),  # sequential integers
        (list(np.random.default_rng(0).integers(10**10, 10**11, 200).astype(float)), "x", "identifier"),  # long codes
        (list(np.random.default_rng(0).permutation(5000)[:200].astype(float)), "customer_id", "identifier"),
        (list(np.random.default_rng(0).integers(0, 10**6, 200).astype(float)), "amount_cents", "numeric"),
        (["same"] * 200, "flag", "constant"),
        ([7.0] * 200, "version", "constant"),
    ],
)
def test_identifiers_text_and_constants(values, name, kind) -> None:
    assert classify_column(name, pd.Series(values)).kind == kind


def test_left_out_columns_are_not_needed_to_score() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"ref": [f"R{i}" for i in range(300)], "x": rng.normal(size=300), "k": ["a"] * 300})
    pre = Preprocessor().fit(X)
    assert list(pre.feature_names_out_) == ["x"]
    assert pre.transform(pd.DataFrame({"x": [0.5]})).shape == (1, 1)
    with pytest.raises(FeatureMismatchError, match="'x'"):
        pre.transform(pd.DataFrame({"ref": ["R1"]}))


# ------------------------------------------------------------------ the command line
def _write_messy(path: Path, n: int = 600, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    chol = rng.normal(220, 30, n).round().astype(object)
    chol[rng.choice(n, n // 6, replace=False)] = "?"  # '?' for missing in 1 row of 6
    frame = pd.DataFrame({
        "txn_id": [f"T{500000 + i}" for i in range(n)],
        "when": pd.date_range("2022-01-01", periods=n, freq="5h").strftime("%d/%m/%Y %H:%M"),
        "chol": chol,
        "price": [f"${v:,.2f}" for v in rng.lognormal(6, 1, n)],
        "shop": rng.choice(["north", "south", "east"], n),
        "label": [1] * 10 + [0] * (n - 10),
    })
    frame.loc[:9, "chol"] = 600  # the labeled anomalies have very high values
    frame.to_csv(path, index=False)
    return path


def test_fit_reports_and_info_shows_what_each_column_became(tmp_path: Path) -> None:
    path = _write_messy(tmp_path / "t.csv")
    proc = subprocess.run([sys.executable, "-m", "deviation", "fit", str(path), "--label", "label", "-o",
                           str(tmp_path / "m.model"), *FAST[:-1]], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = proc.stderr
    assert "txn_id        identifier" in report and "left out" in report
    assert "when          datetime     dd/mm/yyyy" in report
    assert "price         numbers written as text" not in report and "currency symbols" in report
    info = subprocess.run([sys.executable, "-m", "deviation", "info", str(tmp_path / "m.model")],
                          capture_output=True, text=True, check=True).stdout
    assert "chol" in info and "numeric" in info and "shop" in info and "categorical" in info
    pre = load(tmp_path / "m.model").steps[0][1]
    assert {k.name: k.kind for k in pre.column_kinds_} == {
        "txn_id": "identifier", "when": "datetime", "chol": "numeric", "price": "numeric", "shop": "categorical"}


def test_question_marks_are_missing_at_any_share_and_a_high_value_is_flagged(tmp_path: Path) -> None:
    path = _write_messy(tmp_path / "t.csv")
    assert main(["fit", str(path), "--label", "label", "-o", str(tmp_path / "m.model"), *FAST]) == 0
    new = pd.read_csv(path, dtype=str, keep_default_na=False).iloc[20:22].copy()
    new["chol"] = ["900", "?"]
    new.to_csv(tmp_path / "new.csv", index=False)
    assert main(["score", str(tmp_path / "m.model"), str(tmp_path / "new.csv"), "-o", str(tmp_path / "s.csv"), "-q"]) == 0
    scored = pd.read_csv(tmp_path / "s.csv")
    assert scored["score"][0] - scored["score"][1] > 1


def test_score_reports_values_not_seen_at_fit(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _write_messy(tmp_path / "t.csv")
    assert main(["fit", str(path), "--label", "label", "-o", str(tmp_path / "m.model"), *FAST]) == 0
    new = pd.read_csv(path, dtype=str, keep_default_na=False).iloc[:5].copy()
    new["shop"] = ["west", "west", "north", "moon", "south"]
    new.to_csv(tmp_path / "new.csv", index=False)
    assert main(["score", str(tmp_path / "m.model"), str(tmp_path / "new.csv"), "-o", str(tmp_path / "s.csv")]) == 0
    assert "column 'shop': 3 cell(s) hold a value not seen at fit" in capsys.readouterr().err


def test_values_pooled_at_fit_are_not_reported_as_new(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # rare values seen at fit are pooled into <infrequent>: scoring the training file reports nothing
    rng = np.random.default_rng(0)
    n = 400
    city = rng.choice(["paris", "rome", "oslo"], size=n).astype(object)
    city[:6] = ["lyon", "nice", "bern", "graz", "pisa", "faro"]  # each seen once: pooled
    frame = pd.DataFrame({"city": city, "amount": rng.normal(size=n).round(2), "label": (np.arange(n) < 8).astype(int)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert main(["fit", str(tmp_path / "t.csv"), "--label", "label", "-o", str(tmp_path / "m.model"), *FAST]) == 0
    capsys.readouterr()
    assert main(["score", str(tmp_path / "m.model"), str(tmp_path / "t.csv"), "-o", str(tmp_path / "s.csv")]) == 0
    assert "not seen at fit" not in capsys.readouterr().err
    frame.loc[:1, "city"] = ["tokyo", "lyon"]  # one new, one pooled at fit
    frame.to_csv(tmp_path / "new.csv", index=False)
    assert main(["score", str(tmp_path / "m.model"), str(tmp_path / "new.csv"), "-o", str(tmp_path / "s.csv")]) == 0
    assert "column 'city': 1 cell(s) hold a value not seen at fit" in capsys.readouterr().err


# ------------------------------------------------------------------ the bank table of the issue
BANK_ARFF = SHARED_DATA / "categorical" / "bank-additional-ful-nominal.arff"
BANK_GEN = SHARED_DATA.parent / "cases" / "real-tables" / "bank-transactions" / "gen.py"


@pytest.mark.skipif(not (BANK_ARFF.exists() and BANK_GEN.exists()), reason=f"{BANK_GEN} or its data is absent")
def test_bank_transactions_as_a_new_user_runs_them(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(BANK_GEN)], cwd=tmp_path, check=True, capture_output=True)
    fit = subprocess.run([sys.executable, "-m", "deviation", "fit", "transactions.csv", "--label", "label",
                          "--anomaly-value", "fraud", "--preset", "paper", "--seed", "0", "-o", "p.model"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert fit.returncode == 0, fit.stderr
    assert "txn_id        identifier" in fit.stderr and "txn_date      datetime" in fit.stderr
    score = subprocess.run([sys.executable, "-m", "deviation", "score", "p.model", "new_transactions.csv",
                            "-o", "s.csv", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert score.returncode == 0, score.stderr
    assert len(pd.read_csv(tmp_path / "s.csv")) == 8237
    ev = subprocess.run([sys.executable, "-m", "deviation", "evaluate", "p.model", "holdout.csv", "--label",
                         "true_class", "--anomaly-value", "fraud", "--json"], cwd=tmp_path, capture_output=True,
                        text=True, check=True)
    import json

    assert json.loads(ev.stdout.strip().splitlines()[-1])["auc_roc"] >= 0.62


def test_integers_beyond_2_53_are_identifiers(tmp_path: Path) -> None:
    # 2^63 + i collapse to a few float64 values: nearly all "distinct" ids would be one number
    n = 120
    ids = [str(2**63 + i) for i in range(n)]
    frame = pd.DataFrame({"txn_id": ids, "amount": np.random.default_rng(0).normal(size=n).round(2),
                          "label": (np.arange(n) < 5).astype(int)})
    frame.to_csv(tmp_path / "big.csv", index=False)
    assert main(["fit", str(tmp_path / "big.csv"), "--label", "label", "-o", str(tmp_path / "m.model"), *FAST]) == 0
    kinds = {k.name: k.kind for k in load(tmp_path / "m.model").steps[0][1].column_kinds_}
    assert kinds["txn_id"] == "identifier" and kinds["amount"] == "numeric"
    # and declared at scoring, copied verbatim
    assert main(["score", str(tmp_path / "m.model"), str(tmp_path / "big.csv"), "--id-column", "txn_id",
                 "-o", str(tmp_path / "s.csv"), "-q"]) == 0
    assert pd.read_csv(tmp_path / "s.csv", dtype=str)["txn_id"].tolist() == ids
