"""``deviation score``'s all-numeric path (deviation.scale.numeric, deviation.persistence.numeric).

The path's promise: for a saved (Preprocessor, DevNet) pipeline of plain numeric
columns and a Parquet file of integer/float columns, it writes the same bytes as
the general path (:func:`deviation.scale.score_file` on :func:`deviation.load`),
without importing scikit-learn, pandas or scipy.stats; anything else (and any batch
it cannot score exactly) goes to the general path, with the general path's messages.

The models are fitted once per module by the ``deviation fit`` command (its
``main``, all in one subprocess to pay the start-up once) on the six continuous
columns of the bundled thyroid data (7,200 rows): its 15 binary columns would make
the model "not all-numeric" (binary kind), which the path does not take.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sklearn.pipeline import Pipeline

import deviation
import deviation._devnet_params
import deviation.scale.numeric as numeric_module
from deviation import DataError, DevNet, Preprocessor, load_thyroid
from deviation.exceptions import ModelFileError
from deviation.persistence.numeric import PREPROCESSOR_PARAMS, read_numeric_model
from deviation.scale import score_file
from deviation.scale.numeric import open_numeric_parquet, score_numeric_file

COLUMNS = ["Dim_0", "Dim_16", "Dim_17", "Dim_18", "Dim_19", "Dim_20"]  # thyroid's continuous columns
N_ROWS = 7200
OUTPUT_COLUMNS = ["score", "p_value", "is_anomaly"]
FORBIDDEN = ("sklearn", "pandas", "scipy.stats")

# model name -> (training file, extra options of `deviation fit`)
FITS = {
    "default": ("train.parquet", ["--preset", "default"]),
    "paper": ("train.parquet", ["--preset", "paper"]),
    "none": ("train.parquet", ["--scaling", "none"]),  # no scaler: the path's scale=None branch
    "categorical": ("train_cat.parquet", []),  # a text column -> categorical: not all-numeric
    "uncalibrated": ("train.parquet", ["--calibration-size", "0"]),  # no calibration scores
}
NUMERIC_MODELS = ["default", "paper", "none"]

_FIT_SCRIPT = """
import json, sys
from deviation.cli import main
for argv in json.loads(sys.argv[1]):
    assert main(argv) == 0, argv
"""

# Runs the console script's entry point in a fresh interpreter and reports which heavy modules it imported.
_CLI_SCRIPT = """
import json, sys
from deviation._entry import main
try:
    rc = main(json.loads(sys.argv[1]))
except SystemExit as exc:
    rc = exc.code
loaded = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in {forbidden!r}))
print(json.dumps({{"rc": rc, "loaded": loaded}}))
""".format(forbidden=FORBIDDEN)


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with the training files, the scoring file ``data.parquet`` and the fitted models."""
    d = tmp_path_factory.mktemp("numeric_path")
    frame, y = load_thyroid(return_X_y=True, as_frame=True)
    frame = frame[COLUMNS].copy()
    assert frame.shape == (N_ROWS, len(COLUMNS))
    pq.write_table(pa.table({c: frame[c].to_numpy() for c in COLUMNS}), d / "data.parquet")
    train = frame.copy()
    train["class"] = y.to_numpy()
    train.to_parquet(d / "train.parquet", index=False)
    train["grp"] = np.array(["a", "b", "c"])[np.arange(N_ROWS) % 3]
    train.to_parquet(d / "train_cat.parquet", index=False)
    argvs = [
        ["fit", str(d / source), "--label", "class", "--seed", "0", "--epochs", "5", "-q", "-o", str(d / f"{name}.model"),
         *options]
        for name, (source, options) in FITS.items()
    ]
    subprocess.run([sys.executable, "-c", _FIT_SCRIPT, json.dumps(argvs)], check=True, cwd=d)
    return d


@pytest.fixture(scope="module")
def base(work):
    """The scoring file's columns as a pyarrow Table (float64)."""
    return pq.read_table(work / "data.parquet")


def model(work: Path, name: str) -> Path:
    return work / f"{name}.model"


