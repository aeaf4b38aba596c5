"""Hostile inputs: the library raises a typed error, the command line exits 1 with one line.

Every case here is a bad input a detector may meet in production: non-finite
or huge values, text in numeric columns, empty or truncated files, foreign
encodings, wrong labels, mismatched columns at scoring time, damaged or
malicious model files.  A library case asserts the exception type (always a
:class:`deviation.DeviationError` subclass) and a fragment of its one-line
message; a command-line case asserts exit code 1, exactly one stderr line
``deviation: error: ...`` naming the problem, no traceback and no output file.
Valid but unusual inputs are at the end: they must work and give finite scores.

``tools/reliability_report.py`` runs this module and turns the properties
recorded by each case (``record_property``) into docs/RELIABILITY.md.

The command-line cases call :func:`deviation.cli.main` in-process (the same
code the console script runs, ~50x cheaper than a subprocess); a few cases at
the end go through the real console script to check the exit code and stderr
of the process itself.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from deviation import DevNet, load, save
from deviation.cli import main
from deviation.exceptions import (
    DataError,
    DeviationError,
    FeatureMismatchError,
    ModelFileError,
    NotFittedError,
    ParameterError,
)
from deviation.io import read_table, write_table
from deviation.preprocess import Preprocessor

TINY = {"epochs": 1, "batches_per_epoch": 2, "batch_size": 8, "random_state": 0}
CLI_TINY = ["--epochs", "1", "--batches-per-epoch", "2", "--batch-size", "8", "--seed", "0", "-q"]
HEADER = "a,b,class\n"
ROWS = "".join(f"{i / 10},{i % 3},{int(i < 3)}\n" for i in range(20))
LATE = "a,b\n" + "".join(f"{i % 97 / 10},{i % 5}\n" for i in range(3000))
BIG = HEADER + "".join(f"{i * 0.1373:.5f},{i % 7},{int(i < 3)}\n" for i in range(2000))


# --------------------------------------------------------------------------- shared helpers


def csv(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def gzip_bytes(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def half(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


def zip_bytes(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def model_archive(parts: dict[str, bytes], format_version: int | None = None) -> bytes:
    """A model file laid out as docs/model-files.md says, with every checksum valid.

    Built independently of persistence.py, so that only the content checks can fail.
    """
    if format_version is not None:
        config = json.loads(parts["config.json"])
        config["format_version"] = format_version
        parts = {**parts, "config.json": json.dumps(config).encode()}
    manifest = {
        "format": "deviation-model",
        "format_version": 1,
        "files": {
            name: {"size": len(parts[name]), "sha256": hashlib.sha256(parts[name]).hexdigest()}
            for name in ("config.json", "weights.safetensors")
        },
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name in ("config.json", "weights.safetensors"):
            zf.writestr(name, parts[name])
        zf.comment = b"deviation-model sha256=" + b"0" * 64
    raw = bytearray(buffer.getvalue())
    raw[-64:] = hashlib.sha256(bytes(raw[:-64])).hexdigest().encode()
    return bytes(raw)


def model_parts(raw: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


class _Payload:
    """Unpickling this creates ``marker``: stands for any code an attacker would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def evil_pickle(marker: Path) -> bytes:
    # pickle is imported here, in a test, only to build the attack; deviation never imports it.
    import pickle

    return pickle.dumps(_Payload(marker), protocol=4)


def malicious_models(tmp: Path, model_raw: bytes) -> dict[str, tuple[Path, Path]]:
    """Model files whose deserialisation through pickle would create a marker file."""
    out: dict[str, tuple[Path, Path]] = {}

    def make(name: str, build: Callable[[bytes], bytes]) -> None:
        marker = tmp / f"{name}.pwned"
        path = tmp / f"{name}.model"
        path.write_bytes(build(evil_pickle(marker)))
        out[name] = (path, marker)

    make("raw_pickle", lambda p: p)
    # the layout of torch.save: a zip whose data.pkl unpickles the model
    make("torch_style_zip", lambda p: zip_bytes({"archive/data.pkl": p, "archive/version": "3\n"}))
    # the layout of a deviation model, valid checksums, but the weights are a pickle
    make(
        "pickle_as_weights",
        lambda p: model_archive({**model_parts(model_raw), "weights.safetensors": p}),
    )
    make(
        "pickle_as_config",
        lambda p: model_archive({**model_parts(model_raw), "config.json": p}),
    )
    return out


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.random((30, 3))
    y = (np.arange(30) < 3).astype(np.int64)
    return X, y


@pytest.fixture(scope="module")
def fitted(data) -> DevNet:
    return DevNet(**TINY).fit(*data)


@pytest.fixture(scope="module")
def fitted_frame(data) -> DevNet:
    X, y = data
    return DevNet(**TINY).fit(pd.DataFrame(X, columns=["a", "b", "c"]), y)


@pytest.fixture(scope="module")
def model_raw(fitted, tmp_path_factory) -> bytes:
    return save(fitted, tmp_path_factory.mktemp("model") / "m.model").read_bytes()


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory) -> Path:
    """A directory with a tiny CSV, a model fitted on it and a libsvm model (fitted once)."""
    d = tmp_path_factory.mktemp("cli")
    csv(d, "train.csv", HEADER + ROWS)
    svm = "".join(f"{int(i < 3)} 1:{i / 10} 3:{i % 2}\n" for i in range(20))
    csv(d, "train.libsvm", svm)
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["fit", str(d / "train.csv"), "--label", "class", "-o", str(d / "m.model"), *CLI_TINY]) == 0
        assert main(["fit", str(d / "train.libsvm"), "--label", "y", "-o", str(d / "svm.model"), *CLI_TINY]) == 0
    return d


