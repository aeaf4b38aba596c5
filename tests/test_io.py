"""Tests for deviation.io: real data files, bad files and round trips."""

from __future__ import annotations

import gzip
import io
import logging
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deviation.exceptions import DataError
from deviation.io import Table, read_table, write_table

# --------------------------------------------------------------------------- #
# Real data sets in /work/shared/data (see MANIFEST.md there)
# --------------------------------------------------------------------------- #

SHARED = Path(os.environ.get("DEVIATION_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

# file: (rows, feature columns, anomalies, label, anomaly_value)
EXPECTED: dict[str, tuple[int, int, int, str | None, object]] = {
    "paper/thyroid.csv": (7200, 21, 534, "class", None),
    "paper/backdoor.tar.xz": (95329, 196, 2329, "class", None),
    "paper/census_nominal.tar.xz": (299285, 33, 18568, "class", "50000+."),
    "paper/donors.npz": (619326, 10, 36710, None, None),
    "paper/campaign.npz": (41188, 62, 4640, None, None),
    "paper/celeba.npz": (202599, 39, 4547, None, None),
    "extra/adbench_aloi.npz": (49534, 27, 1508, None, None),
    "extra/adbench_breastw.npz": (683, 9, 239, None, None),
    "extra/adbench_cardiotocography.npz": (2114, 21, 466, None, None),
    "extra/adbench_cover.npz": (286048, 10, 2747, None, None),
    "extra/adbench_glass.npz": (214, 7, 9, None, None),
    "extra/adbench_hepatitis.npz": (80, 19, 13, None, None),
    "extra/adbench_http.npz": (567498, 3, 2211, None, None),
    "extra/adbench_ionosphere.npz": (351, 32, 126, None, None),
    "extra/adbench_lymphography.npz": (148, 18, 6, None, None),
    "extra/adbench_magic_gamma.npz": (19020, 10, 6688, None, None),
    "extra/adbench_mnist.npz": (7603, 100, 700, None, None),
    "extra/adbench_pageblocks.npz": (5393, 10, 510, None, None),
    "extra/adbench_pima.npz": (768, 8, 268, None, None),
    "extra/adbench_satellite.npz": (6435, 36, 2036, None, None),
    "extra/adbench_skin.npz": (245057, 3, 50859, None, None),
    "extra/adbench_smtp.npz": (95156, 3, 30, None, None),
    "extra/adbench_spambase.npz": (4207, 57, 1679, None, None),
    "extra/adbench_stamps.npz": (340, 9, 31, None, None),
    "extra/adbench_thyroid.npz": (3772, 6, 93, None, None),
    "extra/adbench_vertebral.npz": (240, 6, 30, None, None),
    "extra/adbench_wbc.npz": (223, 9, 10, None, None),
    "extra/adbench_wdbc.npz": (367, 30, 10, None, None),
    "extra/adbench_wine.npz": (129, 13, 10, None, None),
    "extra/adbench_wpbc.npz": (198, 33, 47, None, None),
    "extra/adbench_yeast.npz": (1484, 8, 507, None, None),
    "extra/odds_arrhythmia.mat": (452, 274, 66, None, None),
    "categorical/kddcup99-corrected-probevsnormal-nominal-cleaned.arff": (64759, 6, 4166, "class", "1"),
    "categorical/bank-additional-ful-nominal.arff": (41188, 10, 4640, "y", "yes"),
    "categorical/apascal_entire_trainvsall.arff": (12695, 64, 176, "class", 1),
    "categorical/Reuters-corn-100.arff": (12897, 100, 237, "corn", "yes"),
    "categorical/chess_krkopt_zerovsall.arff": (28056, 6, 27, "class", 1),
    "categorical/cmc-nominal.arff": (1473, 8, 29, "class_numberofchildren", "1"),
    "categorical/solar-flare_FvsAll-cleaned.arff": (1066, 11, 43, "class", 1),
    "categorical/covertype_nominal_4vs123567.tar.xz": (581012, 44, 2747, "class", 1),
    "categorical/w7a-libsvm-nonsparse.tar.xz": (49749, 300, 1479, "class", 1),
}

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data directory {SHARED} is absent")


@needs_shared
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_data_file_loads(name: str) -> None:
    rows, cols, anomalies, label, anomaly_value = EXPECTED[name]
    table = read_table(SHARED / name, label, anomaly_value=anomaly_value)
    assert isinstance(table, Table)
    assert table.X.shape == (rows, cols)
    assert len(table.feature_names) == cols
    assert table.y is not None and table.y.dtype == np.int8 and table.y.shape == (rows,)
    assert set(np.unique(table.y)) <= {0, 1}
    assert int(table.y.sum()) == anomalies == table.n_anomalies
    assert table.ids is None
    if isinstance(table.X, pd.DataFrame):
        assert list(table.X.columns) == table.feature_names
        assert label not in table.X.columns
    else:
        assert table.X.dtype == np.float64


@needs_shared
def test_every_shared_file_is_covered() -> None:
    files = {p.relative_to(SHARED).as_posix() for p in SHARED.rglob("*") if p.is_file() and p.suffix != ".md"}
    assert files == set(EXPECTED)


@needs_shared
def test_census_keeps_question_mark_and_na_levels() -> None:
    table = read_table(SHARED / "paper/census_nominal.tar.xz", "class", anomaly_value="50000+.")
    X = table.X
    assert isinstance(X, pd.DataFrame)
    assert all(isinstance(dtype, pd.CategoricalDtype) for dtype in X.dtypes)
    assert not X.isna().to_numpy().any()
    assert (X["att12"] == "NA").sum() == 1279  # 'NA' is a real level
    assert "?" in X["att26"].cat.categories  # missing kept as its own level
    assert X["att3"].cat.categories[0] == "4"  # declared order, text levels
    assert pd.get_dummies(X).shape[1] == 503


@needs_shared
def test_thyroid_features_are_numeric() -> None:
    table = read_table(SHARED / "paper/thyroid.csv", "class")
    assert table.feature_names[0] == "Dim_0"
    assert all(dtype.kind == "f" or dtype.kind == "i" for dtype in table.X.dtypes)


@needs_shared
def test_npz_label_argument() -> None:
    path = SHARED / "extra/adbench_glass.npz"
    assert read_table(path, "y").n_anomalies == 9
    table = read_table(path)
    assert table.feature_names == [f"x{i}" for i in range(7)]
    with pytest.raises(DataError, match="intrinsic"):
        read_table(path, "class")


# --------------------------------------------------------------------------- #
# Small files built in tmp_path
# --------------------------------------------------------------------------- #


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


CSV = "a,b,class\n1,x,0\n2,y,1\n3,z,\n"


def test_csv_basic(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path / "d.csv", CSV), "class")
    assert table.feature_names == ["a", "b"]
    assert table.y.tolist() == [0, 1, 0]
    assert table.y.dtype == np.int8
    assert table.X["a"].tolist() == [1, 2, 3]


def test_csv_with_bom_and_crlf(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", b"\xef\xbb\xbf" + CSV.replace("\n", "\r\n").encode())
    table = read_table(path, "class")
    assert table.feature_names == ["a", "b"] and table.y.tolist() == [0, 1, 0]
    assert table.X["b"].tolist() == ["x", "y", "z"]


def test_label_none_keeps_all_columns(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path / "d.csv", CSV))
    assert table.y is None
    assert table.feature_names == ["a", "b", "class"]


def test_label_by_position(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", CSV)
    assert read_table(path, -1).y.tolist() == [0, 1, 0]
    assert read_table(path, 2).feature_names == ["a", "b"]
    with pytest.raises(DataError, match="out of range"):
        read_table(path, 3)


def test_id_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "id,a,class\nr1,1.5,0\nr2,2.5,1\n")
    table = read_table(path, "class", id_column="id")
    assert table.ids["id"].tolist() == ["r1", "r2"]
    assert list(table.ids.columns) == ["id"]
    assert table.feature_names == ["a"]
    assert "id" not in table.X.columns
    with pytest.raises(DataError, match="both label and id"):
        read_table(path, "class", id_column="class")
    with pytest.raises(DataError, match="no id column 'ident'"):
        read_table(path, "class", id_column="ident")


def test_boolean_and_float_labels(tmp_path: Path) -> None:
    assert read_table(_write(tmp_path / "b.csv", "a,l\n1,True\n2,False\n"), "l").y.tolist() == [1, 0]
    assert read_table(_write(tmp_path / "f.csv", "a,l\n1,1.0\n2,\n3,0.0\n"), "l").y.tolist() == [1, 0, 0]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("yes", "'yes'"), ("2", "2"), ("-1", "-1"), ("0.5", "0.5")],
)
def test_non_binary_label(tmp_path: Path, value: str, fragment: str) -> None:
    path = _write(tmp_path / "d.csv", f"a,class\n1,0\n2,{value}\n3,1\n")
    with pytest.raises(DataError, match="values other than 0/1") as info:
        read_table(path, "class")
    message = str(info.value)
    assert fragment in message and "anomaly_value=" in message and "d.csv" in message
    assert "\n" not in message