def write(path: Path, table: pa.Table, **kwargs) -> Path:
    pq.write_table(table, path, **kwargs)
    return path


def with_nulls(values: np.ndarray, every: int, type_: pa.DataType | None = None) -> pa.Array:
    """``values`` with a Parquet null in every ``every``-th row (from row 3)."""
    mask = np.zeros(len(values), dtype=bool)
    mask[3::every] = True
    return pa.array(values, mask=mask, type=type_)


def temp_files(folder: Path) -> list[str]:
    """The writers' hidden temporary files (``.NAME.HEX.tmp``) left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def both_paths(model_path: Path, data: Path, folder: Path, ext: str = "parquet", **kwargs):
    """Score ``data`` by the numeric and the general path; check the same bytes; return the numeric summary."""
    folder.mkdir(exist_ok=True)
    numeric_out, general_out = folder / f"numeric.{ext}", folder / f"general.{ext}"
    rows = []
    summary = score_numeric_file(read_numeric_model(model_path), data, numeric_out, progress=rows.append, **kwargs)
    assert summary is not None, "the numeric path handed the file to the general path"
    general = score_file(deviation.load(model_path), data, general_out, **kwargs)
    assert numeric_out.read_bytes() == general_out.read_bytes()
    assert (summary.n_rows, summary.n_flagged, summary.threshold) == (general.n_rows, general.n_flagged, general.threshold)
    assert sum(rows) == summary.n_rows
    # not a trivially equal output: every row, the scored columns, scores that differ
    table = pacsv.read_csv(numeric_out) if ext == "csv" else pq.read_table(numeric_out)
    assert table.column_names == OUTPUT_COLUMNS
    assert table.num_rows == summary.n_rows
    assert len(np.unique(table.column("score").to_numpy())) > 100
    assert temp_files(folder) == []
    return summary


def run_cli(argv: list[str], cwd: Path) -> tuple[dict, subprocess.CompletedProcess]:
    """``deviation ARGV`` through the console script's ``main`` in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", _CLI_SCRIPT, json.dumps(argv)], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done


# ---------------------------------------------------------------------------------------------- which models


@pytest.mark.parametrize("name", NUMERIC_MODELS)
def test_all_numeric_models_are_read(work, name):
    m = read_numeric_model(model(work, name))
    assert m is not None
    assert m.columns == COLUMNS
    assert (m.scale is None) == (name == "none")
    assert (m.view is not None) == (name != "paper")  # the default preset's input view; the paper's single network
    assert m.confidence == 0.95
    assert len(m.calibration_scores) > 0 and np.all(np.diff(m.calibration_scores) >= 0)


@pytest.mark.parametrize("name", ["categorical", "uncalibrated"])
def test_other_models_are_not_read(work, name):
    assert read_numeric_model(model(work, name)) is None
    assert deviation.load(model(work, name)) is not None  # a valid model, for the general path


def test_models_saved_by_the_api_are_left_to_the_general_path(work, base):
    X = base.to_pandas()
    y = (np.arange(N_ROWS) % 50 == 0).astype(int)
    for calibration_size, name in ((0, "api0.model"), ("auto", "api.model")):
        pipe = Pipeline([("preprocessor", Preprocessor()),
                         ("devnet", DevNet(calibration_size=calibration_size, epochs=2, random_state=0))]).fit(X, y)
        deviation.save(pipe, work / name)
        assert deviation.load(work / name) is not None
        # api0: no calibration scores -> None. api: calibrated, but a model saved by the API has no input
        # schema (how a file's columns are read), so the path cannot promise to read the file as the
        # general path would: None too (a missed speed-up, not a wrong result).
        assert read_numeric_model(work / name) is None


def test_a_truncated_or_missing_model_file_is_refused_as_load_refuses_it(work):
    data = model(work, "default").read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        truncated = work / f"truncated{cut}.model"
        truncated.write_bytes(data[:cut])
        with pytest.raises(ModelFileError) as numeric:
            read_numeric_model(truncated)
        with pytest.raises(ModelFileError) as general:
            deviation.load(truncated)
        assert str(numeric.value) == str(general.value)
    with pytest.raises(ModelFileError):
        read_numeric_model(work / "no-such.model")