# --------------------------------------------------------------------------- library cases

# Each case: (id, action(ctx), expected exception, fragment of the message)
# ctx is a dict with tmp, data, fitted, fitted_frame, model_raw.
LIB: list[tuple[str, Callable[[dict], object], type[DeviationError], str]] = []


def lib(case_id: str, expected: type[DeviationError], fragment: str):
    def register(action: Callable[[dict], object]) -> Callable[[dict], object]:
        LIB.append((case_id, action, expected, fragment))
        return action

    return register


def with_value(X: np.ndarray, value: float) -> np.ndarray:
    Z = X.copy()
    Z[5, 1] = value
    return Z


def labels_with(y: np.ndarray, value: object) -> np.ndarray:
    out = y.astype(object)
    out[7] = value
    return out


for _name, _value, _frag in [("nan", np.nan, "NaN"), ("+inf", np.inf, "infinity"), ("-inf", -np.inf, "infinity"),
                             ("1e300", 1e300, "magnitude above")]:
    lib(f"fit_X_{_name}", DataError, _frag)(lambda c, v=_value: DevNet(**TINY).fit(with_value(c["X"], v), c["y"]))
    lib(f"score_X_{_name}", DataError, _frag)(lambda c, v=_value: c["fitted"].decision_function(with_value(c["X"], v)))

lib("fit_strings_in_object_array", DataError, "not numeric")(
    lambda c: DevNet(**TINY).fit(np.array([["x", 1.0]] * 30, dtype=object), c["y"]))
lib("fit_dataframe_text_column", DataError, "not numeric")(
    lambda c: DevNet(**TINY).fit(pd.DataFrame({"a": ["u"] * 30, "b": 1.0}), c["y"]))
for _value in ["yes", 2, -1, 0.5]:
    lib(f"fit_y_value_{_value}", DataError, "0 (unlabeled) and 1")(
        lambda c, v=_value: DevNet(**TINY).fit(c["X"], labels_with(c["y"], v)))
lib("fit_y_nan", DataError, "0 (unlabeled) and 1")(
    lambda c: DevNet(**TINY).fit(c["X"], np.where(c["y"] == 1, 1.0, np.nan)))
lib("fit_y_no_labeled_anomaly", DataError, "no labeled anomaly")(
    lambda c: DevNet(**TINY).fit(c["X"], np.zeros(30)))
lib("fit_y_no_unlabeled_row", DataError, "no unlabeled row")(
    lambda c: DevNet(**TINY).fit(c["X"], np.ones(30)))
lib("fit_X_y_different_lengths", DataError, "different lengths")(lambda c: DevNet(**TINY).fit(c["X"], c["y"][:-1]))
lib("fit_y_none", DataError, "requires y")(lambda c: DevNet(**TINY).fit(c["X"], None))
lib("fit_y_2d", DataError, "1-D")(lambda c: DevNet(**TINY).fit(c["X"], np.c_[c["y"], c["y"]]))
lib("fit_one_row", DataError, "1 sample")(lambda c: DevNet(**TINY).fit(c["X"][:1], [1]))
lib("fit_zero_rows", DataError, "0 sample")(lambda c: DevNet(**TINY).fit(c["X"][:0], c["y"][:0]))
lib("fit_zero_columns", DataError, "0 feature")(lambda c: DevNet(**TINY).fit(c["X"][:, :0], c["y"]))
lib("fit_3d_array", DataError, "dim 3")(lambda c: DevNet(**TINY).fit(c["X"][:, :, None], c["y"]))
lib("fit_complex", DataError, "Complex")(lambda c: DevNet(**TINY).fit(c["X"] + 1j, c["y"]))
lib("fit_bad_parameter", ParameterError, "'epochs' parameter")(lambda c: DevNet(epochs=0).fit(c["X"], c["y"]))
lib("score_before_fit", NotFittedError, "not fitted")(lambda c: DevNet().decision_function(c["X"]))
lib("score_wrong_number_of_columns", FeatureMismatchError, "expecting 3 features")(
    lambda c: c["fitted"].decision_function(c["X"][:, :2]))
lib("score_different_column_names", FeatureMismatchError, "unseen at fit time")(
    lambda c: c["fitted_frame"].decision_function(pd.DataFrame(c["X"], columns=["a", "b", "z"])))
lib("score_reordered_columns", FeatureMismatchError, "same order")(
    lambda c: c["fitted_frame"].decision_function(pd.DataFrame(c["X"], columns=["b", "a", "c"])))
lib("score_zero_rows", DataError, "0 sample")(lambda c: c["fitted"].decision_function(c["X"][:0]))
lib("score_sparse_wrong_shape", FeatureMismatchError, "4 features")(
    lambda c: c["fitted"].decision_function(sp.csr_matrix(np.ones((5, 4)))))


def _sparse_with(X: np.ndarray, value: float) -> sp.csr_matrix:
    S = sp.csr_matrix(X)
    S.data[3] = value  # an explicitly stored entry
    return S


lib("fit_sparse_explicit_nan", DataError, "NaN")(lambda c: DevNet(**TINY).fit(_sparse_with(c["X"], np.nan), c["y"]))
lib("score_sparse_explicit_inf", DataError, "infinity")(
    lambda c: c["fitted"].decision_function(_sparse_with(c["X"], np.inf)))
