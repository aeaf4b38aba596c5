"""Determinism: the same seed gives bit-identical scores, in one process, across processes,
after saving and loading, and through the command line.

"Bit-identical" is compared on the raw bytes of the float64 scores (a SHA-256
digest), not with a tolerance.  The claim is for one machine and one set of
library versions, as the user guide says.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from deviation import DevNet, load, load_thyroid, save
from deviation.cli import main
from deviation.datasets import thyroid_path
from deviation.preprocess import Preprocessor

SMALL = {"epochs": 3, "batches_per_epoch": 5, "batch_size": 64}
ROWS = 1500  # a slice of thyroid keeps each fit well under a second


def digest(scores: np.ndarray) -> str:
    scores = np.ascontiguousarray(scores, dtype=np.float64)
    return hashlib.sha256(scores.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def data():
    X, y = load_thyroid(return_X_y=True)
    return X[:ROWS], y[:ROWS]


def fit_digest(X, y, engine: str, seed: int = 7, preset: str = "default") -> str:
    model = DevNet(**SMALL, engine=engine, device="cpu", random_state=seed, preset=preset).fit(X, y)
    return digest(model.decision_function(X))


ENGINES = ["numpy", pytest.param("torch", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("torch") is None, reason="torch not installed"))]


@pytest.mark.parametrize("preset", ["default", "paper"])
@pytest.mark.parametrize("engine", ENGINES)
def test_two_fits_in_one_process_are_bit_identical(data, engine, preset, record_property):
    X, y = data
    first, second = fit_digest(X, y, engine, preset=preset), fit_digest(X, y, engine, preset=preset)
    record_property("digest", first)
    assert first == second
    assert fit_digest(X, y, engine, seed=8, preset=preset) != first, "the seed must matter"


def test_sparse_input_fits_are_bit_identical(data, record_property):
    X, y = data
    S = sp.csr_matrix(np.where(X > np.median(X, axis=0), X, 0.0))
    runs = [digest(DevNet(**SMALL, random_state=3).fit(S, y).decision_function(S)) for _ in range(2)]
    record_property("digest", runs[0])
    assert runs[0] == runs[1]


def test_fit_leaves_global_random_state_alone(data):
    X, y = data
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    DevNet(**SMALL, random_state=0).fit(X, y).decision_function(X)
    DevNet(**SMALL, random_state=None).fit(X, y)
    assert np.array_equal(np.random.get_state()[1], before)


_CHILD = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    from deviation import DevNet, load_thyroid
    X, y = load_thyroid(return_X_y=True)
    X, y = X[:{rows}], y[:{rows}]
    for engine in sys.argv[1:]:
        m = DevNet(**{small}, engine=engine, device="cpu", random_state=7).fit(X, y)
        s = np.ascontiguousarray(m.decision_function(X), dtype=np.float64)
        print(engine, hashlib.sha256(s.tobytes()).hexdigest())
    """
)


def test_another_process_gives_the_same_bits(data, record_property):
    """A fresh interpreter (another hash seed, one BLAS thread) reproduces the in-process scores.

    The numpy engine only: importing torch in a child costs seconds, and the
    torch engine's in-process repeatability is tested above.
    """
    X, y = data
    expected = fit_digest(X, y, "numpy")
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONHASHSEED": "2", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _CHILD.format(rows=ROWS, small=repr(SMALL)), "numpy"],
                         capture_output=True, text=True, env=env, timeout=300, check=True).stdout
    assert out.split() == ["numpy", expected]
    record_property("digest", expected)


@pytest.mark.parametrize("preset", ["default", "paper"])
def test_save_and_load_keep_the_bits(data, tmp_path, preset):
    X, y = data
    model = DevNet(**SMALL, random_state=5, preset=preset).fit(X, y)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame.iloc[::7, 2] = np.nan  # imputed by the preprocessor
    pipe = Pipeline([("p", Preprocessor()), ("d", DevNet(**SMALL, random_state=5, preset=preset))]).fit(frame, y)
    for fitted, inputs in ((model, X), (pipe, frame)):
        path = save(fitted, tmp_path / "m.model")
        loaded = load(path)
        assert digest(loaded.decision_function(inputs)) == digest(fitted.decision_function(inputs))
        # loading twice, and a save of the loaded model, change nothing either
        again = load(save(loaded, tmp_path / "again.model"))
        assert digest(again.decision_function(inputs)) == digest(fitted.decision_function(inputs))


def _cli(argv: list[str]) -> None:
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert main(argv) == 0, err.getvalue()


def test_cli_seed_gives_byte_identical_score_files(tmp_path, record_property):
    """fit + score with --seed, twice in this process and once in a subprocess: the same bytes."""
    data = tmp_path / "thyroid.csv"
    pd.read_csv(thyroid_path()).iloc[:ROWS].to_csv(data, index=False)
    fit = ["--epochs", "3", "--batches-per-epoch", "5", "--seed", "11", "-q"]
    outputs = []
    for run in ("a", "b"):
        _cli(["fit", str(data), "--label", "class", "-o", str(tmp_path / f"{run}.model"), *fit])
        _cli(["score", str(tmp_path / f"{run}.model"), str(data), "-o", str(tmp_path / f"{run}.csv"), "-q"])
        outputs.append((tmp_path / f"{run}.csv").read_bytes())
    # another process: one interpreter runs both commands (one start-up instead of two)
    argv_fit = ["fit", str(data), "--label", "class", "-o", str(tmp_path / "c.model"), *fit]
    argv_score = ["score", str(tmp_path / "c.model"), str(data), "-o", str(tmp_path / "c.csv"), "-q"]
    code = f"from deviation.cli import main; assert main({argv_fit!r}) == 0; assert main({argv_score!r}) == 0"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONHASHSEED": "3"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
    outputs.append((tmp_path / "c.csv").read_bytes())
    record_property("digest", hashlib.sha256(outputs[0]).hexdigest())
    assert outputs[0] == outputs[1] == outputs[2]
    # a compressed output is byte-identical as well (gzip header without a timestamp)
    gz = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        _cli(["score", str(tmp_path / f"{run}.model"), str(data), "-o", str(tmp_path / run / "s.csv.gz"), "-q"])
        gz.append((tmp_path / run / "s.csv.gz").read_bytes())
    assert gz[0] == gz[1]
