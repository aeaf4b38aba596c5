"""The compiled loops of the default preset's scoring (deviation.kernels, numba) against the NumPy code.

They do the same operations in the same order and precision, so the view, the
forward pass and the scores must be the same bits with and without them
(``DEVIATION_JIT=0`` turns them off), on values that exercise every branch of
the quantile map: tails, ties, values beyond the quantiles, columns searched
instead of looked up.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_quantile_map import _columns, _probes

from deviation import DevNet, kernels
from deviation.features import InputView, _quantiles
from deviation.mlp import forward_columns

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")


@pytest.fixture
def numpy_only(monkeypatch):
    """Run the NumPy code (as without numba) inside the ``with``; the compiled loops outside it."""

    class Switch:
        def __enter__(self):
            monkeypatch.setenv("DEVIATION_JIT", "0")
            kernels.kernels.cache_clear()
            assert not kernels.available()

        def __exit__(self, *exc):
            monkeypatch.setenv("DEVIATION_JIT", "1")
            kernels.kernels.cache_clear()
            assert kernels.available()

    yield Switch()
    kernels.kernels.cache_clear()


def _clumped(rng: np.random.Generator, n: int) -> np.ndarray:
    # most values within 1e-9 of each other and a few 1e12 away: too many quantiles for any
    # lookup bucket, so the map searches this column instead
    x = 1000.0 + rng.random(n) * 1e-9
    x[::37] = -1e12
    x[1::37] = 1e12
    return x


def _view(rng: np.random.Generator, n: int) -> tuple[InputView, np.ndarray]:
    X = np.c_[_columns(rng, n), _clumped(rng, n), rng.random(n) < 0.3, rng.random(n) < 0.5]
    references = np.linspace(0.0, 1.0, min(1000, n))
    data_min = X.min(axis=0)
    data_range = X.max(axis=0) - data_min
    data_range[data_range == 0] = 1.0
    binary = np.flatnonzero(np.all((X == 0) | (X == 1), axis=0))
    continuous = np.setdiff1d(np.arange(X.shape[1]), binary)
    view = InputView(data_min, data_range, continuous, _quantiles(X[:, continuous], references), references, binary)
    return view, _probes(rng, X, _quantiles(X, references))


@pytest.mark.parametrize("n_rows", [40, 5000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_view_is_the_numpy_view_bit_for_bit(n_rows, dtype, numpy_only):
    rng = np.random.default_rng(n_rows)
    view, T = _view(rng, n_rows)
    assert view._map.searched.any() and not view._map.searched.all()
    T = T.astype(dtype)
    compiled = view.transform_columns(T)
    with numpy_only:
        expected = view.transform_columns(T)
    assert compiled.dtype == np.float32 and compiled.shape == (view.n_features_out, len(T))
    np.testing.assert_array_equal(compiled, expected)


def test_compiled_view_maps_each_value_alone():
    rng = np.random.default_rng(11)
    view, T = _view(rng, 3000)
    together = view.transform_columns(T)
    for i in rng.integers(0, len(T), size=60):
        np.testing.assert_array_equal(view.transform_columns(T[i : i + 1])[:, 0], together[:, i])
    order = rng.permutation(len(T))
    np.testing.assert_array_equal(view.transform_columns(T[order]), together[:, order])


def test_compiled_scores_are_the_numpy_scores_and_rows_score_alone(numpy_only):
    rng = np.random.default_rng(2)
    X = np.c_[_columns(rng, 4000)[:, [0, 1, 2, 3, 5, 8]], rng.random(4000) < 0.3]
    y = (rng.random(4000) < 0.03).astype(int)
    X[y == 1, 0] += 5
    model = DevNet(epochs=3, batches_per_epoch=5, random_state=0).fit(X, y)
    members = model._members()
    assert len(members) == 2
    T = _probes(rng, X, _quantiles(X, np.linspace(0, 1, 40)))
    T = T[np.all(np.abs(T) < 1e12, axis=1)]
    scores = model.decision_function(T)
    columns = model.view_.transform_columns(T.astype(np.float32))
    forward = forward_columns(columns, members, model.coefs_[-1], model.intercepts_[-1])
    with numpy_only:
        np.testing.assert_array_equal(model.decision_function(T), scores)
        np.testing.assert_array_equal(forward_columns(columns, members, model.coefs_[-1], model.intercepts_[-1]),
                                      forward)
    for i in rng.integers(0, len(T), size=30):
        assert model.decision_function(T[i : i + 1])[0] == scores[i]


def test_members_are_split_once_per_set_of_weights():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(600, 5))
    y = (rng.random(600) < 0.05).astype(int)
    model = DevNet(epochs=2, batches_per_epoch=3, random_state=0).fit(X, y)
    first = model._members()
    assert model._members() is first
    before = model.decision_function(X)
    model.set_params(random_state=1).fit(X, y)  # new weight arrays: the cache must not serve the old split
    assert model._members() is not first
    assert not np.array_equal(model.decision_function(X), before)
    np.testing.assert_array_equal(model.decision_function(X), DevNet(epochs=2, batches_per_epoch=3, random_state=1)
                                  .fit(X, y).decision_function(X))


def test_float32_rows_maps_the_rounded_values_without_a_copy(numpy_only):
    rng = np.random.default_rng(8)
    view, T = _view(rng, 2000)
    rounded = view.transform_columns(T.astype(np.float32))
    np.testing.assert_array_equal(view.transform_columns(T, float32_rows=True), rounded)
    with numpy_only:
        np.testing.assert_array_equal(view.transform_columns(T, float32_rows=True), rounded)
    assert not np.array_equal(view.transform_columns(T), rounded)  # the rounding is not a no-op here


def test_column_major_rows_map_like_row_major_rows():
    rng = np.random.default_rng(9)
    view, T = _view(rng, 1500)
    expected = view.transform_columns(T, float32_rows=True)
    np.testing.assert_array_equal(view.transform_columns(np.asfortranarray(T), float32_rows=True), expected)
    np.testing.assert_array_equal(view.transform_columns(np.asfortranarray(T.astype(np.float32))), expected)
    np.testing.assert_array_equal(view.transform_columns(T[::-1], float32_rows=True), expected[:, ::-1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_exact_view_is_the_numpy_exact_view(dtype, numpy_only):
    # training's view (scikit-learn's values bit for bit): locate and levels compiled, norm.ppf by scipy
    rng = np.random.default_rng(12)
    view, T = _view(rng, 3000)
    T = T.astype(dtype)
    compiled = view.transform_columns(T, exact=True)
    with numpy_only:
        expected = view.transform_columns(T, exact=True)
    np.testing.assert_array_equal(compiled, expected)


@pytest.mark.parametrize("shape", [(1, 3), (63, 4), (64, 4), (1000, 7), (4097, 20)])
def test_column_extremes_are_numpy_min_and_max(shape):
    from deviation.features import column_extremes

    rng = np.random.default_rng(shape[0])
    X = rng.standard_cauchy(size=shape)
    for data in (X, X.astype(np.float32), np.asfortranarray(X)):
        low, high = column_extremes(data)
        np.testing.assert_array_equal(low, data.min(axis=0).astype(np.float64))
        np.testing.assert_array_equal(high, data.max(axis=0).astype(np.float64))


def test_small_calls_never_import_numba():
    # importing numba and loading the compiled loops costs most of a second: a small fit or
    # score (the CLI on a small file, a service's first request) runs the NumPy code instead
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from deviation import DevNet\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(3000, 6)); y = (rng.random(3000) < 0.02).astype(int)\n"
        "m = DevNet(epochs=2, batches_per_epoch=3, random_state=0).fit(X, y)\n"
        "small = m.decision_function(X)\n"
        "assert 'numba' not in sys.modules, 'numba imported'\n"
        "from deviation import kernels\n"
        "big = np.repeat(X, 200, axis=0)\n"
        "first = m.decision_function(big)  # starts loading them in the background, scores with NumPy\n"
        "assert kernels.kernels() is not None  # waits for the load\n"
        "again = m.decision_function(big)  # the compiled loops\n"
        "assert np.array_equal(first[::200], small) and np.array_equal(again, first)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_a_failing_compiled_loop_falls_back_to_numpy(monkeypatch, caplog):
    # a platform where numba cannot compile a loop: one warning, then the NumPy code (same values)
    import numba

    rng = np.random.default_rng(13)
    view, T = _view(rng, 2000)
    expected = view.transform_columns(T)

    def broken(*args):
        raise numba.core.errors.TypingError("cannot compile here")

    monkeypatch.setattr(kernels.kernels(), "view_block", broken)
    try:
        with caplog.at_level("WARNING", logger="deviation.kernels"):
            out = view._block(T, False, compiled=kernels.kernels())
        np.testing.assert_array_equal(out, expected)
        assert "scoring with NumPy from now on" in caplog.text
        assert not kernels.available()
    finally:
        kernels._STATE["disabled"] = False
        kernels.kernels.cache_clear()
    assert kernels.available()


def test_numba_that_cannot_load_falls_back_to_numpy(monkeypatch):
    import sys

    import deviation

    monkeypatch.delattr(deviation, "jit", raising=False)
    monkeypatch.setitem(sys.modules, "deviation.jit", None)  # the import fails as a missing numba's would
    kernels.kernels.cache_clear()
    try:
        assert kernels.kernels() is None
    finally:
        monkeypatch.delitem(sys.modules, "deviation.jit")
        kernels.kernels.cache_clear()
    assert kernels.available()


def test_rows_hint_of_files(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from deviation.scale._pipeline import rows_hint as _rows_hint

    pq.write_table(pa.table({"a": np.arange(12345.0)}), tmp_path / "t.parquet")
    assert _rows_hint(tmp_path / "t.parquet") == 12345
    (tmp_path / "t.csv").write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(50_000)))
    assert 40_000 < _rows_hint(tmp_path / "t.csv") < 60_000
    assert _rows_hint(tmp_path / "missing.csv") == 0 and _rows_hint(tmp_path) == 0