def test_the_parameter_lists_match_the_classes():
    assert PREPROCESSOR_PARAMS == set(Preprocessor().get_params())
    assert set(deviation._devnet_params.DEVNET_CONSTRAINTS) == set(DevNet().get_params())


# ---------------------------------------------------------------------------------------------- same bytes


@pytest.mark.parametrize("ext", ["csv", "parquet"])
@pytest.mark.parametrize("name", NUMERIC_MODELS)
def test_same_bytes_as_the_general_path(work, tmp_path, name, ext):
    summary = both_paths(model(work, name), work / "data.parquet", tmp_path, ext)
    assert summary.n_rows == N_ROWS
    assert 0 < summary.n_flagged < N_ROWS


@pytest.mark.parametrize("name", ["default", "paper"])
def test_same_bytes_at_another_confidence(work, tmp_path, name):
    at_99 = both_paths(model(work, name), work / "data.parquet", tmp_path / "99", "csv", confidence=0.99)
    at_95 = both_paths(model(work, name), work / "data.parquet", tmp_path / "95", "csv")
    assert at_99.threshold > at_95.threshold
    assert at_99.n_flagged < at_95.n_flagged


@pytest.mark.parametrize("ext", ["csv", "parquet"])
@pytest.mark.parametrize("name", ["default", "paper"])
def test_missing_values_are_imputed_as_the_general_path_does(work, base, tmp_path, name, ext):
    nan = base.column("Dim_16").to_numpy().copy()
    nan[5::11] = np.nan
    table = pa.table({
        "Dim_0": with_nulls(np.round(base.column("Dim_0").to_numpy() * 16).astype(np.int64), 7),  # int64 with nulls
        "Dim_16": nan,  # float NaN (not null)
        "Dim_17": with_nulls(base.column("Dim_17").to_numpy(), 5),  # float64 with nulls
        **{c: base.column(c) for c in COLUMNS[3:]},
    })
    data = write(tmp_path / "missing.parquet", table)
    schema = pq.ParquetFile(data).schema_arrow
    assert schema.field("Dim_0").type == pa.int64()
    nulls = {c: pq.ParquetFile(data).metadata.row_group(0).column(j).statistics.null_count for j, c in enumerate(COLUMNS)}
    assert nulls["Dim_0"] > 0 and nulls["Dim_17"] > 0 and nulls["Dim_16"] == 0
    both_paths(model(work, name), data, tmp_path / "out", ext)


def test_a_column_with_only_nulls_takes_the_imputed_value(work, base, tmp_path):
    table = base.set_column(0, "Dim_0", pa.nulls(N_ROWS, type=pa.int64()))
    both_paths(model(work, "default"), write(tmp_path / "allnull.parquet", table), tmp_path / "out")


@pytest.mark.parametrize("type_", [pa.int64(), pa.int32(), pa.int8(), pa.uint8(), pa.uint64()])
def test_integer_columns(work, base, tmp_path, type_):
    table = pa.table({c: pa.array(np.round(base.column(c).to_numpy() * 100).astype(np.int64)).cast(type_) for c in COLUMNS})
    data = write(tmp_path / "ints.parquet", table)
    assert all(f.type == type_ for f in pq.ParquetFile(data).schema_arrow)
    both_paths(model(work, "default"), data, tmp_path / "out")


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_float32_columns_with_nulls(work, base, tmp_path, ext):
    table = pa.table({c: base.column(c).cast(pa.float32()) for c in COLUMNS})
    table = table.set_column(2, "Dim_17", with_nulls(table.column("Dim_17").to_numpy(), 9, pa.float32()))
    data = write(tmp_path / "f32.parquet", table)
    assert all(f.type == pa.float32() for f in pq.ParquetFile(data).schema_arrow)
    both_paths(model(work, "paper"), data, tmp_path / "out", ext)
    both_paths(model(work, "default"), data, tmp_path / "out_default", ext)