lib("preprocessor_sparse_explicit_nan", DataError, "stores NaN")(
    lambda c: Preprocessor().fit(_sparse_with(c["X"], np.nan)))
lib("preprocessor_inf_in_frame", DataError, "infinite")(
    lambda c: Preprocessor().fit(pd.DataFrame({"a": [1.0, np.inf, 2.0]})))
lib("preprocessor_text_in_numeric_column", DataError, "which is not a number, but 'a' was numeric at fit")(
    lambda c: Preprocessor().fit(pd.DataFrame({"a": [1.0, 2.0]})).transform(pd.DataFrame({"a": ["x", 1.0]})))
lib("preprocessor_names_the_text_cell_not_a_number", DataError, "holds 'x' (data row 3)")(
    lambda c: Preprocessor().fit(pd.DataFrame({"a": [1.0, 2.0]})).transform(pd.DataFrame({"a": ["0.5", "1", "x"]})))
lib("preprocessor_missing_column", FeatureMismatchError, "missing 1 column")(
    lambda c: Preprocessor().fit(pd.DataFrame(c["X"], columns=list("abc"))).transform(
        pd.DataFrame(c["X"][:, :2], columns=list("ab"))))
lib("preprocessor_sparse_wrong_shape", FeatureMismatchError, "5 columns")(
    lambda c: Preprocessor().fit(sp.csr_matrix(c["X"])).transform(sp.csr_matrix((3, 5))))
lib("preprocessor_1e300_standard_scaling", DataError, "too large")(
    lambda c: Preprocessor(scaling="standard").fit(pd.DataFrame({"a": [0.0, 1e300, 5.0]})))
lib("preprocessor_1e300_without_scaling", DataError, "float32 range")(
    lambda c: Preprocessor(scaling="none").fit_transform(pd.DataFrame({"a": [0.0, 1e300, 5.0]})))
lib("pipeline_score_far_outside_training_range", DataError, "float32 range")(
    lambda c: Pipeline([("p", Preprocessor()), ("d", DevNet(**TINY))]).fit(c["X"], c["y"]).decision_function(
        with_value(c["X"], 1e300)))

# ---- readers and writers
lib("read_empty_file", DataError, "is empty")(lambda c: read_table(csv(c["tmp"], "e.csv", ""), "class"))
lib("read_blank_lines_only", DataError, "no data")(lambda c: read_table(csv(c["tmp"], "e.csv", "\n\n"), "class"))
lib("read_header_only", DataError, "no data rows")(lambda c: read_table(csv(c["tmp"], "h.csv", HEADER), "class"))
lib("read_duplicate_columns", DataError, "duplicate column names")(
    lambda c: read_table(csv(c["tmp"], "d.csv", "a,a,class\n" + ROWS), "class"))
lib("read_missing_label_column", DataError, "no label column 'class'")(
    lambda c: read_table(csv(c["tmp"], "m.csv", "a,b,lab\n" + ROWS), "class"))
lib("read_label_column_only", DataError, "no feature columns")(
    lambda c: read_table(csv(c["tmp"], "m.csv", "class\n1\n0\n"), "class"))
for _value in ["yes", "2", "-1", "0.5"]:
    lib(f"read_label_value_{_value}", DataError, "values other than 0/1")(
        lambda c, v=_value: read_table(csv(c["tmp"], "l.csv", HEADER + ROWS + f"1,1,{v}\n"), "class"))
lib("read_libsvm_label_2", DataError, "values other than 0/1")(
    lambda c: read_table(csv(c["tmp"], "l.libsvm", "".join(f"{i % 3} 1:{i}\n" for i in range(9))), "y"))
lib("read_libsvm_text_value", DataError, "could not be read")(
    lambda c: read_table(csv(c["tmp"], "t.libsvm", "0 1:x\n")))
lib("read_non_utf8_latin1", DataError, "not UTF-8")(
    lambda c: read_table(csv(c["tmp"], "l1.csv", (HEADER + ROWS + "caf\xe9,1,0\n").encode("latin1")), "class"))
lib("read_mixed_encoding", DataError, "not UTF-8")(
    lambda c: read_table(csv(c["tmp"], "mx.csv", "a,b,class\n\u00e9,1,0\n".encode() + "\xe9,2,1\n".encode("latin1")),
                         "class"))
lib("read_utf16", DataError, "UTF-16 byte-order mark); re-encode it as UTF-8, e.g. iconv -f utf-16")(
    lambda c: read_table(csv(c["tmp"], "u16.csv", (HEADER + ROWS).encode("utf-16")), "class"))
lib("read_truncated_gzip", DataError, "truncated or corrupt")(
    lambda c: read_table(csv(c["tmp"], "t.csv.gz", half(gzip_bytes(BIG))), "class"))
lib("read_truncated_zip", DataError, "truncated or corrupt")(
    lambda c: read_table(csv(c["tmp"], "t.zip", half(zip_bytes({"d.csv": BIG}))), "class"))
lib("read_short_row", DataError, "2 of 3 fields")(
    lambda c: read_table(csv(c["tmp"], "s.csv", HEADER + ROWS + "0.5,1\n"), "class"))
lib("read_truncated_last_line", DataError, "1 of 3 fields")(
    lambda c: read_table(csv(c["tmp"], "s.csv", HEADER + ROWS + "0.5"), "class"))
