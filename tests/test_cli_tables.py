"""The command line on business tables as they come (issue 16): separators, --drop, labels, options, messages."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deviation.cli import _option_words, main
from deviation.exceptions import DataError
from deviation.io import read_table

TINY = ["--epochs", "1", "--batches-per-epoch", "2", "--batch-size", "8", "--seed", "0"]


def run_cli(*argv: object) -> tuple[int, str, str]:
    """Run ``deviation ARGV`` in this process: (exit code, stdout, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("deviation: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def rows(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"temp": rng.normal(size=n).round(3), "pressure": rng.normal(size=n).round(3)})
    frame.loc[:4, ["temp", "pressure"]] += 4
    frame["label"] = [1] * 5 + [0] * (n - 5)
    return frame


def write_semicolon(path: Path, frame: pd.DataFrame, decimal: str = ".") -> Path:
    lines = [";".join(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append(";".join(str(v).replace(".", decimal) for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def feature_names(model: Path) -> list[str]:
    code, out, _ = run_cli("info", model, "--json")
    assert code == 0
    return list(json.loads(out)["feature_names_in"])


def input_schema(model: Path) -> dict:
    code, out, _ = run_cli("info", model, "--json")
    assert code == 0
    return json.loads(out)["input_schema"]


# --------------------------------------------------------------------- separators (case 20)
def test_semicolon_csv_with_decimal_points_fits_scores_and_evaluates(tmp_path: Path) -> None:
    data = write_semicolon(tmp_path / "points.csv", rows())
    model = tmp_path / "m.model"
    code, _, err = run_cli("fit", data, "--label", "label", "-o", model, *TINY, "-q")
    assert code == 0, err
    assert feature_names(model) == ["temp", "pressure"]
    schema = input_schema(model)
    assert (schema["sep"], schema["decimal"]) == (";", ".")
    assert schema["columns"] == [{"name": "temp", "kind": "numeric"}, {"name": "pressure", "kind": "numeric"}]
    # scoring reads with the training file's separator
    code, _, err = run_cli("score", model, data, "-o", tmp_path / "s.csv", "-q")
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "s.csv")) == 40
    code, out, err = run_cli("evaluate", model, data, "--json")
    assert code == 0, err
    assert json.loads(out)["anomalies"] == 5


def test_semicolon_csv_with_decimal_commas_is_read_as_two_columns(tmp_path: Path) -> None:
    data = write_semicolon(tmp_path / "commas.csv", rows(), decimal=",")
    model = tmp_path / "m.model"
    code, _, err = run_cli("fit", data, "--label", "label", "-o", model, *TINY, "-q")
    assert code == 0, err
    assert feature_names(model) == ["temp", "pressure"]
    schema = input_schema(model)
    assert (schema["sep"], schema["decimal"]) == (";", ",")
    code, out, _ = run_cli("info", model)
    assert "fields separated by ';' (semicolon), decimal mark ','" in out
    # the numbers themselves: '4,126' is 4.126, the same value the decimal-point file gives
    assert [c["kind"] for c in schema["columns"]] == ["numeric", "numeric"]
    from deviation.io import read_table

    points = write_semicolon(tmp_path / "points.csv", rows(), decimal=".")
    np.testing.assert_allclose(read_table(data, "label").X.to_numpy(), read_table(points, "label").X.to_numpy())


def test_sep_option_and_messages(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frame = rows()
    semi = write_semicolon(tmp_path / "semi.csv", frame)
    model = tmp_path / "m.model"
    # given explicitly (the shell passes '\t' as two characters; 'tab' too)
    assert run_cli("fit", semi, "--sep", ";", "--label", "label", "-o", model, *TINY, "-q")[0] == 0
    tab = tmp_path / "tab.csv"
    frame.to_csv(tab, sep="\t", index=False)
    assert run_cli("fit", tab, "--sep", "\\t", "--label", "label", "-o", tmp_path / "t.model", *TINY, "-q")[0] == 0
    # a wrong --sep: the message names the file's separator and the option to pass
    code, _, err = run_cli("fit", semi, "--sep", ",", "--label", "label", "-o", model, *TINY)
    line = error_line(err)
    assert code == 1 and "semi.csv" in line and "';' (semicolon)" in line and "--sep ';'" in line
    assert "sep=" not in line
    # a comma file scored with the ;-model: its own separator is read, and the warning names both
    comma = tmp_path / "comma.csv"
    frame.to_csv(comma, index=False)
    with caplog.at_level(logging.WARNING):
        code, _, err = run_cli("score", model, comma, "-o", tmp_path / "s.csv")
    assert code == 0, err
    assert "comma.csv' is separated by ',' (comma), the model's training file by ';'" in caplog.text + err
    assert run_cli("score", model, comma, "--sep", ",", "-o", tmp_path / "t.csv", "-q")[0] == 0
    assert (tmp_path / "s.csv").read_bytes() == (tmp_path / "t.csv").read_bytes()
    code, _, err = run_cli("fit", semi, "--sep", ";;", "--label", "label", "-o", model)
    assert code == 1 and "--sep ';;' is not a field separator" in error_line(err)


def test_sample_size_reads_with_the_separator(tmp_path: Path) -> None:
    data = write_semicolon(tmp_path / "semi.csv", rows(60))
    model = tmp_path / "m.model"
    code, _, err = run_cli("fit", data, "--label", "label", "--sample-size", "20", "--drop", "pressure",
                           "-o", model, *TINY, "-q")
    assert code == 0, err
    assert feature_names(model) == ["temp"] and input_schema(model)["sep"] == ";"


# --------------------------------------------------------------------- --drop
@pytest.fixture
def shop(tmp_path: Path) -> Path:
    frame = rows()
    frame.insert(0, "txn", [f"t{i:04d}" for i in range(len(frame))])
    frame["note"] = ["free text %d" % i for i in range(len(frame))]
    path = tmp_path / "shop.csv"
    frame.to_csv(path, index=False)
    return path


def test_drop_at_fit_and_scoring(tmp_path: Path, shop: Path) -> None:
    model = tmp_path / "m.model"
    code, _, err = run_cli("fit", shop, "--label", "label", "--id-column", "txn", "--drop", "note",
                           "-o", model, *TINY, "-q")
    assert code == 0, err
    assert feature_names(model) == ["temp", "pressure"]
    # a column the model does not use may be dropped at scoring, evaluation and explanation
    out = tmp_path / "s.csv"
    assert run_cli("score", model, shop, "--id-column", "txn", "--drop", "note", "-o", out, "-q")[0] == 0
    assert list(pd.read_csv(out).columns) == ["txn", "score", "p_value", "is_anomaly"]
    assert run_cli("evaluate", model, shop, "--drop", "note", "--json")[0] == 0
    assert run_cli("explain", model, shop, "--drop", "note", "-o", tmp_path / "e.csv", "-q")[0] == 0
    # a column the model was trained on cannot be dropped
    for command in (["score", model, shop, "-o", out], ["evaluate", model, shop],
                    ["explain", model, shop, "-o", tmp_path / "e.csv"]):
        code, _, err = run_cli(*command, "--drop", "temp")
        line = error_line(err)
        assert code == 1 and "shop.csv" in line and "'temp' cannot be dropped: the model was trained on it" in line
        assert "--drop" in line and "drop=" not in line


def test_drop_unknown_column_suggests_a_name(tmp_path: Path, shop: Path) -> None:
    code, _, err = run_cli("fit", shop, "--label", "label", "--drop", "Notes", "-o", tmp_path / "m.model", *TINY)
    line = error_line(err)
    assert code == 1 and "shop.csv" in line and "no column 'Notes' to drop" in line and "did you mean 'note'" in line


def test_compare_leaves_dropped_columns_out(tmp_path: Path, shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import deviation.compare

    seen = {}

    def fake_compare(X, y, **kwargs):
        seen["columns"] = list(X.columns)
        raise DataError("stop here")

    monkeypatch.setattr(deviation.compare, "compare", fake_compare)
    code, _, err = run_cli("compare", shop, "--label", "label", "--id-column", "txn", "--drop", "note")
    assert code == 1 and "stop here" in err
    assert seen["columns"] == ["temp", "pressure"]


# --------------------------------------------------------------------- labels (case 24)
@pytest.mark.parametrize(("cells", "value"), [(("True", "False"), "True"), (("TRUE", "FALSE"), "TRUE"),
                                              (("True", "False"), "true"), (("False", "True"), "False")])
def test_anomaly_value_names_a_boolean_label(tmp_path: Path, cells: tuple[str, str], value: str) -> None:
    frame = rows()
    frame["label"] = np.where(frame["label"] == 1, cells[0], cells[1])
    data = tmp_path / "bool.csv"
    frame.to_csv(data, index=False)
    model = tmp_path / "m.model"
    code, _, err = run_cli("fit", data, "--label", "label", "--anomaly-value", value, "-o", model, *TINY, "-q")
    assert code == 0, err
    code, out, _ = run_cli("info", model, "--json")
    assert json.loads(out)["metadata"]["n_labeled_anomalies"] == 5


def test_anomaly_value_on_parquet_booleans(tmp_path: Path) -> None:
    frame = rows()
    frame["label"] = frame["label"] == 1
    data = tmp_path / "bool.parquet"
    frame.to_parquet(data)
    model = tmp_path / "m.model"
    assert run_cli("fit", data, "--label", "label", "--anomaly-value", "TRUE", "-o", model, *TINY, "-q")[0] == 0
    code, out, _ = run_cli("evaluate", model, data, "--json")
    assert code == 0 and json.loads(out)["anomalies"] == 5


def test_label_hint_names_the_minority_with_the_option(tmp_path: Path) -> None:
    frame = rows()
    frame["label"] = np.where(frame["label"] == 1, "fraud", "ok")
    data = tmp_path / "t.csv"
    frame.to_csv(data, index=False)
    code, _, err = run_cli("fit", data, "--label", "label", "-o", tmp_path / "m.model", *TINY)
    line = error_line(err)
    assert code == 1 and "t.csv" in line
    assert "e.g. --anomaly-value fraud" in line and "--anomaly-value ok" not in line
    assert "anomaly_value" not in line
    # the library words the same hint with its Python argument
    with pytest.raises(DataError, match=r"e\.g\. anomaly_value='fraud'"):
        read_table(data, "label")


def test_evaluate_reuses_the_models_label_and_anomaly_value(tmp_path: Path) -> None:
    frame = rows()
    frame["kind"] = np.where(frame["label"] == 1, "fraud", "ok")
    frame["flag"] = frame.pop("label")
    data = tmp_path / "t.csv"
    frame.to_csv(data, index=False)
    model = tmp_path / "m.model"
    code, _, err = run_cli("fit", data, "--label", "kind", "--anomaly-value", "fraud", "--drop", "flag",
                           "-o", model, *TINY, "-q")
    assert code == 0, err
    code, out, err = run_cli("evaluate", model, data, "--json")  # no --label: the model's, with 'fraud'
    assert code == 0, err
    assert json.loads(out)["anomalies"] == 5
    code, out, err = run_cli("evaluate", model, data, "--label", "flag", "--json")  # another 0/1 column
    assert code == 0, err
    assert json.loads(out)["anomalies"] == 5
    code, out, err = run_cli("evaluate", model, data, "--anomaly-value", "ok", "--json")  # the option wins
    assert code == 0, err
    assert json.loads(out)["anomalies"] == 35


def test_evaluate_without_a_recorded_label_asks_for_one(tmp_path: Path) -> None:
    from sklearn.pipeline import Pipeline

    from deviation import DevNet
    from deviation.persistence import save
    from deviation.preprocess import Preprocessor

    frame = rows()
    model = Pipeline([("preprocessor", Preprocessor()),
                      ("devnet", DevNet(epochs=1, batches_per_epoch=2, batch_size=8, random_state=0))])
    model.fit(frame[["temp", "pressure"]], frame["label"].to_numpy())
    path = tmp_path / "m.model"
    save(model, path)  # from Python: no input schema, so no label column recorded
    data = tmp_path / "t.csv"
    frame.to_csv(data, index=False)
    code, _, err = run_cli("evaluate", path, data)
    assert code == 2 and "does not record its label column" in err and "--label" in err
    code, out, err = run_cli("evaluate", path, data, "--label", "label", "--json")
    assert code == 0, err


# --------------------------------------------------------------------- global options, ids, messages
@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_before_or_after_the_command(tmp_path: Path, shop: Path, where: str) -> None:
    args = ["fit", shop, "--label", "label", "--id-column", "txn", "--drop", "note", "-o", tmp_path / "m.model", *TINY]
    code, _, err = run_cli(*(["-q", *args] if where == "before" else [*args, "-q"]))
    assert code == 0 and err == ""
    code, _, err = run_cli(*args)
    assert code == 0 and "trained on 40 rows" in err


def test_debug_before_the_command_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        main(["--debug", "fit", str(tmp_path / "none.csv"), "--label", "y", "-o", str(tmp_path / "m.model")])
    code, _, err = run_cli("fit", tmp_path / "none.csv", "--label", "y", "-o", tmp_path / "m.model")
    assert code == 1 and "none.csv" in error_line(err)


def test_id_column_twice(tmp_path: Path, shop: Path) -> None:
    code, _, err = run_cli("fit", shop, "--label", "label", "--id-column", "txn", "--id-column", "txn",
                           "-o", tmp_path / "m.model", *TINY)
    line = error_line(err)
    assert code == 1 and "shop.csv" in line and "'txn' twice in --id-column" in line


def test_missing_label_and_id_name_the_file_and_a_close_column(tmp_path: Path, shop: Path) -> None:
    code, _, err = run_cli("fit", shop, "--label", "Label", "-o", tmp_path / "m.model", *TINY)
    line = error_line(err)
    assert code == 1 and "shop.csv" in line and "no label column 'Label'" in line and "did you mean 'label'" in line
    assert "pass --label one of the existing columns" in line
    code, _, err = run_cli("fit", shop, "--label", "label", "--id-column", "TXN", "-o", tmp_path / "m.model", *TINY)
    line = error_line(err)
    assert code == 1 and "shop.csv" in line and "no id column 'TXN'" in line and "did you mean 'txn'" in line
    assert "--id-column" in line and "id_column" not in line


def test_missing_column_of_a_wide_file_is_listed(tmp_path: Path) -> None:
    frame = pd.DataFrame({f"f{i:02d}": [0.0, 1.0] for i in range(70)})
    frame["is_fraud"] = [0, 1]
    data = tmp_path / "wide.csv"
    frame.to_csv(data, index=False)
    code, _, err = run_cli("fit", data, "--label", "is_frad", "-o", tmp_path / "m.model", *TINY)
    line = error_line(err)
    assert code == 1 and "71 columns, the closest: 'is_fraud'" in line and "wide.csv" in line


def test_missing_model_column_at_scoring_names_the_file(tmp_path: Path, shop: Path) -> None:
    model = tmp_path / "m.model"
    assert run_cli("fit", shop, "--label", "label", "--id-column", "txn", "--drop", "note", "-o", model,
                   *TINY, "-q")[0] == 0
    renamed = tmp_path / "renamed.csv"
    pd.read_csv(shop).rename(columns={"pressure": "Pressure"}).to_csv(renamed, index=False)
    code, _, err = run_cli("score", model, renamed, "-o", tmp_path / "s.csv")
    line = error_line(err)
    assert code == 1 and "renamed.csv" in line and "'pressure'" in line and "did you mean 'Pressure'" in line


@pytest.mark.parametrize(
    ("library", "command"),
    [
        ("pass anomaly_value= naming the class, e.g. anomaly_value='fraud'",
         "pass --anomaly-value naming the class, e.g. --anomaly-value fraud"),
        ("e.g. anomaly_value='50000+.'", "e.g. --anomaly-value 50000+."),
        ("e.g. anomaly_value='high risk'", "e.g. --anomaly-value 'high risk'"),
        ("e.g. anomaly_value=-1", "e.g. --anomaly-value -1"),
        ("pass label=None or label='y'", "pass no --label or --label y"),
        ("pass different columns for label= and id_column=", "pass different columns for --label and --id-column"),
        ("pass sep=';'", "pass --sep ';'"),
        ("pass sep='\\t'", "pass --sep '\\t'"),
        ("leave 'x' out of drop= (a model ...)", "leave 'x' out of --drop (a model ...)"),
        ("'/data/label=3.csv' has a row", "'/data/label=3.csv' has a row"),  # a path is not an argument
        # the command has no --format: it names the file's extension instead
        ("check that the file really is Parquet or pass the right format=",
         "check that the file really is Parquet or give the file the extension of its format"),
        ("use one of .csv, .tsv, or pass format= (one of csv, tsv)", "use one of .csv, .tsv"),
    ],
)
def test_option_words(library: str, command: str) -> None:
    assert _option_words(library) == command


def test_a_closed_pipe_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import deviation.cli

    def closed(args):
        raise BrokenPipeError(32, "Broken pipe")  # `deviation info m.model | grep -q ...` stopped reading

    monkeypatch.setattr(deviation.cli, "cmd_info", closed)
    code, _, err = run_cli("info", tmp_path / "m.model")
    assert code == 141 and err == ""


@pytest.mark.parametrize("quiet", [False, True])
def test_fit_says_once_that_an_identifier_is_left_out(tmp_path: Path, quiet: bool,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    frame = rows(60)
    frame.insert(0, "ref", [f"R{i:05d}" for i in range(60)])
    frame.to_csv(tmp_path / "ids.csv", index=False)
    with caplog.at_level(logging.WARNING):
        code, _, err = run_cli("fit", tmp_path / "ids.csv", "--label", "label", "-o", tmp_path / "m.model", *TINY,
                               *(["-q"] if quiet else []))
    assert code == 0, err
    warned = [r for r in caplog.records if "left out of the features: 'ref'" in r.getMessage()]
    if quiet:  # no report: the warning says it
        assert err == "" and len(warned) == 1
    else:  # the column report says it, and the warning would repeat it
        assert "not used as features: 'ref'" in err and "identifier" in err and not warned


@pytest.mark.parametrize("name", ["p_value", "is_anomaly", "score", "row"])
def test_fit_refuses_an_id_column_named_like_an_output(tmp_path: Path, name: str) -> None:
    # score and explain would refuse every file of the model: say so at fit, and write no model
    frame = rows(40)
    frame.insert(0, name, range(40))
    frame.to_csv(tmp_path / "o.csv", index=False)
    code, _, err = run_cli("fit", tmp_path / "o.csv", "--label", "label", "--id-column", name,
                           "-o", tmp_path / "m.model", *TINY)
    line = error_line(err)
    assert code == 1 and f"id column {name!r} has the name of an output column" in line and "o.csv" in line
    assert not (tmp_path / "m.model").exists()


def test_an_empty_label_column_is_said_to_be_empty(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("a,label\n1,\n2,\n3,\n")
    code, _, err = run_cli("fit", tmp_path / "e.csv", "--label", "label", "--anomaly-value", "fraud",
                           "-o", tmp_path / "m.model")
    line = error_line(err)
    assert code == 1 and "every cell is empty" in line and "values seen: )" not in line


def test_info_quotes_a_column_name_with_a_line_break(tmp_path: Path) -> None:
    frame = rows(40).rename(columns={"temp": "temp\nin C"})
    frame.to_csv(tmp_path / "nl.csv", index=False)
    assert run_cli("fit", tmp_path / "nl.csv", "--label", "label", "-o", tmp_path / "m.model", *TINY)[0] == 0
    code, out, _ = run_cli("info", tmp_path / "m.model")
    assert code == 0 and "'temp\\nin C'" in out
    table = out.split("column kinds", 1)[1].splitlines()
    assert not any(line.startswith("in C") for line in table)