def test_extra_columns_and_another_order(work, base, tmp_path):
    table = pa.table({
        "row": pa.array(np.arange(N_ROWS)),
        **{c: base.column(c) for c in reversed(COLUMNS)},
        "note": pa.array(["x"] * N_ROWS),
        "flag": pa.array(np.arange(N_ROWS) % 2 == 0),
    })
    data = write(tmp_path / "shuffled.parquet", table)
    both_paths(model(work, "default"), data, tmp_path / "out", "csv")
    # and the same scores as the plain file: the columns are matched by name, not position
    plain = tmp_path / "plain.csv"
    assert score_numeric_file(read_numeric_model(model(work, "default")), work / "data.parquet", plain) is not None
    assert plain.read_bytes() == (tmp_path / "out" / "numeric.csv").read_bytes()


@pytest.mark.parametrize("ext", ["csv", "parquet"])
@pytest.mark.parametrize("name", ["default", "paper"])
def test_several_row_groups_and_small_batches(work, base, tmp_path, name, ext):
    data = write(tmp_path / "groups.parquet", base, row_group_size=1000)
    assert pq.ParquetFile(data).num_row_groups == 8
    both_paths(model(work, name), data, tmp_path / "out", ext, batch_size=500)
    both_paths(model(work, name), data, tmp_path / "out_csv", "csv", batch_size=777)  # batches across row groups


@pytest.fixture
def compiled_loops():
    """The compiled scoring loops (deviation.kernels) loaded for one test, then unloaded.

    A 7,200-row file never loads them by itself (deviation.kernels.MIN_ROWS), so every other test here
    compares the NumPy code of both paths; this fixture has both paths use the compiled loops.
    """
    import deviation.kernels as kernels

    if kernels.kernels() is None:
        pytest.skip("numba is not available (or DEVIATION_JIT=0)")
    assert kernels.for_rows(10) is not None
    yield
    kernels.kernels.cache_clear()  # back to the NumPy code for the next tests of this process
    assert kernels.for_rows(10, load=False) is None


@pytest.mark.parametrize("name", NUMERIC_MODELS)
def test_same_bytes_with_the_compiled_loops(work, base, tmp_path, compiled_loops, name):
    table = pa.table({
        "Dim_0": with_nulls(np.round(base.column("Dim_0").to_numpy() * 16).astype(np.int32), 7),
        "Dim_16": base.column("Dim_16").cast(pa.float32()),
        "Dim_17": with_nulls(base.column("Dim_17").to_numpy(), 5),
        **{c: base.column(c) for c in COLUMNS[3:]},
    })
    data = write(tmp_path / "mixed.parquet", table, row_group_size=1000)
    both_paths(model(work, name), data, tmp_path / "out", "parquet", batch_size=500)
    both_paths(model(work, name), work / "data.parquet", tmp_path / "out_plain", "csv")


def test_parquet_output_of_a_file_of_small_row_groups_has_the_same_bytes(work, base, tmp_path):
    # batches run across the input's row groups (as the general reader's): the output's row groups are the same
    data = write(tmp_path / "groups.parquet", base, row_group_size=1000)
    both_paths(model(work, "default"), data, tmp_path / "out", "parquet")  # default batch_size (65,536)


def test_parquet_output_of_a_file_of_small_row_groups_has_the_same_values(work, base, tmp_path):
    data = write(tmp_path / "groups.parquet", base, row_group_size=1000)
    numeric_out, general_out = tmp_path / "numeric.parquet", tmp_path / "general.parquet"
    assert score_numeric_file(read_numeric_model(model(work, "default")), data, numeric_out) is not None
    score_file(deviation.load(model(work, "default")), data, general_out)
    assert pq.read_table(numeric_out).equals(pq.read_table(general_out))


def test_row_groups_too_large_to_read_whole(work, base, tmp_path, monkeypatch):
    # READ_BYTES made small stands for a real row group too large to read whole (a file written by
    # pyarrow < 15, Spark or another writer with large row groups, or a wide model)
    monkeypatch.setattr(numeric_module, "READ_BYTES", 4000)
    monkeypatch.setattr(numeric_module, "MIN_READ_ROWS", 100)  # parts of 100 rows, read as RecordBatches
    table = base.set_column(2, "Dim_17", with_nulls(base.column("Dim_17").to_numpy(), 5))
    data = write(tmp_path / "large_groups.parquet", table, row_group_size=1000)
    both_paths(model(work, "default"), data, tmp_path / "out", "csv", batch_size=128)