lib("read_long_row", DataError, "more fields than the header")(
    lambda c: read_table(csv(c["tmp"], "r.csv", HEADER + ROWS + "1,2,0,4\n"), "class"))
lib("read_npz_pickled_object_array", DataError, "allow_pickle=False")(
    lambda c: read_table(_npz_with_objects(c["tmp"])))
lib("read_directory", DataError, "is a directory")(lambda c: read_table(c["tmp"], "class"))
lib("read_missing_path", DataError, "does not exist")(lambda c: read_table(c["tmp"] / "nope.csv", "class"))
lib("read_unknown_extension", DataError, "unknown extension")(
    lambda c: read_table(csv(c["tmp"], "d.xlsx", HEADER + ROWS), "class"))
lib("write_table_missing_directory", DataError, "does not exist")(
    lambda c: write_table(pd.DataFrame({"a": [1]}), c["tmp"] / "no" / "such" / "out.csv"))


def _npz_with_objects(tmp: Path) -> Path:
    path = tmp / "objects.npz"
    np.savez(path, X=np.array([[1, "a"]] * 4, dtype=object), y=np.array([1, 0, 0, 0]))
    return path


# ---- model files
def _write(tmp: Path, name: str, raw: bytes) -> Path:
    path = tmp / name
    path.write_bytes(raw)
    return path


def _flip(raw: bytes, position: int) -> bytes:
    out = bytearray(raw)
    out[position] ^= 0x01
    return bytes(out)