def test_non_binary_label_lists_at_most_five(tmp_path: Path) -> None:
    rows = "".join(f"{i},v{i}\n" for i in range(8))
    with pytest.raises(DataError, match=r"and 3 more"):
        read_table(_write(tmp_path / "d.csv", "a,class\n" + rows), "class")


@pytest.mark.parametrize(
    ("column", "anomaly_value", "expected"),
    [
        ("yes\nno\n yes \n\n", "yes", [1, 0, 1, 0]),
        ("1\n0\n1\n2\n", 1, [1, 0, 1, 0]),
        ("1\n0\n1\n2\n", "1", [1, 0, 1, 0]),
        ("1.0\n0\n1\n-1\n", 1, [1, 0, 1, 0]),
        ("50000+.\n-50000.\n50000+.\n-50000.\n", "50000+.", [1, 0, 1, 0]),
    ],
)
def test_anomaly_value(tmp_path: Path, column: str, anomaly_value: object, expected: list[int]) -> None:
    text = "a,class\n" + "".join(f"{i},{v}\n" for i, v in enumerate(column.split("\n")[:4]))
    table = read_table(_write(tmp_path / "d.csv", text), "class", anomaly_value=anomaly_value)
    assert table.y.tolist() == expected


def test_anomaly_value_without_label(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="without label="):
        read_table(_write(tmp_path / "d.csv", CSV), anomaly_value=1)