# ---------------------------------------------------------------------------------------------- handed over


@pytest.mark.parametrize("value, general_message", [
    (np.inf, "infinite values"),
    (-np.inf, "infinite values"),
    (1e300, "exceed the float32 range"),  # float32 overflow after scaling
    (1e35, r"above 1e\+30"),  # beyond the network's range after scaling
])
@pytest.mark.parametrize("loops", ["numpy", "compiled"])
def test_values_the_network_cannot_take_go_to_the_general_path(work, base, tmp_path, request, value, general_message,
                                                               loops):
    if loops == "compiled":
        request.getfixturevalue("compiled_loops")
    values = base.column("Dim_18").to_numpy().copy()
    values[N_ROWS - 3] = value  # in the last row group: batches before it were scored and written
    data = write(tmp_path / "bad.parquet", base.set_column(3, "Dim_18", pa.array(values)), row_group_size=1000)
    out = tmp_path / "scores.parquet"
    out.write_bytes(b"previous")
    assert score_numeric_file(read_numeric_model(model(work, "default")), data, out, batch_size=500) is None
    assert out.read_bytes() == b"previous"  # nothing written over it
    assert temp_files(tmp_path) == []
    with pytest.raises(DataError, match=general_message):
        score_file(deviation.load(model(work, "default")), data, tmp_path / "general.parquet")


@pytest.mark.parametrize("loops", ["numpy", "compiled"])
def test_a_value_just_inside_the_range_stays_on_the_numeric_path(work, base, tmp_path, request, loops):
    if loops == "compiled":
        request.getfixturevalue("compiled_loops")
    values = base.column("Dim_18").to_numpy().copy()
    values[10] = -1e29  # scaled: about -3e29, inside the 1e30 bound
    data = write(tmp_path / "edge.parquet", base.set_column(3, "Dim_18", pa.array(values)))
    both_paths(model(work, "default"), data, tmp_path / "out", "csv")


@pytest.mark.parametrize("case", ["string", "bool", "decimal", "missing column", "no rows", "float16"])
def test_files_the_numeric_reader_does_not_take(work, base, tmp_path, case):
    dim0 = base.column("Dim_0").to_numpy()
    columns = {
        "string": pa.array([str(v) for v in dim0]),
        "bool": pa.array(dim0 > 0.5),
        "decimal": pa.array([Decimal(f"{v:.4f}") for v in dim0], type=pa.decimal128(10, 4)),
    }
    if case in columns:
        table = base.set_column(0, "Dim_0", columns[case])
    elif case == "missing column":
        table = base.drop_columns(["Dim_0"])
    elif case == "no rows":
        table = base.slice(0, 0)
    else:
        table = base.set_column(0, "Dim_0", pa.array(dim0.astype(np.float16)))
        try:
            pq.write_table(table, tmp_path / "probe.parquet")
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            pytest.skip("this pyarrow does not write float16 to Parquet")
    data = write(tmp_path / "other.parquet", table)
    assert open_numeric_parquet(data, COLUMNS) is None
    out = tmp_path / "scores.csv"
    assert score_numeric_file(read_numeric_model(model(work, "default")), data, out) is None
    assert not out.exists() and temp_files(tmp_path) == []


def test_other_formats_are_not_taken(work, base, tmp_path):
    csv = tmp_path / "data.csv"
    pacsv.write_csv(base, csv)
    assert open_numeric_parquet(csv, COLUMNS) is None
    renamed = tmp_path / "data.bin"
    renamed.write_bytes((work / "data.parquet").read_bytes())
    assert open_numeric_parquet(renamed, COLUMNS) is None
    assert open_numeric_parquet(tmp_path / "absent.parquet", COLUMNS) is None
    assert open_numeric_parquet(work / "data.parquet", COLUMNS) is not None