lib("load_truncated_model", ModelFileError, "truncated or corrupted")(
    lambda c: load(_write(c["tmp"], "t.model", c["model_raw"][: len(c["model_raw"]) // 2])))
lib("load_one_byte_changed", ModelFileError, "checksum")(
    lambda c: load(_write(c["tmp"], "f.model", _flip(c["model_raw"], len(c["model_raw"]) // 2))))
lib("load_newer_format_version", ModelFileError, "newer version of deviation")(
    lambda c: load(_write(c["tmp"], "n.model", model_archive(model_parts(c["model_raw"]), format_version=99))))
lib("load_empty_model_file", ModelFileError, "empty")(lambda c: load(_write(c["tmp"], "e.model", b"")))
lib("load_model_is_a_csv", ModelFileError, "not a deviation model file")(
    lambda c: load(csv(c["tmp"], "data.model", HEADER + ROWS)))
lib("load_model_directory", ModelFileError, "is a directory")(lambda c: load(c["tmp"]))
lib("load_model_missing", ModelFileError, "does not exist")(lambda c: load(c["tmp"] / "nope.model"))


@pytest.mark.parametrize("case_id,action,expected,fragment", LIB, ids=[case[0] for case in LIB])
def test_library_case(case_id, action, expected, fragment, data, fitted, fitted_frame, model_raw, tmp_path,
                      record_property):
    ctx = {"tmp": tmp_path, "X": data[0], "y": data[1], "fitted": fitted, "fitted_frame": fitted_frame,
           "model_raw": model_raw}
    record_property("surface", "library")
    record_property("expected", expected.__name__)
    with pytest.raises(DeviationError) as info:
        action(ctx)
    record_property("raised", type(info.value).__name__)
    record_property("message", str(info.value))
    assert isinstance(info.value, expected), (type(info.value), info.value)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value) or "Complex" in fragment  # sklearn prints the complex array


@pytest.mark.parametrize("name", ["raw_pickle", "torch_style_zip", "pickle_as_weights", "pickle_as_config"])
def test_library_malicious_model_runs_no_code(name, model_raw, tmp_path, record_property):
    path, marker = malicious_models(tmp_path, model_raw)[name]
    record_property("surface", "library")
    record_property("expected", "ModelFileError")
    with pytest.raises(DeviationError) as info:
        load(path)
    record_property("raised", type(info.value).__name__)
    record_property("message", str(info.value))
    assert isinstance(info.value, ModelFileError)
    assert not marker.exists(), "loading the model file ran code from it"


def test_malicious_payload_is_live(tmp_path):
    """The payload used above really runs code when unpickled (so the test above means something)."""
    import pickle

    marker = tmp_path / "control.pwned"
    pickle.loads(evil_pickle(marker))
    assert marker.exists()


# --------------------------------------------------------------------------- command-line cases


def run_cli(argv: list[str]) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return code, err.getvalue()


# Each case: (id, setup(dir, tmp) -> (argv, output path or None), fragment)
CLI: list[tuple[str, Callable[[Path, Path], tuple[list[str], Path | None]], str]] = []


def cli_case(case_id: str, fragment: str):
    def register(setup):
        CLI.append((case_id, setup, fragment))
        return setup

    return register


def fit_with(name: str, content: str | bytes, *extra: str, label: str = "class"):
    def setup(d: Path, tmp: Path) -> tuple[list[str], Path]:
        data = csv(tmp, name, content)
        out = tmp / "out.model"
        return ["fit", str(data), "--label", label, "-o", str(out), *CLI_TINY, *extra], out

    return setup


def score_with(name: str, content: str | bytes, *extra: str, model: str = "m.model"):
    def setup(d: Path, tmp: Path) -> tuple[list[str], Path]:
        data = csv(tmp, name, content)
        out = tmp / "scores.csv"
        return ["score", str(d / model), str(data), "-o", str(out), "-q", *extra], out

    return setup


def score_model(build: Callable[[bytes, Path], Path]):
    def setup(d: Path, tmp: Path) -> tuple[list[str], Path]:
        model = build((d / "m.model").read_bytes(), tmp)
        out = tmp / "scores.csv"
        return ["score", str(model), str(d / "train.csv"), "-o", str(out), "-q"], out

    return setup


_FIT = {
    "fit_csv_inf": ("inf.csv", HEADER + ROWS + "inf,1,0\n", "infinite values"),
    "fit_csv_minus_inf": ("inf.csv", HEADER + ROWS + "-inf,1,0\n", "infinite values"),
    "fit_csv_Infinity_word": ("inf.csv", HEADER + ROWS + "1,Infinity,0\n", "infinite values"),
    "fit_csv_1e309_overflows_float64": ("big.csv", HEADER + ROWS + "1e309,1,0\n", "beyond the float64 range"),
    "fit_csv_range_overflows_float64": ("big.csv", HEADER + ROWS + "1e308,1,0\n-1e308,1,0\n", "too large"),
    "fit_csv_string_in_numeric_column": ("s.csv", HEADER + ROWS + "abc,1,0\n", "non-numeric values such as 'abc'"),
    "fit_csv_empty_file": ("e.csv", "", "is empty"),
    "fit_csv_header_only": ("h.csv", HEADER, "no data rows"),
    "fit_csv_one_row": ("one.csv", HEADER + "1,2,1\n", "1 sample"),
    # business tables (issue 16): nothing but ids, a libsvm index of 2^31 - 1, a wrong --anomaly-value hint
    "fit_csv_only_an_undeclared_id": ("ids.csv", "ref,class\n" + "".join(f"R{i:05d},{int(i < 3)}\n" for i in range(80)),
                                      "no usable feature column: every column was left out ('ref' (identifier)"),
    "fit_csv_two_valued_label_hint_names_the_minority": (
        "yn.csv", "a,b,class\n" + "".join(f"{i},{i % 3},{'fraud' if i < 3 else 'legit'}\n" for i in range(20)),
        "--anomaly-value fraud"),
    # every feature the same in every row: nothing to learn from, said in one line
    "fit_csv_constant_columns": ("c.csv", HEADER + "".join(f"5,7,{int(i < 3)}\n" for i in range(20)),
                                 "no usable feature column: every column was left out ('a' (constant)"),
    "fit_csv_duplicate_columns": ("d.csv", "a,a,class\n" + ROWS, "duplicate column names"),
    "fit_csv_missing_label_column": ("m.csv", "a,b,lab\n" + ROWS, "no label column 'class'"),
    "fit_csv_label_column_only": ("m.csv", "class\n1\n0\n", "no feature columns"),
    "fit_csv_label_yes": ("l.csv", HEADER + ROWS + "1,1,yes\n", "values other than 0/1"),
    "fit_csv_label_2": ("l.csv", HEADER + ROWS + "1,1,2\n", "values other than 0/1"),
    "fit_csv_label_minus_1": ("l.csv", HEADER + ROWS + "1,1,-1\n", "values other than 0/1"),
    "fit_csv_label_0.5": ("l.csv", HEADER + ROWS + "1,1,0.5\n", "values other than 0/1"),
    "fit_csv_no_labeled_anomaly": ("n.csv", HEADER + "".join(f"{i},{i},0\n" for i in range(9)), "no labeled anomaly"),
    "fit_csv_no_unlabeled_row": ("n.csv", HEADER + "".join(f"{i},{i},1\n" for i in range(9)), "no unlabeled row"),
    "fit_csv_latin1": ("l1.csv", (HEADER + ROWS + "caf\xe9,1,0\n").encode("latin1"), "not UTF-8"),
    "fit_csv_mixed_encoding": ("mx.csv", "a,b,class\n\u00e9,1,0\n".encode() + "\xe9,2,1\n".encode("latin1"),
                               "not UTF-8"),
    "fit_csv_binary_garbage": ("bin.csv", bytes(range(256)) * 8, "not UTF-8"),
    "fit_csv_short_row": ("s.csv", HEADER + ROWS + "0.5,1\n", "2 of 3 fields"),
    "fit_csv_truncated_last_line": ("s.csv", HEADER + ROWS + "0.", "1 of 3 fields"),
    "fit_csv_long_row": ("r.csv", HEADER + ROWS + "1,2,0,4\n", "more fields than the header"),
    "fit_gzip_truncated": ("t.csv.gz", half(gzip_bytes(BIG)), "truncated or corrupt"),
    "fit_zip_truncated": ("t.zip", half(zip_bytes({"d.csv": BIG})), "truncated or corrupt"),
    "fit_zip_two_data_files": ("two.zip", zip_bytes({"a.csv": HEADER + ROWS, "b.csv": HEADER + ROWS}),
                               "must hold exactly one"),
}
for _id, (_name, _content, _frag) in _FIT.items():
    cli_case(_id, _frag)(fit_with(_name, _content))

cli_case("fit_libsvm_index_2_31", "feature index 2147483647 makes 2,147,483,647 feature columns")(
    fit_with("w.libsvm", "1 1:1 2147483647:1\n0 1:2\n0 1:3\n", label="y"))
cli_case("fit_anomaly_value_matches_nothing", "matches no row")(
    fit_with("av.csv", HEADER + ROWS, "--anomaly-value", "zzz"))
cli_case("fit_1e300_standard_scaling", "too large")(fit_with("b.csv", HEADER + ROWS + "1e300,1,0\n",
                                                             "--scaling", "standard"))
cli_case("fit_1e300_no_scaling", "float32 range")(fit_with("b.csv", HEADER + ROWS + "1e300,1,0\n",
                                                           "--scaling", "none"))
cli_case("fit_libsvm_explicit_nan", "stores NaN")(
    fit_with("n.libsvm", "".join(f"{int(i < 3)} 1:{i} 3:{'nan' if i == 5 else 1}\n" for i in range(20)), label="y"))
cli_case("fit_libsvm_label_minus_1", "values other than 0/1")(
    fit_with("n.libsvm", "".join(f"{[-1, 1][i < 3]} 1:{i}\n" for i in range(20)), label="y"))
cli_case("fit_npz_pickled_objects", "allow_pickle=False")(
    lambda d, tmp: (["fit", str(_npz_with_objects(tmp)), "--label", "y", "-o", str(tmp / "o.model"), *CLI_TINY],
                    tmp / "o.model"))
cli_case("fit_data_is_a_directory", "is a directory")(
    lambda d, tmp: (["fit", str(tmp), "--label", "class", "-o", str(tmp / "o.model"), *CLI_TINY], tmp / "o.model"))
cli_case("fit_data_missing", "does not exist")(
    lambda d, tmp: (["fit", str(tmp / "no.csv"), "--label", "class", "-o", str(tmp / "o.model"), *CLI_TINY],
                    tmp / "o.model"))
cli_case("fit_output_in_missing_directory", "does not exist")(
    lambda d, tmp: (["fit", str(d / "train.csv"), "--label", "class", "-o", str(tmp / "no" / "o.model"), *CLI_TINY],
                    tmp / "no" / "o.model"))

_SCORE = {
    "score_fewer_columns": ("s.csv", "a\n1\n", "missing 1 column(s)"),
    "score_renamed_column": ("s.csv", "a,z\n1,2\n", "missing 1 column(s)"),
    "score_inf": ("s.csv", "a,b\n1,inf\n", "infinite values"),
    "score_1e300_outside_training_range": ("s.csv", "a,b\n1e300,1\n", "float32 range"),
    "score_1e38_reaches_the_network": ("s.csv", "a,b\n1e38,1\n", "magnitude above"),
    "score_string_in_numeric_column": ("s.csv", "a,b\n1,x\n", "column 'b' holds 'x' (data row 1), but the model read"),
    "score_empty_file": ("s.csv", "", "is empty"),
    "score_header_only": ("s.csv", "a,b\n", "no data rows|had no rows"),
    "score_short_row": ("s.csv", "a,b\n1,2\n3\n", "1 of 2 fields|Expected 2 columns, got 1"),
    # CSV is scored batch by batch: a bad last line must still fail the whole command
    "score_late_text_value": ("s.csv", LATE + "x,1\n", "holds 'x' (data row 3001)"),
    "score_late_inf": ("s.csv", LATE + "1,-inf\n", "infinite values"),
    "score_late_short_row": ("s.csv", LATE + "1\n", "1 of 2 fields|Expected 2 columns, got 1"),
    "score_late_truncated_line": ("s.csv", LATE + "0.", "1 of 2 fields|Expected 2 columns, got 1"),
    "score_late_long_row": ("s.csv", LATE + "1,2,3\n", "more fields than the header"),
    "score_late_non_utf8": ("s.csv", LATE.encode() + b"\xe9,1\n", "UTF-8|UTF8"),
    "score_gzip_truncated": ("s.csv.gz", half(gzip_bytes(LATE * 3)), "truncated|Truncated"),
    "score_duplicate_columns": ("s.csv", "a,a,b\n1,2,3\n", "duplicate"),
    "score_parquet_garbage": ("s.parquet", b"PAR1 not really parquet", "parquet|Parquet"),
}
for _id, (_name, _content, _frag) in _SCORE.items():
    cli_case(_id, _frag)(score_with(_name, _content))
cli_case("score_missing_id_column", "no id column 'rid'")(score_with("s.csv", "a,b\n1,2\n", "--id-column", "rid"))
cli_case("score_sparse_more_features", "feature index 5, beyond the")(
    score_with("s.libsvm", "0 1:1 5:1\n", model="svm.model"))
# a file whose trailing features never occur scores (the model's width); index 0 in a 1-based model does not
cli_case("score_sparse_index_zero", "uses feature index 0")(score_with("s.libsvm", "0 0:1\n", model="svm.model"))
cli_case("score_sparse_explicit_nan", "stores NaN")(score_with("s.libsvm", "0 1:nan 3:1\n", model="svm.model"))
cli_case("score_model_truncated", "truncated or corrupted")(
    score_model(lambda raw, tmp: _write(tmp, "t.model", raw[: len(raw) // 2])))
cli_case("score_model_one_byte_changed", "checksum")(
    score_model(lambda raw, tmp: _write(tmp, "f.model", _flip(raw, len(raw) // 2))))
cli_case("score_model_newer_format", "newer version of deviation")(
    score_model(lambda raw, tmp: _write(tmp, "n.model", model_archive(model_parts(raw), format_version=99))))
cli_case("score_model_is_a_directory", "is a directory")(score_model(lambda raw, tmp: tmp))
cli_case("score_model_missing", "does not exist")(score_model(lambda raw, tmp: tmp / "nope.model"))
cli_case("score_model_is_data", "not a deviation model file")(
    score_model(lambda raw, tmp: csv(tmp, "data.model", HEADER + ROWS)))
cli_case("score_output_in_missing_directory", "does not exist")(
    lambda d, tmp: (["score", str(d / "m.model"), str(d / "train.csv"), "-o", str(tmp / "no" / "s.csv")],
                    tmp / "no" / "s.csv"))
cli_case("evaluate_single_class", "needs both anomalies")(
    lambda d, tmp: (["evaluate", str(d / "m.model"), str(csv(tmp, "e.csv", "a,b,class\n1,2,0\n3,4,0\n")),
                     "--label", "class"], None))
cli_case("evaluate_plot_in_missing_directory", "does not exist")(
    lambda d, tmp: (["evaluate", str(d / "m.model"), str(d / "train.csv"), "--label", "class",
                     "--plot", str(tmp / "no" / "p.png")], tmp / "no" / "p.png"))
cli_case("info_model_truncated", "truncated or corrupted")(
    lambda d, tmp: (["info", str(_write(tmp, "t.model", (d / "m.model").read_bytes()[:100]))], None))


def check_cli_failure(code: int, stderr: str, out: Path | None, fragment: str, record_property) -> str:
    lines = stderr.strip().splitlines()
    record_property("surface", "cli")
    record_property("exit_code", code)
    record_property("message", stderr.strip())
    assert code == 1, stderr
    assert len(lines) == 1 and lines[0].startswith("deviation: error: "), stderr
    assert "Traceback" not in stderr
    assert any(part in lines[0] for part in fragment.split("|")), lines[0]
    if out is not None:
        assert not out.exists(), f"{out} was left behind"
        assert not list(out.parent.glob(f".{out.name}*")) if out.parent.exists() else True
    return lines[0]


@pytest.mark.parametrize("case_id,setup,fragment", CLI, ids=[case[0] for case in CLI])
def test_cli_case(case_id, setup, fragment, cli_dir, tmp_path, record_property):
    argv, out = setup(cli_dir, tmp_path)
    code, stderr = run_cli(argv)
    check_cli_failure(code, stderr, out, fragment, record_property)


@pytest.mark.parametrize("name", ["raw_pickle", "torch_style_zip", "pickle_as_weights", "pickle_as_config"])
def test_cli_malicious_model_runs_no_code(name, cli_dir, model_raw, tmp_path, record_property):
    path, marker = malicious_models(tmp_path, model_raw)[name]
    out = tmp_path / "scores.csv"
    code, stderr = run_cli(["score", str(path), str(cli_dir / "train.csv"), "-o", str(out)])
    line = check_cli_failure(code, stderr, out, "", record_property)
    assert "model file" in line.lower()
    assert not marker.exists(), "scoring with the model file ran code from it"


# ---- through the real console script: the process exit code and its stderr


def run_process(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("deviation")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "deviation"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_process_failures_are_one_line_exit_1(cli_dir, model_raw, tmp_path, record_property):
    """Two failures through the console script: a library warning is folded into the one error line."""
    out = tmp_path / "o.model"
    r = run_process("fit", str(csv(tmp_path, "av.csv", HEADER + ROWS)), "--label", "class",
                    "--anomaly-value", "zzz", "-o", str(out), *CLI_TINY)
    check_cli_failure(r.returncode, r.stderr, out, "matches no row", record_property)

    path, marker = malicious_models(tmp_path, model_raw)["pickle_as_weights"]
    scores = tmp_path / "s.csv"
    r = run_process("score", str(path), str(cli_dir / "train.csv"), "-o", str(scores))
    check_cli_failure(r.returncode, r.stderr, scores, "Model file", record_property)
    assert not marker.exists()


# --------------------------------------------------------------------------- valid but unusual inputs

VALID: dict[str, Callable[[np.random.Generator], tuple[object, np.ndarray]]] = {
    "constant_column": lambda rng: (np.c_[rng.random((30, 2)), np.full(30, 7.0)], (np.arange(30) < 3).astype(int)),
    "all_columns_constant": lambda rng: (np.full((30, 3), 2.5), (np.arange(30) < 3).astype(int)),
    "duplicated_rows": lambda rng: (np.repeat(rng.random((5, 3)), 6, axis=0), (np.arange(30) % 6 == 0).astype(int)),
    "single_labeled_anomaly": lambda rng: (rng.random((30, 3)), (np.arange(30) == 0).astype(int)),
    "two_rows": lambda rng: (rng.random((2, 3)), np.array([1, 0])),
    "all_zero_sparse_rows": lambda rng: (sp.csr_matrix(np.vstack([rng.random((20, 3)), np.zeros((10, 3))])),
                                         (np.arange(30) < 3).astype(int)),
    "empty_sparse_matrix_values": lambda rng: (sp.csr_matrix((30, 4)), (np.arange(30) < 3).astype(int)),
    "unicode_column_names": lambda rng: (pd.DataFrame(rng.random((30, 3)), columns=["é名", "💥 x", "ß"]),
                                         (np.arange(30) < 3).astype(int)),
    "boolean_labels": lambda rng: (rng.random((30, 3)), np.arange(30) < 3),
    "tiny_and_1e29_values": lambda rng: (np.c_[rng.random(30) * 1e-300, rng.random(30) * 1e29],
                                         (np.arange(30) < 3).astype(int)),
}


@pytest.mark.parametrize("name", list(VALID))
def test_valid_unusual_input_library(name, record_property):
    X, y = VALID[name](np.random.default_rng(0))
    record_property("surface", "library")
    model = DevNet(**TINY).fit(X, y)
    scores = model.decision_function(X)
    assert scores.shape == (X.shape[0],) and np.isfinite(scores).all()
    np.testing.assert_array_equal(model.predict(X), (scores > model.threshold_).astype(int))


_VALID_CLI = {
    "csv_empty_cells_are_imputed": ("e.csv", HEADER + ROWS + ",,0\n1,,\n"),
    "csv_column_without_values": ("e.csv", "a,b,class\n" + "".join(f",{i},{int(i < 3)}\n" for i in range(20))),
    "csv_1e300_minmax_scaled": ("b.csv", HEADER + ROWS + "1e300,1,0\n"),
    "csv_duplicated_rows": ("d.csv", HEADER + "1,2,0\n" * 15 + "9,9,1\n" * 3),
    "csv_single_labeled_anomaly": ("s.csv", HEADER + "".join(f"{i},{i % 3},{int(i == 0)}\n" for i in range(20))),
    "csv_unicode_column_names": ("u.csv", "é名,💥 b,class\n" + ROWS),
    "csv_utf8_bom": ("bom.csv", ("\ufeff" + HEADER + ROWS).encode()),
    "csv_true_false_labels": ("t.csv", HEADER + "".join(f"{i},{i % 3},{'true' if i < 3 else 'false'}\n"
                                                        for i in range(20))),
    # business tables as they come (issue 16): each fits and scores, read the same way by both commands
    "csv_undeclared_text_id_left_out": ("id.csv", "ref,a,b,class\n" + "".join(
        f"T{900000 + i},{i % 7 / 10},{i % 3},{int(i < 3)}\n" for i in range(80))),
    "csv_dates_dd_mm_yyyy_become_parts": ("dt.csv", "when,a,class\n" + "".join(
        f"{1 + i % 28:02d}/{1 + i % 12:02d}/2024,{i % 7},{int(i < 3)}\n" for i in range(40))),
    "csv_question_marks_in_a_numeric_column": ("q.csv", "a,b,class\n" + "".join(
        f"{'?' if i % 4 == 0 else i / 10},{i % 3},{int(i < 3)}\n" for i in range(40))),
    "csv_currency_thousands_percent": ("money.csv", 'amount,rate,class\n' + "".join(
        f'"${1000 + 37 * i:,}.50",{i % 9}%,{int(i < 3)}\n' for i in range(40))),
    "csv_semicolon_and_decimal_commas": ("semi.csv", "a;b;class\n" + "".join(
        f"{i},{i % 7};{i % 3},5;{int(i < 3)}\n" for i in range(40))),
    "csv_true_false_feature_and_none_cells": ("tf.csv", "flag,a,class\n" + "".join(
        f"{'True' if i % 3 else 'False'},{'None' if i % 5 == 0 else i},{int(i < 3)}\n" for i in range(40))),
    "libsvm_all_zero_rows": ("z.libsvm", "".join(f"{int(i < 3)} 1:{i} 3:1\n" if i % 4 else f"{int(i < 3)}\n"
                                                 for i in range(20))),
}


@pytest.mark.parametrize("name", list(_VALID_CLI))
def test_valid_unusual_input_cli(name, tmp_path, record_property):
    """Fit and score through the command line: exit 0, one finite score per row."""
    file_name, content = _VALID_CLI[name]
    data = csv(tmp_path, file_name, content)
    label = "y" if file_name.endswith(".libsvm") else "class"
    record_property("surface", "cli")
    code, stderr = run_cli(["fit", str(data), "--label", label, "-o", str(tmp_path / "m.model"), *CLI_TINY])
    assert code == 0, stderr
    code, stderr = run_cli(["score", str(tmp_path / "m.model"), str(data), "-o", str(tmp_path / "scores.csv"), "-q"])
    assert code == 0, stderr
    scores = pd.read_csv(tmp_path / "scores.csv")
    n_rows = read_table(data, label).X.shape[0]
    assert len(scores) == n_rows and np.isfinite(scores["score"]).all()


# --------------------------------------------------------------------------- no code runs from files

SRC = Path(__file__).resolve().parents[1] / "src"
UNSAFE = {
    "import pickle / cPickle / dill / cloudpickle / joblib / shelve / marshal": (
        r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle|joblib|shelve|marshal)\b"
    ),
    "pickle.load(s)": r"\bpickle\.loads?\b",
    "torch.load": r"\btorch\.load\b(?!_)",
    "pandas read_pickle": r"\bread_pickle\b",
    "allow_pickle=True": r"allow_pickle\s*=\s*True",
    "np.load without allow_pickle=False": r"\bnp\.load\((?![^)]*allow_pickle\s*=\s*False)",
    "eval(": r"(?<![.\w])eval\s*\(",
    "exec(": r"(?<![.\w])exec\s*\(",
    "__import__(": r"\b__import__\s*\(",
    "yaml.load / unsafe_load": r"\byaml\.(unsafe_)?load\b",
}


def test_no_unsafe_deserialisation_anywhere_in_src(record_property):
    """The whole src/ tree (bench and competitors included) never unpickles or evaluates code."""
    import re

    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10
    offenders = [
        f"{path.relative_to(SRC)}:{text[: m.start()].count(chr(10)) + 1}: {name}"
        for path in files
        for text in [path.read_text(encoding="utf-8")]
        for name, pattern in UNSAFE.items()
        for m in re.finditer(pattern, text, re.MULTILINE)
    ]
    record_property("surface", "library")
    record_property("message", f"{len(files)} files scanned for {len(UNSAFE)} patterns")
    assert offenders == []
