"""End-to-end tests of the ``deviation`` command, run in a subprocess on real data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import dump_svmlight_file

from deviation import load, load_thyroid
from deviation.datasets import thyroid_path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FAST = ["--epochs", "20", "--batches-per-epoch", "20", "--seed", "0"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("deviation")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "deviation"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    shutil.copy(thyroid_path(), d / "thyroid.csv")
    return d


@pytest.fixture(scope="module")
def model(workdir):
    r = run("fit", str(workdir / "thyroid.csv"), "--label", "class", "-o", str(workdir / "t.model"), *FAST)
    assert r.returncode == 0, r.stderr
    return workdir / "t.model"


def test_fit_score_evaluate_info_on_thyroid_csv(workdir, model):
    assert model.exists()
    out = workdir / "scores.csv"
    r = run("score", str(model), str(workdir / "thyroid.csv"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["score", "p_value", "is_anomaly"]
    assert len(scores) == 7200
    # conformal decisions: the p-value against the held-out calibration rows at most 0.05
    np.testing.assert_array_equal(scores["is_anomaly"] == 1, scores["p_value"] <= 1 - 0.95)
    threshold = load(model)[-1].threshold_
    np.testing.assert_array_equal(scores["is_anomaly"], (scores["score"] > threshold).astype(int))
    y = load_thyroid(return_X_y=True)[1]
    assert scores["score"][y == 1].mean() > scores["score"][y == 0].mean() + 1.0

    r = run("evaluate", str(model), str(workdir / "thyroid.csv"), "--label", "class", "--json",
            "--plot", str(workdir / "eval.png"))
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)
    assert metrics["anomalies"] == 534 and metrics["rows"] == 7200
    assert 0.6 < metrics["auc_roc"] <= 1 and metrics["auc_pr"] > 0.15
    for png in (workdir / "eval.png", workdir / "eval-curves.png"):
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        import matplotlib.image

        assert matplotlib.image.imread(png).ndim == 3

    r = run("evaluate", str(model), str(workdir / "thyroid.csv"), "--label", "class")
    assert "AUC-ROC" in r.stdout and "precision@534" in r.stdout

    r = run("info", str(model))
    assert r.returncode == 0, r.stderr
    assert "thyroid.csv" in r.stdout and "'class'" in r.stdout and "hidden_layer_sizes" in r.stdout
    # the default preset on thyroid: 21 min-max + 21 quantile-view columns (6 continuous, 15 binary as they
    # are); binary columns outnumber continuous ones, so both networks are the paper's (one layer of 20)
    assert "layer widths [42, 40, 1] (2 networks side by side)" in r.stdout
    # "auto" resolved: the default preset's two networks see the labeled anomalies with noise
    assert "anomaly noise   0.3 of the labeled anomalies' spread per column" in r.stdout
    # l2=None resolved: thyroid's networks are the paper's, at the paper's penalty
    assert "l2 penalty      0.01 on the hidden kernels (the preset's for " in r.stdout


def test_same_seed_same_model_scores(workdir, model):
    again = workdir / "again.model"
    r = run("fit", str(workdir / "thyroid.csv"), "--label", "class", "-o", str(again), *FAST)
    assert r.returncode == 0, r.stderr
    a, b = workdir / "a.csv", workdir / "b.csv"
    run("score", str(model), str(workdir / "thyroid.csv"), "-o", str(a))
    run("score", str(again), str(workdir / "thyroid.csv"), "-o", str(b))
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))


def test_parquet_with_id_column_and_categorical(workdir):
    frame = pd.read_csv(workdir / "thyroid.csv")
    frame.insert(0, "record", [f"r{i}" for i in range(len(frame))])
    frame["site"] = np.where(np.arange(len(frame)) % 3 == 0, "north", "south")
    frame.to_parquet(workdir / "thyroid.parquet")
    model = workdir / "pq.model"
    r = run("fit", str(workdir / "thyroid.parquet"), "--label", "class", "--id-column", "record",
            "--scaling", "quantile", "-o", str(model), *FAST)
    assert r.returncode == 0, r.stderr
    # scoring data: columns in another order, no label column
    shuffled = frame.drop(columns="class").sample(frac=1.0, axis=1, random_state=0)
    shuffled.to_parquet(workdir / "to_score.parquet")
    out = workdir / "scored.parquet"
    r = run("score", str(model), str(workdir / "to_score.parquet"), "--id-column", "record", "-o", str(out))
    assert r.returncode == 0, r.stderr
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["record", "score", "p_value", "is_anomaly"]
    assert scored["record"].iloc[5] == "r5"
    # a missing column at scoring time is a data error
    shuffled.drop(columns="Dim_3=0").to_parquet(workdir / "missing.parquet")
    r = run("score", str(model), str(workdir / "missing.parquet"), "-o", str(workdir / "never.csv"))
    assert r.returncode == 1 and "Dim_3=0" in r.stderr
    assert not (workdir / "never.csv").exists()


def test_libsvm_sparse_file(workdir):
    X, y = load_thyroid(return_X_y=True)
    dump_svmlight_file(X, y, str(workdir / "thyroid.libsvm"), zero_based=True)
    model = workdir / "svm.model"
    r = run("fit", str(workdir / "thyroid.libsvm"), "--label", "y", "-o", str(model), *FAST)
    assert r.returncode == 0, r.stderr
    r = run("evaluate", str(model), str(workdir / "thyroid.libsvm"), "--label", "y", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["auc_roc"] > 0.6


@pytest.mark.parametrize(
    "content,fragment",
    [
        ("", "empty"),
        ("a,b,class\n", "no data rows"),
        ("a,b,label\n1,2,0\n3,4,1\n", "class"),
        ("a,b,class\n1,2,0\n3,4,yes\n", "yes"),
        ("a,b,class\n" + "".join(f"{i},{i % 3},{int(i < 3)}\n" for i in range(40)) + "oops,1,0\n",
         "non-numeric values such as 'oops'"),
    ],
)
def test_bad_data_files_exit_1_with_one_line(workdir, content, fragment):
    bad = workdir / "bad.csv"
    bad.write_text(content)
    out = workdir / "bad.model"
    r = run("fit", str(bad), "--label", "class", "-o", str(out), *FAST)
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deviation: error:"), r.stderr
    assert fragment in lines[0]
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_bad_model_files_exit_1_and_leave_no_output(workdir, model):
    data = model.read_bytes()
    truncated = workdir / "truncated.model"
    truncated.write_bytes(data[: len(data) // 2])
    changed = workdir / "changed.model"
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF
    changed.write_bytes(bytes(flipped))
    for bad in (truncated, changed, workdir / "thyroid.csv", workdir / "nowhere.model"):
        out = workdir / "out.csv"
        r = run("score", str(bad), str(workdir / "thyroid.csv"), "-o", str(out))
        assert r.returncode == 1, (bad, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        assert not out.exists()


def test_output_in_missing_directory_and_usage_errors(workdir, model):
    r = run("score", str(model), str(workdir / "thyroid.csv"), "-o", str(workdir / "no" / "such" / "out.csv"))
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = run("fit", str(workdir / "thyroid.csv"), "-o", str(workdir / "x.model"))
    assert r.returncode == 2 and "--label" in r.stderr
    r = run("score", str(model), str(workdir / "thyroid.csv"), "-o", str(workdir / "out.xlsx"))
    assert r.returncode == 2
    r = run("frobnicate")
    assert r.returncode == 2
    r = run("score", str(model), str(workdir / "thyroid.csv"), "-o", str(workdir / "o.csv"), "--debug",
            "--confidence", "0.99")
    assert r.returncode == 0


def test_output_that_is_a_directory_or_the_input_is_refused_before_scoring(workdir, model):
    folder = workdir / "a-folder-named-like-output.csv"  # the fixture's directory is shared by the module's tests
    folder.mkdir()
    r = run("score", str(model), str(workdir / "thyroid.csv"), "-o", str(folder))
    assert r.returncode == 1 and "is a directory" in r.stderr and "Traceback" not in r.stderr
    data = workdir / "input-also-given-as-output.csv"
    data.write_bytes((workdir / "thyroid.csv").read_bytes())
    for command in ("score", "explain"):
        r = run(command, str(model), str(data), "-o", str(data))
        assert r.returncode == 1 and "is the input" in r.stderr, r.stderr
        assert data.read_bytes() == (workdir / "thyroid.csv").read_bytes()  # the input is left as it was


def test_debug_shows_the_traceback(workdir):
    r = run("fit", str(workdir / "nothing.csv"), "--label", "class", "-o", str(workdir / "x.model"), "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_progress_bar_on_a_terminal_and_not_when_piped_or_quiet(workdir):
    import fcntl
    import pty
    import struct
    import termios

    exe = Path(sys.executable).with_name("deviation")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "deviation"]
    args = ["fit", str(workdir / "thyroid.csv"), "--label", "class", "-o", str(workdir / "p.model"), *FAST]
    master, slave = pty.openpty()
    # a real terminal has a size; tqdm draws nothing on a 0-column one
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.run([*cmd, *args], stdout=subprocess.PIPE, stderr=slave, timeout=300)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.returncode == 0
    assert b"training" in b"".join(chunks) and b"epoch" in b"".join(chunks)
    piped = run(*args)
    assert "training:" not in piped.stderr and "epoch/s" not in piped.stderr
    quiet = run(*args, "--quiet")
    assert quiet.stderr == ""


def test_explain_writes_top_features_and_a_plot(workdir, model):
    out = workdir / "why.csv"
    png = workdir / "why.png"
    r = run("explain", str(model), str(workdir / "thyroid.csv"), "--flagged", "--top", "3", "-o", str(out),
            "--plot", str(png))
    assert r.returncode == 0, r.stderr
    frame = pd.read_csv(out)
    assert list(frame.columns[:4]) == ["row", "score", "p_value", "is_anomaly"]
    assert {"feature_1", "value_1", "contribution_1", "feature_3", "contribution_3"} <= set(frame.columns)
    assert (frame["is_anomaly"] == 1).all() and (frame["score"] > load(model)[-1].threshold_).all()
    assert (frame["contribution_1"] >= frame["contribution_2"]).all()
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    r = run("explain", str(model), str(workdir / "thyroid.csv"), "-o", str(workdir / "all.parquet"), "--row", "99999",
            "--plot", str(workdir / "x.png"))
    assert r.returncode == 1 and "outside" in r.stderr and not (workdir / "all.parquet").exists()


def test_fit_from_a_sample_of_a_large_file(workdir):
    model = workdir / "sampled.model"
    r = run("fit", str(workdir / "thyroid.csv"), "--label", "class", "--sample-size", "2000", "-o", str(model), *FAST)
    assert r.returncode == 0, r.stderr
    r = run("info", str(model), "--json")
    assert json.loads(r.stdout)["metadata"]["n_unlabeled"] == 2000


def test_bad_margin_is_a_usage_error_worded_like_the_library(workdir):
    out = workdir / "margin.model"
    r = run("fit", str(workdir / "thyroid.csv"), "--label", "class", "-o", str(out), "--margin", "-1")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "deviation fit: error: argument --margin: must be a float > 0. Got -1 instead."
    )
    assert not out.exists()
    # the library says the same of the same value
    from deviation import DevNet
    from deviation.exceptions import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=r"'margin' parameter of DevNet must be a float > 0\. Got -1 "):
        DevNet(margin=-1)._validate_params()


@pytest.mark.parametrize("command", ["fit", "score"])
def test_confidence_outside_zero_one_is_refused_by_its_type(workdir, command):
    if command == "fit":
        args = ["fit", str(workdir / "thyroid.csv"), "--label", "class", "-o", str(workdir / "c.model")]
    else:  # the model file need not exist: the option is checked before anything is read
        args = ["score", str(workdir / "none.model"), str(workdir / "thyroid.csv"), "-o", str(workdir / "c.csv")]
    for bad in ("1", "0", "nan", "high"):
        r = run(*args, "--confidence", bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert r.stderr.strip().splitlines()[-1] == (
            f"deviation {command}: error: argument --confidence: must be a float in (0, 1). Got {bad} instead."
        )


@pytest.mark.parametrize("command", ["explain", "evaluate"])
def test_plot_without_matplotlib_fails_before_the_work(workdir, model, command):
    # --plot without matplotlib: one line naming the extra, before the command reads or writes anything
    out, png = workdir / f"{command}-noplot.csv", workdir / f"{command}-noplot.png"
    args = ([command, str(model), str(workdir / "thyroid.csv"), "--plot", str(png)]
            + (["-o", str(out)] if command == "explain" else ["--label", "class"]))
    code = ("import sys; sys.modules['matplotlib'] = None; sys.argv = ['deviation', *sys.argv[1:]]; "
            "from deviation._entry import main; sys.exit(main())")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].endswith("plots need matplotlib: pip install 'deviation[plot]'")
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not out.exists() and not png.exists()