def test_string_in_numeric_column_is_kept_as_text(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path / "d.csv", "a,b,class\n1,2,0\n2,oops,1\n3,4,0\n"), "class")
    assert table.X["a"].dtype == np.float64  # every numeric column is read as float64
    assert table.X["b"].tolist() == ["2", "oops", "4"]
    assert table.schema.columns == {"a": "numeric", "b": "text"}


# ---- bad files ------------------------------------------------------------ #


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"empty \(0 bytes\)"):
        read_table(_write(tmp_path / "d.csv", b""), "class")


def test_blank_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data"):
        read_table(_write(tmp_path / "d.csv", b"\n\n"), "class")


def test_header_only(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="header but no data rows"):
        read_table(_write(tmp_path / "d.csv", "a,b,class\n"), "class")


def test_missing_label_column(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no label column 'klass'") as info:
        read_table(_write(tmp_path / "d.csv", CSV), "klass")
    message = str(info.value)
    assert "'a', 'b', 'class'" in message and "did you mean 'class'" in message


def test_missing_label_column_lists_every_column_of_a_narrow_file(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(50))
    with pytest.raises(DataError, match="no label column 'zzz'") as info:
        read_table(_write(tmp_path / "d.csv", header + "\n" + ",".join("0" * 50) + "\n"), "zzz")
    assert all(f"'c{i}'" in str(info.value) for i in range(50))


def test_missing_column_of_a_wide_file_lists_the_closest_first(tmp_path: Path) -> None:
    names = [f"feature_{i:03d}" for i in range(80)] + ["is_fraud"]
    path = _write(tmp_path / "d.csv", ",".join(names) + "\n" + ",".join("0" * len(names)) + "\n")
    with pytest.raises(DataError, match="no label column 'is_fruad'") as info:
        read_table(path, "is_fruad")
    message = str(info.value)
    # the wanted column is listed although it is the last of 81
    assert "81 columns, the closest: 'is_fraud'" in message and "did you mean 'is_fraud'" in message
    assert "'feature_079'" not in message and "\n" not in message


def test_did_you_mean_ignores_letter_case(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "TXN_ID,Amount,Label\nt1,1,0\nt2,2,1\n")
    with pytest.raises(DataError, match="did you mean 'TXN_ID'"):
        read_table(path, "Label", id_column="txn_id")
    with pytest.raises(DataError, match="did you mean 'Label'"):
        read_table(path, "label")


def test_non_utf8_csv(tmp_path: Path) -> None:
    data = "a,b,class\n1,x,0\n2,caf\u00e9,1\n".encode("latin-1")
    with pytest.raises(DataError, match="not UTF-8") as info:
        read_table(_write(tmp_path / "d.csv", data), "class")
    assert "line 3" in str(info.value) and "iconv" in str(info.value)


def test_truncated_csv_gz(tmp_path: Path) -> None:
    blob = gzip.compress(("a,class\n" + "".join(f"{i},0\n" for i in range(5000))).encode())
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_table(_write(tmp_path / "d.csv.gz", blob[: len(blob) // 2]), "class")


def test_csv_gz(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path / "d.csv.gz", gzip.compress(CSV.encode())), "class")
    assert table.y.tolist() == [0, 1, 0]


def test_not_gzip(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_table(_write(tmp_path / "d.csv.gz", CSV), "class")


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def test_zip_with_one_csv(tmp_path: Path) -> None:
    path = _zip(tmp_path / "d.zip", {"data/d.csv": CSV, "__MACOSX/._d.csv": "junk", "README": "hello"})
    table = read_table(path, "class")
    assert table.y.tolist() == [0, 1, 0]


def test_zip_with_format_override(tmp_path: Path) -> None:
    path = _zip(tmp_path / "d.zip", {"data.txt": CSV.replace(",", "\t")})
    with pytest.raises(DataError, match="no data file"):
        read_table(path, "class")
    assert read_table(path, "class", format="tsv").y.tolist() == [0, 1, 0]


def test_truncated_zip(tmp_path: Path) -> None:
    blob = _zip(tmp_path / "full.zip", {"d.csv": CSV * 50}).read_bytes()
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_table(_write(tmp_path / "d.zip", blob[: len(blob) - 30]), "class")


def test_zip_with_two_csv(tmp_path: Path) -> None:
    path = _zip(tmp_path / "d.zip", {"a.csv": CSV, "b.csv": CSV})
    with pytest.raises(DataError, match="2 data files") as info:
        read_table(path, "class")
    assert "'a.csv'" in str(info.value) and "exactly one" in str(info.value)


def test_zip_without_data_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data file"):
        read_table(_zip(tmp_path / "d.zip", {"notes.txt": "x"}), "class")


def _tar(path: Path, members: dict[str, bytes], mode: str) -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_tar_gz_and_tgz(tmp_path: Path) -> None:
    for name in ("d.tar.gz", "d.tgz"):
        table = read_table(_tar(tmp_path / name, {"x/d.tsv": CSV.replace(",", "\t").encode()}, "w:gz"), "class")
        assert table.y.tolist() == [0, 1, 0]


def test_truncated_tar_xz(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    text = "a,class\n" + "".join(f"{v},0\n" for v in rng.normal(size=20000))
    blob = _tar(tmp_path / "full.tar.xz", {"d.csv": text.encode()}, "w:xz").read_bytes()
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_table(_write(tmp_path / "d.tar.xz", blob[: len(blob) // 2]), "class")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path, "class")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as info:
        read_table(tmp_path / "nope.csv", "class")
    assert "nope.csv" in str(info.value)


def test_unknown_extension(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.txt", CSV)
    with pytest.raises(DataError, match="unknown extension '.txt'") as info:
        read_table(path, "class")
    assert "format=" in str(info.value)
    assert read_table(path, "class", format="csv").y.tolist() == [0, 1, 0]


def test_bad_format_argument(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="format='xlsx'"):
        read_table(_write(tmp_path / "d.csv", CSV), "class", format="xlsx")


def test_duplicate_column_names(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="duplicate column names: 'a'"):
        read_table(_write(tmp_path / "d.csv", "a,b,a,class\n1,2,3,0\n"), "class")


def test_rows_longer_than_header(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="more fields than the header"):
        read_table(_write(tmp_path / "d.csv", "a,class\n1,0,9\n2,1,9\n"), "class")
    with pytest.raises(DataError, match="more fields than the header"):
        read_table(_write(tmp_path / "e.csv", "a,class\n1,0\n2,1,9\n"), "class")


@pytest.mark.parametrize("suffix", [".parquet", ".npz", ".mat", ".libsvm", ".arff"])
def test_garbage_binary_files(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"d{suffix}", bytes(range(256)) * 4)
    with pytest.raises(DataError) as info:
        read_table(path)
    assert f"d{suffix}" in str(info.value)
    assert "allow_pickle" not in str(info.value)


def test_npz_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "nox.npz", A=np.zeros((2, 2)))
    with pytest.raises(DataError, match="no array 'X'"):
        read_table(tmp_path / "nox.npz")
    np.savez(tmp_path / "bady.npz", X=np.zeros((3, 2)), y=np.array([0, 1]))
    with pytest.raises(DataError, match="does not match the 3 rows"):
        read_table(tmp_path / "bady.npz")
    np.savez(tmp_path / "pm.npz", X=np.zeros((3, 2)), y=np.array([-1, 1, 1]))
    with pytest.raises(DataError, match="anomaly_value="):
        read_table(tmp_path / "pm.npz", "y")
    # labels nobody asked for are never checked (scoring a +1/-1 file): returned only when 0/1
    assert read_table(tmp_path / "pm.npz").y is None
    assert read_table(tmp_path / "pm.npz", anomaly_value=-1).y.tolist() == [1, 0, 0]
    with pytest.raises(DataError, match="id_column"):
        read_table(tmp_path / "pm.npz", id_column="id")


def test_npz_feature_names_and_no_y(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", X=np.arange(6).reshape(3, 2), feature_names=np.array(["u", "v"]))
    table = read_table(tmp_path / "d.npz")
    assert table.y is None and table.feature_names == ["u", "v"]
    assert table.X.dtype == np.float64
    with pytest.raises(DataError, match="no label array 'y'"):
        read_table(tmp_path / "d.npz", "y")


def test_mat_round_trip(tmp_path: Path) -> None:
    import scipy.io

    X = np.arange(6.0).reshape(3, 2)
    scipy.io.savemat(tmp_path / "d.mat", {"X": X, "y": np.array([[0], [1], [0]]), "feature_names": np.array(["uu", "v"])})
    table = read_table(tmp_path / "d.mat")
    assert table.feature_names == ["uu", "v"] and table.y.tolist() == [0, 1, 0]
    np.testing.assert_array_equal(table.X, X)
    scipy.io.savemat(tmp_path / "s.mat", {"X": sp.csr_matrix(X)})
    table = read_table(tmp_path / "s.mat")
    assert isinstance(table.X, sp.csr_matrix) and table.y is None


# ---- ARFF -------------------------------------------------------------------- #

ARFF = """% a comment
@RELATION test

@attribute 'first attr' numeric
@attribute colour{red,'dark blue', NA}
@attribute count INTEGER % trailing comment
@attribute note string
@attribute class {1,0}

@data
% comment inside data
1.5,red,3,hello,0\r
?,'dark blue',4,'a b',1
2.5,NA,?,?,0

0.5,?,7,x,1
"""


def test_arff(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path / "d.arff", ARFF), "class", anomaly_value=1)
    X = table.X
    assert table.feature_names == ["first attr", "colour", "count", "note"]
    assert table.y.tolist() == [0, 1, 0, 1]
    assert X["first attr"].dtype == np.float64 and np.isnan(X["first attr"][1])
    assert X["count"].tolist()[:2] == [3.0, 4.0] and np.isnan(X["count"][2])
    assert X["colour"].tolist() == ["red", "dark blue", "NA", "?"]
    assert X["colour"].cat.categories.tolist() == ["red", "dark blue", "NA", "?"]
    assert X["note"].tolist()[:2] == ["hello", "a b"] and pd.isna(X["note"][2])
    # string 0/1 nominal labels are binary without anomaly_value
    assert read_table(tmp_path / "d.arff", "class").y.tolist() == [0, 1, 0, 1]


def test_arff_gz_and_unused_question_mark(tmp_path: Path) -> None:
    text = "@relation r\n@attribute a {x,y}\n@attribute class {1,0}\n@data\nx,0\ny,1\n"
    table = read_table(_write(tmp_path / "d.arff.gz", gzip.compress(text.encode())), "class")
    assert table.X["a"].cat.categories.tolist() == ["x", "y"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("@relation r\n@attribute a numeric\n@data\n{0 1}\n", "sparse ARFF"),
        ("@relation r\n@attribute a numeric\n@data\n", "no data rows"),
        ("@relation r\n@attribute a numeric\n", "no @data"),
        ("@relation r\n@attribute a numeric\n@attribute a numeric\n@data\n1,2\n", "duplicate attribute names"),
        ("@relation r\n@attribute a numeric\n@attribute b {x,y}\n@data\n1,x\n2,z\n",
         "'z' of nominal attribute 'b' in data row 2"),
        ("@relation r\n@attribute a numeric\n@attribute b {x,y}\n@data\n1,x\nq,y\n", "non-numeric value 'q'"),
        ("@relation r\n@attribute a {x,y}\n@attribute b {x,y}\n@data\nx,y\nx\n", "fewer values"),
        ("@relation r\n@attribute a relational\n@data\n1\n", "relational"),
        ("@relation r\n@attribute a blob\n@data\n1\n", "unknown type 'blob'"),
        ("a,b\n1,2\n", "does not look like ARFF"),
    ],
)
def test_bad_arff(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(DataError, match="d.arff") as info:
        read_table(_write(tmp_path / "d.arff", text))
    assert fragment in str(info.value)


# ---- round trips and write_table ------------------------------------------------ #


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "i": np.arange(50, dtype=np.int64),
            "f": rng.normal(size=50) * 10.0 ** rng.integers(-6, 6, size=50),
            "s": [f"cat{i % 3}" for i in range(50)],
            "class": (np.arange(50) % 7 == 0).astype(np.int64),
        }
    )


@pytest.mark.parametrize("name", ["d.parquet", "d.pq", "d.csv", "d.csv.gz", "d.tsv", "d.tsv.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    df = _frame()
    written = write_table(df, tmp_path / name)
    assert written == tmp_path / name
    table = read_table(tmp_path / name)
    expected = df.astype({"i": np.float64, "class": np.float64})  # numbers are read as float64
    pd.testing.assert_frame_equal(table.X, expected, check_dtype=False)
    assert (table.X.dtypes[["i", "f", "class"]] == np.float64).all()
    labeled = read_table(tmp_path / name, "class")
    assert labeled.y.tolist() == df["class"].tolist()
    pd.testing.assert_frame_equal(labeled.X, expected.drop(columns="class"), check_dtype=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_csv_gz_is_reproducible(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_table(_frame(), tmp_path / "a" / "d.csv.gz").read_bytes()
    second = write_table(_frame(), tmp_path / "b" / "d.csv.gz").read_bytes()
    assert first == second
    assert b"d.csv\x00" in first[:32] and b".tmp" not in first[:64]  # gzip header: final name, mtime 0


def test_libsvm_round_trip(tmp_path: Path) -> None:
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(3)
    X = sp.random(40, 12, density=0.2, format="csr", random_state=3) * 5
    X.data = np.round(X.data, 6)  # dump_svmlight_file writes %.16g: keep values it writes exactly
    X = sp.csr_matrix(X + sp.csr_matrix(([1.5], ([0], [11])), shape=(40, 12)))  # last column used
    y = (rng.random(40) < 0.2).astype(int)
    y[0] = 1
    for name in ("d.libsvm", "d.svm", "d.svmlight"):
        dump_svmlight_file(X, y, str(tmp_path / name), zero_based=False)
        table = read_table(tmp_path / name)
        assert sp.isspmatrix_csr(table.X) or isinstance(table.X, sp.csr_matrix)
        assert table.X.dtype == np.float64 and table.X.shape == X.shape
        assert abs(table.X - X).max() == 0 and table.X.nnz == X.nnz
        assert table.y.tolist() == y.tolist()
        assert table.feature_names == [f"x{i}" for i in range(12)]
    with pytest.raises(DataError, match="intrinsic"):
        read_table(tmp_path / "d.libsvm", "class")


def test_write_table_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "d.csv"
    with pytest.raises(DataError, match="does not exist") as info:
        write_table(_frame(), target)
    assert "mkdir" in str(info.value)
    assert not target.exists() and not target.parent.exists()


def test_write_table_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot write"):
        write_table(_frame(), tmp_path / "d.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_write_table_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "d.csv"
    target.write_text("old content\n")

    def broken_to_csv(self: pd.DataFrame, path: object, *args: object, **kwargs: object) -> None:
        Path(str(path)).write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken_to_csv)
    with pytest.raises(DataError, match="disk full"):
        write_table(_frame(), target)
    assert target.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["d.csv"]


def test_write_table_interrupt_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: pd.DataFrame, path: object, *args: object, **kwargs: object) -> None:
        Path(str(path)).write_bytes(b"PAR1")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_table(_frame(), tmp_path / "d.parquet")
    assert list(tmp_path.iterdir()) == []


def test_write_table_rejects_duplicate_columns(tmp_path: Path) -> None:
    df = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(DataError, match="duplicate column names"):
        write_table(df, tmp_path / "d.csv")


# ---- separators and decimal marks ------------------------------------------ #

from deviation.io import InputSchema, iter_tables  # noqa: E402
from deviation.io.delimited import check_sep, sniff_decimal, sniff_separator  # noqa: E402

SEMI_POINTS = "temp;pressure;label\n4.126;3.868;1\n-0.129;1.366;0\n0.903;0.094;0\n"
SEMI_COMMAS = "temp;pressure;label\n4,126;3,868;1\n-0,129;1,366;0\n0,903;0,094;0\n"


def test_semicolon_csv_with_decimal_points(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path / "d.csv", SEMI_POINTS), "label")
    assert table.feature_names == ["temp", "pressure"]
    assert table.X["temp"].tolist() == [4.126, -0.129, 0.903]
    assert table.y.tolist() == [1, 0, 0]
    assert (table.schema.sep, table.schema.decimal) == (";", ".")
    assert table.schema.to_dict()["sep"] == ";"


def test_semicolon_csv_with_decimal_commas(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path / "d.csv", SEMI_COMMAS), "label")
    assert table.feature_names == ["temp", "pressure"]
    assert table.y.tolist() == [1, 0, 0]
    # the decimal mark is sniffed, recorded, and used by the typing (io.schema)
    assert (table.schema.sep, table.schema.decimal) == (";", ",")
    assert table.schema.columns == {"temp": "numeric", "pressure": "numeric"}
    assert table.X.dtypes.tolist() == [np.float64, np.float64]
    np.testing.assert_allclose(table.X["temp"], [4.126, -0.129, 0.903])


@pytest.mark.parametrize(
    ("text", "sep"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2;3\n", ";"),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        # a quoted cell holding another candidate does not mislead the count
        ('name,note\n"x;y;z",1\n"u;v;w",2\n', ","),
        # commas inside cells of a ; file (decimal commas): the header has no comma
        ("x;y\n1,5;2,5\n3,5;4\n", ";"),
        # a malformed line among the first ones: the header decides
        ("a;b;c\n1;2;3\n4;5\n", ";"),
        # one column: the default
        ("value\n1\n2\n", ","),
    ],
)
def test_sniff_separator(text: str, sep: str) -> None:
    assert sniff_separator(text.splitlines()) == sep


def test_sniff_decimal() -> None:
    assert sniff_decimal(SEMI_POINTS.splitlines(), ";") == "."
    assert sniff_decimal(SEMI_COMMAS.splitlines(), ";") == ","
    assert sniff_decimal(["a;b", "1;2", "3;4"], ";") == ","  # European default when nothing shows otherwise
    assert sniff_decimal(["a,b", "1.5,2"], ",") == "."


@pytest.mark.parametrize(("name", "text", "sep"), [("d.csv", "a\tb\n1\t2\n", "\t"), ("d.csv", "a|b\n1|2\n", "|")])
def test_csv_with_other_separators(tmp_path: Path, name: str, text: str, sep: str) -> None:
    table = read_table(_write(tmp_path / name, text))
    assert table.feature_names == ["a", "b"] and table.schema.sep == sep


def test_tsv_stays_tab_separated(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path / "d.tsv", "a,b\tc\n1,2\t3\n"))
    assert table.feature_names == ["a,b", "c"] and table.schema.sep == "\t"
    assert read_table(tmp_path / "d.tsv", sep=",").feature_names == ["a", "b\tc"]


def test_explicit_sep(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "a;b|c\n1;2|3\n4;5|6\n")
    assert read_table(path).feature_names == ["a", "b|c"]  # ';' then '|' on a tie: the order of preference
    assert read_table(path, sep="|").feature_names == ["a;b", "c"]
    tab = _write(tmp_path / "t.csv", "a\tb\n1\t2\n")
    assert read_table(tab, sep="\\t").feature_names == ["a", "b"]
    assert read_table(tab, sep="tab").feature_names == ["a", "b"]
    assert check_sep(None) is None and check_sep(";") == ";"


@pytest.mark.parametrize("sep", ["", ";;", '"', "\n", 3])
def test_bad_sep(tmp_path: Path, sep: object) -> None:
    with pytest.raises(DataError, match="is not a field separator") as info:
        read_table(_write(tmp_path / "d.csv", CSV), sep=sep)
    assert "\n" not in str(info.value)


def test_semicolon_file_read_with_comma_names_the_semicolon(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", SEMI_POINTS)
    with pytest.raises(DataError, match="reads as one column") as info:
        read_table(path, "label", sep=",")
    message = str(info.value)
    assert "';' (semicolon)" in message and "pass sep=';'" in message and "d.csv" in message


def test_schema_separator_is_used_for_scoring(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fitted = read_table(_write(tmp_path / "train.csv", SEMI_POINTS), "label").schema
    # a file with one data row of a single column would not sniff; the model's separator decides
    again = read_table(_write(tmp_path / "new.csv", "temp;pressure\n1.5;2.5\n"), schema=fitted)
    assert again.X.to_numpy().tolist() == [[1.5, 2.5]]
    batches = list(iter_tables(tmp_path / "new.csv", schema=fitted, batch_rows=1))
    assert batches[0].X.to_numpy().tolist() == [[1.5, 2.5]] and batches[0].schema.sep == ";"
    # a comma file scored with the ;-model: its lines clearly use ',', which is read, with a warning
    comma = _write(tmp_path / "comma.csv", "temp,pressure\n1.5,2.5\n3.5,4.5\n")
    with caplog.at_level(logging.WARNING, logger="deviation.io"):
        assert read_table(comma, schema=fitted).X.to_numpy().tolist() == [[1.5, 2.5], [3.5, 4.5]]
    assert "separated by ',' (comma), the model's training file by ';' (semicolon)" in caplog.text
    assert read_table(comma, schema=fitted, sep=",").X.to_numpy().tolist() == [[1.5, 2.5], [3.5, 4.5]]
    # given explicitly, the model's separator is used as given, and a mismatch is a clear error
    with pytest.raises(DataError, match="reads as one column.*pass sep=','"):
        read_table(comma, schema=fitted, sep=";")


def test_schema_decimal_mark_is_the_models(tmp_path: Path) -> None:
    schema = InputSchema(format="csv", columns={"a": "numeric"}, sep=";", decimal=".")
    table = next(iter_tables(_write(tmp_path / "d.csv", "a;b\n1;2\n"), schema=schema))
    assert table.schema.decimal == "."  # not sniffed again (',' would be the default of a ; file of integers)
    schema_without_sep = InputSchema(format="csv", columns={"a": "numeric"})
    assert read_table(tmp_path / "d.csv", schema=schema_without_sep).schema.sep == ";"  # old model: sniffed


def test_parquet_ignores_sep(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pd.DataFrame({"a": [1.0, 2.0], "l": [0, 1]}).to_parquet(path)
    table = read_table(path, "l", sep=";")
    assert table.feature_names == ["a"] and table.schema.sep is None


# ---- drop ------------------------------------------------------------------- #


def test_drop_columns(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "id,a,b,c,class\nr1,1,x,5,0\nr2,2,y,6,1\n")
    table = read_table(path, "class", id_column="id", drop=["b", "c"])
    assert table.feature_names == ["a"] and list(table.X.columns) == ["a"]
    assert table.schema.columns == {"a": "numeric"}
    assert read_table(path, "class", drop="b").feature_names == ["id", "a", "c"]
    assert [t.feature_names for t in iter_tables(path, "class", drop=["c"], batch_rows=1)] == [["id", "a", "b"]] * 2
    with pytest.raises(DataError, match="no column 'B' to drop.*did you mean 'b'"):
        read_table(path, "class", drop=["B"])
    with pytest.raises(DataError, match="'class' is the label and cannot be dropped"):
        read_table(path, "class", drop=["class"])
    with pytest.raises(DataError, match="'id' is an id column and cannot be dropped"):
        read_table(path, "class", id_column="id", drop=["id"])
    with pytest.raises(DataError, match="no feature columns left"):
        read_table(path, "class", id_column="id", drop=["a", "b", "c"])


def test_drop_at_scoring(tmp_path: Path) -> None:
    schema = read_table(_write(tmp_path / "t.csv", "a,b,class\n1,2,0\n2,3,1\n"), "class").schema
    new = _write(tmp_path / "n.csv", "a,b,notes\n1,2,hello\n")
    assert read_table(new, schema=schema, drop=["notes"]).feature_names == ["a", "b"]
    with pytest.raises(DataError, match="column 'b' cannot be dropped: the model was trained on it") as info:
        read_table(new, schema=schema, drop=["b"])
    assert "n.csv" in str(info.value)


def test_drop_for_array_formats(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((3, 2)), y=np.array([0, 1, 0]))
    with pytest.raises(DataError, match="no named columns for drop="):
        read_table(path, drop=["x0"])


# ---- labels ----------------------------------------------------------------- #


@pytest.mark.parametrize("spelling", ["True", "true", "TRUE", True, 1, "1"])
@pytest.mark.parametrize("cells", [("True", "False"), ("TRUE", "FALSE"), ("true", "false")])
def test_anomaly_value_true_matches_boolean_text(tmp_path: Path, spelling: object, cells: tuple[str, str]) -> None:
    yes, no = cells
    path = _write(tmp_path / "d.csv", f"a,l\n1,{yes}\n2,{no}\n3,{no}\n4,{yes}\n")
    assert read_table(path, "l", anomaly_value=spelling).y.tolist() == [1, 0, 0, 1]


@pytest.mark.parametrize("spelling", ["False", "false", "FALSE", False, 0])
def test_anomaly_value_false(tmp_path: Path, spelling: object) -> None:
    path = _write(tmp_path / "d.csv", "a,is_valid\n1,False\n2,True\n3,True\n")
    assert read_table(path, "is_valid", anomaly_value=spelling).y.tolist() == [1, 0, 0]


def test_anomaly_value_on_parquet_booleans_and_numbers(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "flag": [True, False, True], "n": [-1, 1, 1]}).to_parquet(path)
    for spelling in ("True", "true", "TRUE", 1, "1"):
        assert read_table(path, "flag", anomaly_value=spelling).y.tolist() == [1, 0, 1]
    assert read_table(path, "flag", anomaly_value="False").y.tolist() == [0, 1, 0]
    assert read_table(path, "n", anomaly_value="-1").y.tolist() == [1, 0, 0]
    assert read_table(path, "n", anomaly_value=-1).y.tolist() == [1, 0, 0]


def test_anomaly_value_text_stays_case_sensitive(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "a,l\n1,Fraud\n2,fraud\n")
    assert read_table(path, "l", anomaly_value="fraud").y.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("values", "suggested"),
    [
        (["no"] * 5 + ["yes"], "yes"),
        (["yes"] + ["no"] * 5, "yes"),  # the minority, even when the majority comes second
        (["fraud"] * 2 + ["ok"] * 9, "fraud"),
        (["1"] * 6 + ["-1"] * 2, "-1"),  # +1/-1 with -1 rare (CSV cells are text)
        (["-1"] * 6 + ["1"] * 2, "1"),  # +1/-1 with +1 rare: the hint names 1, not the unusable -1
    ],
)
def test_label_hint_names_the_minority_value(tmp_path: Path, values: list[str], suggested: object) -> None:
    path = _write(tmp_path / "d.csv", "a,l\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    with pytest.raises(DataError, match="values other than 0/1") as info:
        read_table(path, "l")
    assert f"e.g. anomaly_value={suggested!r}" in str(info.value)


def test_label_hint_counts_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "a,l\n1,no\n2,no\n3,yes\n")
    with pytest.raises(DataError, match=r"'no' \(2 rows\), 'yes' \(1 row\)"):
        read_table(path, "l")


# ---- ARFF as Weka reads it ---------------------------------------------------- #

WEKA_ARFF = """% a file Weka reads
@relation weka
@attribute width numeric
@attribute colour {red, 'dark blue', green}
@attribute note string
@attribute class {0,1}
@data
1.5 , red , hello , 0 % a trailing comment
 2.25,green,'50 % off',1   \t
% a whole-line comment
3 ,  'dark blue'  ,' spaced ',0\t% tab then comment
?,red,x,1%no blank before the comment
"""


def test_arff_blanks_and_comments_as_weka(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path / "w.arff", WEKA_ARFF), "class")
    X = table.X
    assert X["width"].tolist()[:3] == [1.5, 2.25, 3.0] and np.isnan(X["width"][3])
    assert X["colour"].tolist() == ["red", "green", "dark blue", "red"]
    assert X["colour"].cat.categories.tolist() == ["red", "dark blue", "green"]
    # quoted values are kept as written, a % inside quotes included
    assert X["note"].tolist() == ["hello", "50 % off", " spaced ", "x"]
    assert table.y.tolist() == [0, 1, 0, 1]


def test_arff_value_errors_after_cleaning(tmp_path: Path) -> None:
    text = "@relation r\n@attribute a numeric\n@attribute b {x,y}\n@data\n1 , x % ok\n2 , z % bad\n"
    with pytest.raises(DataError, match="'z' of nominal attribute 'b' in data row 2"):
        read_table(_write(tmp_path / "d.arff", text))