# ---------------------------------------------------------------------------------------------- the command


@pytest.mark.parametrize("name, ext, options", [
    ("default", "csv", []),
    ("paper", "parquet", ["--confidence", "0.99"]),
])
def test_the_command_scores_by_the_numeric_path_without_the_heavy_imports(work, tmp_path, name, ext, options):
    out = tmp_path / f"cli.{ext}"
    report, _ = run_cli(["score", str(model(work, name)), str(work / "data.parquet"), "-o", str(out), "-q", *options],
                        tmp_path)
    assert report == {"rc": 0, "loaded": []}
    confidence = 0.99 if options else None
    score_file(deviation.load(model(work, name)), work / "data.parquet", tmp_path / f"general.{ext}", confidence=confidence)
    assert out.read_bytes() == (tmp_path / f"general.{ext}").read_bytes()


def test_the_command_scores_a_csv_file_by_the_general_path(work, base, tmp_path):
    csv = tmp_path / "data.csv"
    pacsv.write_csv(base, csv)
    out = tmp_path / "cli.csv"
    report, _ = run_cli(["score", str(model(work, "default")), str(csv), "-o", str(out), "-q"], tmp_path)
    assert report["rc"] == 0
    assert "sklearn" in report["loaded"]  # the general path: and the check above can see it
    score_file(deviation.load(model(work, "default")), csv, tmp_path / "general.csv")
    assert out.read_bytes() == (tmp_path / "general.csv").read_bytes()


def test_the_command_with_an_infinite_value_says_which_column(work, base, tmp_path):
    values = base.column("Dim_19").to_numpy().copy()
    values[4321] = np.inf
    data = write(tmp_path / "inf.parquet", base.set_column(4, "Dim_19", pa.array(values)))
    out = tmp_path / "scores.csv"
    report, done = run_cli(["score", str(model(work, "default")), str(data), "-o", str(out), "-q"], tmp_path)
    assert report["rc"] not in (0, None)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Dim_19" in lines[0] and "infinite" in lines[0]
    with pytest.raises(DataError) as general:
        score_file(deviation.load(model(work, "default")), data, tmp_path / "general.csv")
    assert str(general.value) in lines[0]  # the general path's message
    assert not out.exists()
    assert temp_files(tmp_path) == []


def test_the_command_scores_a_model_with_a_categorical_column(work, base, tmp_path):
    table = base.append_column("grp", pa.array(np.array(["a", "b", "c"])[np.arange(N_ROWS) % 3]))
    data = write(tmp_path / "cat.parquet", table)
    out = tmp_path / "cli.parquet"
    report, _ = run_cli(["score", str(model(work, "categorical")), str(data), "-o", str(out), "-q"], tmp_path)
    assert report["rc"] == 0
    score_file(deviation.load(model(work, "categorical")), data, tmp_path / "general.parquet")
    assert out.read_bytes() == (tmp_path / "general.parquet").read_bytes()
    assert pq.read_table(out).num_rows == N_ROWS


def test_the_command_scores_with_an_uncalibrated_model(work, tmp_path):
    out = tmp_path / "cli.csv"
    report, _ = run_cli(["score", str(model(work, "uncalibrated")), str(work / "data.parquet"), "-o", str(out), "-q"],
                        tmp_path)
    assert report["rc"] == 0
    scored = pacsv.read_csv(out)
    assert scored.column_names == OUTPUT_COLUMNS and scored.num_rows == N_ROWS


def test_the_command_copies_an_id_column(work, base, tmp_path):
    ids = pa.array([f"r{i}" for i in range(N_ROWS)])
    data = write(tmp_path / "ids.parquet", base.append_column("rid", ids))
    out = tmp_path / "cli.csv"
    report, _ = run_cli(["score", str(model(work, "default")), str(data), "-o", str(out), "-q", "--id-column", "rid"],
                        tmp_path)
    assert report["rc"] == 0
    scored = pacsv.read_csv(out)
    assert scored.column_names == ["rid", *OUTPUT_COLUMNS]
    assert scored.column("rid").to_pylist() == ids.to_pylist()
