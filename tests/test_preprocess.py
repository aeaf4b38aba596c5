"""Tests of deviation.preprocess.Preprocessor."""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.pipeline import Pipeline

from deviation.exceptions import (
    DataError,
    FeatureMismatchError,
    ModelFileError,
    NotFittedError,
    ParameterError,
)
from deviation.persistence.preprocessing import (
    preprocessor_from_state,
    preprocessor_to_state,
)
from deviation.preprocess import Preprocessor

SCALINGS = ["minmax", "standard", "quantile", "none"]

REPO = Path(__file__).resolve().parents[1]
THYROID_CANDIDATES = [
    Path("/work/shared/data/paper/thyroid.csv"),
    REPO.parent / "shared" / "data" / "paper" / "thyroid.csv",
]


def _thyroid() -> pd.DataFrame:
    for path in THYROID_CANDIDATES:
        if path.is_file():
            return pd.read_csv(path).drop(columns="class")
    pytest.skip("shared/data/paper/thyroid.csv is not available")


def _mixed_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """A DataFrame with continuous, binary, categorical and missing values."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 1, n)
    income[rng.random(n) < 0.1] = np.nan
    color = rng.choice(["red", "green", "blue"], n).astype(object)
    color[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n).astype(float),
            "color": color,
            "income": income,
            "flag": rng.integers(0, 2, n).astype(float),
            "city": pd.Categorical(rng.choice(["paris", "rome"], n)),
        }
    )


def _scoring_frame(seed: int = 1) -> pd.DataFrame:
    """Scoring data with unseen categories, missing values and out-of-range numbers."""
    X = _mixed_frame(50, seed)
    X.loc[0, "color"] = "purple"
    X.loc[1, "age"] = 500.0
    X.loc[2, "income"] = np.nan
    X.loc[3, "age"] = -30.0
    return X


def _block(pre: Preprocessor, column: str) -> np.ndarray:
    """Output positions of the one-hot block (or numeric column) of an input column."""
    j = list(pre.feature_names_in_).index(column)
    return np.flatnonzero(np.asarray(pre.output_to_input_) == j)


# --------------------------------------------------------------------------- min-max


def test_minmax_training_output_in_unit_interval() -> None:
    X = _mixed_frame()
    pre = Preprocessor().fit(X)
    out = pre.transform(X)
    assert out.dtype == np.float32
    assert isinstance(out, np.ndarray)
    assert out.min() >= 0.0 and out.max() <= 1.0
    for name in ("age", "income"):
        col = out[:, _block(pre, name)[0]]
        assert col.min() == 0.0 and col.max() == 1.0


def test_minmax_scoring_outside_training_range_is_not_clipped() -> None:
    X = pd.DataFrame({"a": [0.0, 5.0, 10.0]})
    pre = Preprocessor().fit(X)
    out = pre.transform(pd.DataFrame({"a": [20.0, -10.0, 5.0]}))
    np.testing.assert_array_equal(out[:, 0], np.array([2.0, -1.0, 0.5], dtype=np.float32))


def test_mean_imputation_uses_training_column_mean() -> None:
    X = _mixed_frame()
    expected = X["income"].mean()  # pandas skips NaN
    pre = Preprocessor(scaling="none").fit(X)
    assert pre.imputer_.statistics_[pre.numeric_features_.index("income")] == pytest.approx(expected, rel=1e-12)
    score = pd.DataFrame({c: X[c].iloc[:3] for c in X.columns})
    score["income"] = np.nan
    out = pre.transform(score)
    np.testing.assert_allclose(out[:, _block(pre, "income")[0]], np.float32(expected))

    # with min-max the imputed value is the scaled mean
    mm = Preprocessor().fit(X)
    scaled = (expected - X["income"].min()) / (X["income"].max() - X["income"].min())
    np.testing.assert_allclose(mm.transform(score)[:, _block(mm, "income")[0]], scaled, rtol=1e-6)


def test_all_missing_column_is_left_out_or_filled_with_zero(caplog: pytest.LogCaptureFixture) -> None:
    # a DataFrame column without any value is constant: left out, with a warning naming it
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "empty": [np.nan, np.nan, np.nan]})
    with caplog.at_level(logging.WARNING, logger="deviation.preprocess"):
        pre = Preprocessor().fit(X)
    assert "'empty' (constant" in caplog.text
    assert [(k.name, k.kind) for k in pre.column_kinds_] == [("a", "numeric"), ("empty", "constant")]
    out = pre.transform(pd.DataFrame({"a": [2.0], "empty": [np.nan]}))
    np.testing.assert_array_equal(out, [[0.5]])
    # an array's all-missing column is kept and filled with 0
    with caplog.at_level(logging.WARNING, logger="deviation.preprocess"):
        pre = Preprocessor().fit(X.to_numpy())
    assert pre.all_missing_features_ == ["x1"]
    np.testing.assert_array_equal(pre.transform(np.array([[2.0, np.nan]])), [[0.5, 0.0]])


# --------------------------------------------------------------------------- one-hot


def test_one_hot_known_category_has_exactly_one_one_and_unseen_is_all_zero() -> None:
    X = _mixed_frame()
    pre = Preprocessor().fit(X)
    color = _block(pre, "color")
    assert [pre.feature_names_out_[k] for k in color] == [
        "color=blue",
        "color=green",
        "color=red",
        "color=<missing>",
    ]
    out = pre.transform(X)
    np.testing.assert_array_equal(out[:, color].sum(axis=1), 1.0)
    assert set(np.unique(out[:, color])) == {0.0, 1.0}
    # the missing level is its own column
    missing_rows = X["color"].isna().to_numpy()
    np.testing.assert_array_equal(out[missing_rows][:, color[-1]], 1.0)

    score = X.iloc[:3].copy()
    score["color"] = ["purple", "red", "blue"]
    scored = pre.transform(score)
    np.testing.assert_array_equal(scored[0, color], 0.0)
    np.testing.assert_array_equal(scored[1, color], [0.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(scored[2, color], [1.0, 0.0, 0.0, 0.0])


def test_one_hot_block_takes_place_of_its_column_and_maps_back() -> None:
    X = _mixed_frame()
    pre = Preprocessor().fit(X)
    assert list(pre.feature_names_in_) == list(X.columns)
    assert pre.categorical_features_ == ["color", "city"]
    assert list(pre.feature_names_out_) == [
        "age",
        "color=blue",
        "color=green",
        "color=red",
        "color=<missing>",
        "income",
        "flag",
        "city=paris",
        "city=rome",
    ]
    assert pre.output_to_input_ == [0, 1, 1, 1, 1, 2, 3, 4, 4]
    assert pre.n_features_out_ == 9
    assert list(pre.get_feature_names_out()) == list(pre.feature_names_out_)
    # summing an attribution over output columns back to input columns
    attribution = np.arange(pre.n_features_out_, dtype=float)
    per_input = np.bincount(pre.output_to_input_, weights=attribution, minlength=pre.n_features_in_)
    np.testing.assert_array_equal(per_input, [0.0, 1 + 2 + 3 + 4, 5.0, 6.0, 7 + 8])


def test_categorical_values_are_compared_as_strings() -> None:
    X = pd.DataFrame({"code": [1, 2, 2], "x": [0.0, 1.0, 2.0]})
    pre = Preprocessor(categorical=["code"]).fit(X)
    assert list(pre.feature_names_out_) == ["code=1", "code=2", "x"]
    # 2.0 and "2" are the level "2"; 3 is unseen
    out = pre.transform(pd.DataFrame({"code": pd.Series([2.0, "2", 3], dtype=object), "x": [0.0] * 3}))
    np.testing.assert_array_equal(out[:, :2], [[0, 1], [0, 1], [0, 0]])


def test_rare_levels_pooled_and_width_capped() -> None:
    rng = np.random.default_rng(0)
    common = rng.choice([f"c{i}" for i in range(30)], 1000)
    rare = [f"r{i}" for i in range(12)]  # seen once each
    X = pd.DataFrame({"shop": np.r_[common, rare], "x": rng.normal(size=1012)})
    pre = Preprocessor().fit(X)
    shop = pre.column_kinds_[0]
    assert shop.kind == "categorical" and shop.spec["infrequent"] and len(shop.spec["levels"]) == 30
    assert "42 values: 30 kept" in shop.reason
    assert "shop=<infrequent>" in pre.feature_names_out_ and pre.n_features_out_ == 32
    # new and rare values go to the infrequent level, and are counted
    new = pd.DataFrame({"shop": ["c1", "r3", "never seen", None], "x": [0.0] * 4})
    out = pre.transform(new)
    infrequent = list(pre.feature_names_out_).index("shop=<infrequent>")
    assert out[:, infrequent].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert pre.unseen_values(new) == {"shop": 1}  # "r3" was seen (and pooled) at fit: only "never seen" is new
    # the cap: at most max_categories levels, the infrequent one included
    capped = Preprocessor(max_categories=10).fit(X)
    assert len(capped.column_kinds_[0].spec["levels"]) == 9
    assert sum(n.startswith("shop=") for n in capped.feature_names_out_) == 10


# --------------------------------------------------------------------------- column matching


def test_column_order_does_not_matter_and_extra_columns_are_ignored() -> None:
    X = _mixed_frame()
    pre = Preprocessor().fit(X)
    score = _scoring_frame()
    expected = pre.transform(score)
    shuffled = score[["city", "income", "color", "flag", "age"]].copy()
    shuffled["unused"] = "whatever"
    np.testing.assert_array_equal(pre.transform(shuffled), expected)
    assert pre.transform(shuffled).tobytes() == expected.tobytes()


def test_missing_column_raises_feature_mismatch_naming_it() -> None:
    X = _mixed_frame()
    pre = Preprocessor().fit(X)
    with pytest.raises(FeatureMismatchError, match="income"):
        pre.transform(X.drop(columns=["income"]))
    many = pd.DataFrame(np.arange(36.0).reshape(3, 12), columns=[f"c{i}" for i in range(12)])
    pre_many = Preprocessor().fit(many)
    with pytest.raises(FeatureMismatchError) as info:
        pre_many.transform(many[["c0"]])
    assert "c1'" in str(info.value) and "and 1 more" in str(info.value)


def test_array_column_count_must_match() -> None:
    pre = Preprocessor().fit(np.arange(12.0).reshape(4, 3))
    assert list(pre.feature_names_in_) == ["x0", "x1", "x2"]
    with pytest.raises(FeatureMismatchError, match="2 columns"):
        pre.transform(np.zeros((2, 2)))


def test_frame_fitted_without_categoricals_accepts_array_by_position() -> None:
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [2.0, 4.0, 6.0]})
    pre = Preprocessor().fit(X)
    np.testing.assert_array_equal(pre.transform(X.to_numpy()), pre.transform(X))


# --------------------------------------------------------------------------- quantile


def test_quantile_leaves_binary_columns_untouched_and_normalises_continuous() -> None:
    X = _thyroid()
    pre = Preprocessor(scaling="quantile", random_state=0).fit(X)
    out = pre.transform(X)
    binary = set(pre.binary_features_)
    assert len(binary) == 15  # Dim_1=0 ... Dim_15=0 in the paper's thyroid data
    for name in X.columns:
        col = out[:, _block(pre, name)[0]]
        if name in binary:
            np.testing.assert_array_equal(col, X[name].to_numpy(dtype=np.float32))
        else:
            assert abs(col.mean()) < 0.1, name
            assert abs(col.std() - 1.0) < 0.15, name


def test_quantile_binary_detection_ignores_missing_values() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"b": rng.integers(0, 2, 300).astype(float), "c": rng.normal(size=300)})
    X.loc[:9, "b"] = np.nan
    pre = Preprocessor(scaling="quantile").fit(X)
    assert pre.binary_features_ == ["b"]
    out = pre.transform(X)
    np.testing.assert_array_equal(out[10:, 0], X["b"].to_numpy(dtype=np.float32)[10:])
    np.testing.assert_allclose(out[:10, 0], X["b"].mean(), rtol=1e-6)  # imputed, not transformed
    assert abs(np.median(out[:, 1])) < 0.05


# --------------------------------------------------------------------------- sparse


def _nonneg_sparse(seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.random((40, 6)) * rng.integers(1, 50, 6)
    dense[rng.random(dense.shape) < 0.6] = 0.0
    dense[0, :] = 0.0  # every column has a 0: min-max == max-abs
    return sp.csr_matrix(dense)


def test_sparse_in_sparse_out_with_same_pattern() -> None:
    X = _nonneg_sparse()
    pre = Preprocessor().fit(X)
    out = pre.transform(X)
    assert sp.issparse(out) and out.format == "csr" and out.dtype == np.float32
    assert out.nnz == X.nnz
    np.testing.assert_array_equal(out.indptr, X.indptr)
    np.testing.assert_array_equal(out.indices, X.indices)
    assert out.max() == 1.0 and out.min() == 0.0
    assert isinstance(pre.transform(sp.csr_array(X)), sp.csr_array)


def test_sparse_and_dense_minmax_agree_when_column_minimum_is_zero() -> None:
    X = _nonneg_sparse()
    dense_out = Preprocessor().fit(X.toarray()).transform(X.toarray())
    sparse_out = Preprocessor().fit(X).transform(X)
    np.testing.assert_allclose(sparse_out.toarray(), dense_out, rtol=1e-6, atol=0)


def test_sparse_standard_keeps_sparsity_and_unit_variance() -> None:
    X = _nonneg_sparse()
    out = Preprocessor(scaling="standard").fit(X).transform(X)
    assert sp.issparse(out) and out.nnz == X.nnz
    np.testing.assert_allclose(out.toarray().std(axis=0), 1.0, rtol=1e-5)


def test_sparse_quantile_is_refused_and_nan_is_a_data_error() -> None:
    X = _nonneg_sparse()
    with pytest.raises(ParameterError, match="quantile"):
        Preprocessor(scaling="quantile").fit(X)
    bad = X.copy()
    bad.data[3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        Preprocessor().fit(bad)
    pre = Preprocessor().fit(X)
    with pytest.raises(DataError, match="NaN"):
        pre.transform(bad)


def test_dense_fitted_preprocessor_accepts_sparse_input() -> None:
    X = _nonneg_sparse()
    pre = Preprocessor(scaling="quantile").fit(X.toarray())
    out = pre.transform(X)
    assert sp.issparse(out)
    np.testing.assert_array_equal(out.toarray(), pre.transform(X.toarray()))


# --------------------------------------------------------------------------- JSON state


def _round_trip(pre: Preprocessor) -> Preprocessor:
    state = preprocessor_to_state(pre)
    text = json.dumps(state, allow_nan=False)
    assert state["format"] == 1
    return preprocessor_from_state(json.loads(text))


def _assert_bit_identical(a: object, b: object) -> None:
    if sp.issparse(a):
        assert sp.issparse(b)
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_array_equal(a.indices, b.indices)
        assert a.data.tobytes() == b.data.tobytes()
    else:
        assert a.dtype == b.dtype == np.float32
        assert a.shape == b.shape
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("scaling", SCALINGS)
def test_state_round_trip_dataframe_with_categoricals(scaling: str) -> None:
    X = _mixed_frame(500)
    pre = Preprocessor(scaling=scaling, n_quantiles=100, subsample=300, random_state=3).fit(X)
    restored = _round_trip(pre)
    for data in (X, _scoring_frame()):
        _assert_bit_identical(pre.transform(data), restored.transform(data))
    assert list(restored.feature_names_out_) == list(pre.feature_names_out_)
    assert restored.output_to_input_ == pre.output_to_input_
    assert restored.binary_features_ == pre.binary_features_
    assert restored.get_params() == pre.get_params()


@pytest.mark.parametrize("scaling", SCALINGS)
def test_state_round_trip_ndarray(scaling: str) -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4)) * [1.0, 1e-3, 1e6, 3.0]
    X[:, 3] = rng.integers(0, 2, 300)
    X[rng.random(X.shape) < 0.05] = np.nan
    pre = Preprocessor(scaling=scaling).fit(X)
    restored = _round_trip(pre)
    score = rng.normal(size=(50, 4)) * 4
    score[0, 0] = np.nan
    for data in (X, score):
        _assert_bit_identical(pre.transform(data), restored.transform(data))


@pytest.mark.parametrize("scaling", ["minmax", "standard", "none"])
def test_state_round_trip_sparse(scaling: str) -> None:
    X = _nonneg_sparse()
    pre = Preprocessor(scaling=scaling).fit(X)
    restored = _round_trip(pre)
    for data in (X, _nonneg_sparse(7) * 3.0):
        _assert_bit_identical(pre.transform(data), restored.transform(data))


def test_state_holds_only_json_types_and_rejects_bad_states() -> None:
    pre = Preprocessor().fit(_mixed_frame())
    state = preprocessor_to_state(pre)

    def check(value: object) -> None:
        if isinstance(value, dict):
            assert all(isinstance(k, str) for k in value)
            for v in value.values():
                check(v)
        elif isinstance(value, list):
            for v in value:
                check(v)
        else:
            assert value is None or type(value) in (str, int, float, bool), type(value)

    check(state)
    assert state["encoder"]["categories"][0] == ["blue", "green", "red", None]

    newer = dict(state, format=2)
    with pytest.raises(ModelFileError, match="newer"):
        preprocessor_from_state(newer)
    broken = json.loads(json.dumps(state))
    broken["imputer"]["statistics"] = broken["imputer"]["statistics"][:-1]
    with pytest.raises(ModelFileError):
        preprocessor_from_state(broken)
    with pytest.raises(ModelFileError):
        preprocessor_from_state({"format": 1})


@pytest.mark.parametrize("module", sorted((REPO / "src" / "deviation" / "preprocess").glob("*.py")), ids=lambda p: p.name)
def test_module_does_not_use_pickle(module) -> None:
    tree = ast.parse(module.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"pickle", "cPickle", "joblib", "dill", "cloudpickle", "shelve", "marshal"}


# --------------------------------------------------------------------------- bad input


def test_infinite_values_are_data_errors_naming_the_column() -> None:
    X = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "bad": [1.0, np.inf, 2.0]})
    with pytest.raises(DataError, match="bad"):
        Preprocessor().fit(X)
    pre = Preprocessor().fit(X.assign(bad=[1.0, 2.0, 3.0]))
    with pytest.raises(DataError, match="bad"):
        pre.transform(X)
    with pytest.raises(DataError, match="x1"):
        Preprocessor().fit(X.to_numpy())


def test_values_beyond_float64_are_data_errors() -> None:
    X = pd.DataFrame({"huge": pd.Series([1, 10**400, 2], dtype=object), "c": ["a", "b", "c"]})
    with pytest.raises(DataError, match="huge"):
        Preprocessor(categorical=["c"]).fit(X)


def test_strings_in_numeric_column_at_transform_are_data_errors() -> None:
    X = pd.DataFrame({"num": [1.0, 2.0, 3.0], "cat": ["a", "b", "a"]})
    pre = Preprocessor().fit(X)
    score = pd.DataFrame({"num": pd.Series([1.0, "oops", 2.0], dtype=object), "cat": ["a", "a", "b"]})
    with pytest.raises(DataError, match="'num'.*'oops'"):
        pre.transform(score)
    # numbers held in an object column are fine
    ok = pd.DataFrame({"num": pd.Series([1.0, None, 2], dtype=object), "cat": ["a", "a", "b"]})
    np.testing.assert_allclose(pre.transform(ok)[:, 0], [0.0, 0.5, 0.5])


def test_declared_categorical_columns_and_the_others_typed_by_the_rules() -> None:
    # categorical=[...] forces those columns; the others are typed by the rules (dates, numbers as text, ...)
    X = pd.DataFrame({"num": ["1", "x", "3"], "cat": ["1", "2", "1"], "price": ["$1,200", "$3", "$4"]})
    kinds = {k.name: k.kind for k in Preprocessor(categorical=["cat"]).fit(X).column_kinds_}
    assert kinds == {"num": "categorical", "cat": "categorical", "price": "numeric"}
    many = pd.DataFrame({"num": [str(i) for i in range(30)] + ["x"], "cat": ["a"] * 31})
    with pytest.raises(DataError, match="'num' is numeric but holds non-numeric values such as 'x'"):
        Preprocessor(categorical=["cat"]).fit(many)


def test_float32_overflow_is_a_data_error() -> None:
    pre = Preprocessor().fit(np.array([[0.0], [1e-30]]))
    with pytest.raises(DataError, match="float32"):
        pre.transform(np.array([[1e300]]))


def test_bad_scaling_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError) as info:
        Preprocessor(scaling="foo").fit(np.zeros((2, 2)))
    assert str(info.value) == (
        "The 'scaling' parameter of Preprocessor must be one of "
        "{'minmax', 'standard', 'quantile', 'none'}. Got 'foo' instead."
    )
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "params",
    [
        {"categorical": "all"},
        {"categorical": 3},
        {"max_categories": 0},
        {"n_quantiles": 1},
        {"n_quantiles": 500, "subsample": 100},
        {"subsample": 0},
        {"random_state": "seed"},
    ],
)
def test_other_bad_parameters(params: dict) -> None:
    with pytest.raises(ParameterError):
        Preprocessor(**params).fit(np.zeros((3, 2)))


def test_categorical_names_need_a_dataframe_with_those_columns() -> None:
    with pytest.raises(ParameterError):
        Preprocessor(categorical=["x0"]).fit(np.zeros((3, 2)))
    with pytest.raises(ParameterError, match="nope"):
        Preprocessor(categorical=["nope"]).fit(pd.DataFrame({"a": [1.0]}))


def test_transform_before_fit_is_not_fitted_error() -> None:
    pre = Preprocessor()
    with pytest.raises(NotFittedError):
        pre.transform(np.zeros((2, 2)))
    with pytest.raises(SklearnNotFittedError):
        preprocessor_to_state(pre)


def test_empty_or_one_dimensional_input_is_a_data_error() -> None:
    with pytest.raises(DataError):
        Preprocessor().fit(np.zeros((0, 3)))
    with pytest.raises(DataError):
        Preprocessor().fit(np.zeros(3))
    with pytest.raises(DataError):
        Preprocessor().fit(pd.DataFrame({"a": ["x", "y"]}).a)


def test_zero_row_transform() -> None:
    pre = Preprocessor().fit(_mixed_frame())
    out = pre.transform(_mixed_frame().iloc[:0])
    assert out.shape == (0, pre.n_features_out_) and out.dtype == np.float32


# --------------------------------------------------------------------------- scikit-learn API


def test_get_params_and_clone() -> None:
    pre = Preprocessor(scaling="standard", categorical=["color", "city"], max_categories=5, random_state=1)
    assert pre.get_params() == {
        "scaling": "standard",
        "categorical": ["color", "city"],
        "max_categories": 5,
        "min_frequency": 5,
        "n_quantiles": 1000,
        "subsample": 100_000,
        "random_state": 1,
    }
    pre.fit(_mixed_frame())
    twin = clone(pre)
    assert twin.get_params() == pre.get_params()
    assert not hasattr(twin, "feature_names_out_")
    with pytest.raises(NotFittedError):
        twin.transform(_mixed_frame())
    twin.set_params(scaling="none")
    assert twin.fit(_mixed_frame()).transform(_mixed_frame()).max() > 1.0


def test_works_in_a_pipeline() -> None:
    X = _mixed_frame()
    pipe = Pipeline([("pre", Preprocessor())])
    np.testing.assert_array_equal(pipe.fit_transform(X), Preprocessor().fit(X).transform(X))


def test_text_in_an_otherwise_numeric_column_is_refused_unless_declared_categorical():
    frame = pd.DataFrame({"amount": [str(v) for v in range(30)] + ["abc"], "other": np.arange(31.0)})
    with pytest.raises(DataError, match="'amount' is numeric but holds non-numeric values such as 'abc'"):
        Preprocessor().fit(frame)
    out = Preprocessor(categorical=["amount"]).fit_transform(frame)
    assert out.shape == (31, 31 + 1)
    # a real text column (no numbers) is one-hot encoded as usual
    text = pd.DataFrame({"site": ["a", "b"] * 10, "x": np.arange(20.0)})
    assert Preprocessor().fit_transform(text).shape == (20, 3)


def test_numeric_fast_path_is_bit_identical_to_the_general_path():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(500, 6)) * 100, columns=[f"c{i}" for i in range(6)])
    frame["ints"] = rng.integers(0, 50, size=500)
    for scaling in ("minmax", "none"):
        pre = Preprocessor(scaling=scaling).fit(frame)
        test = frame.sample(frac=1.0, axis=1, random_state=0) * 1.3
        fast = pre.transform(test)
        assert pre._transform_numeric_fast(test) is not None
        slow = pre._transform_dense(*pre._dense_input(test))
        np.testing.assert_array_equal(fast, slow)
    # missing values and strings still go through the general path and its checks
    with_nan = frame.copy()
    with_nan.iloc[3, 2] = np.nan
    assert pre._transform_numeric_fast(with_nan) is None
    assert np.isfinite(pre.transform(with_nan)).all()
