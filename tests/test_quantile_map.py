"""The precomputed quantile-to-normal map of the default preset's input view (issue 18).

Checked against scikit-learn's QuantileTransformer itself, rebuilt from the same
quantiles: the fast map within 2e-6 plus float32 rounding, the exact path bit for
bit, on the values that exercise every branch of scikit-learn's formula.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import QuantileTransformer

from deviation import DevNet
from deviation.features import InputView, _quantiles
from deviation.quantile_map import NormalQuantileMap, reference_map

ATOL = 2.5e-6  # TOLERANCE (2e-6) of the cubics, plus float32 rounding of values up to 5.2


def _columns(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([
        rng.normal(size=n),
        rng.lognormal(sigma=2.0, size=n),
        rng.standard_cauchy(size=n),  # heavy tails on both sides
        rng.integers(0, 6, size=n).astype(float),  # six values: long runs of repeated quantiles
        np.where(rng.random(n) < 0.9, 3.0, rng.normal(size=n)),  # mostly one value
        rng.uniform(size=n) * 1e-3 + 1000.0,  # narrow, far from zero
        rng.normal(size=n) * 1e-9,  # inside the 1e-7 bounds everywhere
        np.full(n, 2.5),  # constant
        -rng.exponential(size=n),  # a heavy left tail
    ])


def _transformer(quantiles: np.ndarray, references: np.ndarray) -> QuantileTransformer:
    qt = QuantileTransformer(n_quantiles=len(references), output_distribution="normal")
    qt.quantiles_, qt.references_ = quantiles, references
    qt.n_quantiles_, qt.n_features_in_ = len(references), quantiles.shape[1]
    return qt


def _probes(rng: np.random.Generator, X: np.ndarray, Q: np.ndarray) -> np.ndarray:
    n = len(X)
    scale = rng.choice([1.0, 1.0, 1.0, -1.0, 1e3, -1e3, 1e-6, 1e12], size=X.shape)
    return np.vstack([
        X,
        X * scale,  # far outside the quantiles, and near zero
        Q, np.nextafter(Q, np.inf), np.nextafter(Q, -np.inf),  # on and next to every quantile
        Q + 1e-7, Q - 1e-7, Q + 2e-7, Q - 2e-7,  # the bounds zones of scikit-learn's formula
        X[rng.integers(0, n, size=200)] + rng.normal(size=(200, X.shape[1])) * 1e-8,
        np.full((1, X.shape[1]), 1e15), np.full((1, X.shape[1]), -1e15),
    ])


@pytest.mark.parametrize("n_rows", [30, 700, 20_000])
def test_fast_map_is_within_float32_rounding_and_exact_map_is_bit_identical(n_rows):
    rng = np.random.default_rng(n_rows)
    X = _columns(rng, n_rows)
    references = np.linspace(0.0, 1.0, min(1000, n_rows))
    Q = _quantiles(X, references)
    qmap = NormalQuantileMap(Q, references)
    T = _probes(rng, X, Q)
    expected = _transformer(Q, references).transform(T).astype(np.float32)
    columns = np.ascontiguousarray(T.T)
    fast = np.empty(columns.shape, dtype=np.float32)
    exact = np.empty(columns.shape, dtype=np.float32)
    qmap.transform_into(columns, fast)
    qmap.exact_into(columns, exact)
    np.testing.assert_array_equal(exact.T, expected)
    np.testing.assert_allclose(fast.T, expected, rtol=0, atol=ATOL)
    # reference_map is scikit-learn's formula, bit for bit
    for j in range(X.shape[1]):
        np.testing.assert_array_equal(reference_map(T[:, j], Q[:, j], references).astype(np.float32), expected[:, j])


def test_each_value_is_mapped_alone():
    rng = np.random.default_rng(3)
    X = _columns(rng, 5000)
    references = np.linspace(0.0, 1.0, 1000)
    Q = _quantiles(X, references)
    qmap = NormalQuantileMap(Q, references)
    T = np.ascontiguousarray(_probes(rng, X, Q).T)
    together = np.empty(T.shape, dtype=np.float32)
    qmap.transform_into(T, together)
    for j in rng.integers(0, T.shape[1], size=50):
        alone = np.empty((T.shape[0], 1), dtype=np.float32)
        qmap.transform_into(np.ascontiguousarray(T[:, j : j + 1]), alone)
        assert np.array_equal(alone[:, 0], together[:, j])


def test_view_outputs_match_the_transformer_view_and_rows_score_alone():
    rng = np.random.default_rng(5)
    X = _columns(rng, 3000)[:, [0, 1, 2, 3, 5, 8]]
    X = np.c_[X, rng.random(3000) < 0.3]  # and a binary column
    y = (rng.random(3000) < 0.03).astype(int)
    X[y == 1, 0] += 5
    model = DevNet(epochs=3, batches_per_epoch=5, random_state=0).fit(X, y)
    view = model.view_
    assert isinstance(view, InputView) and model.hidden_layer_sizes_ == (20, 20)
    T = _probes(rng, X, _quantiles(X, np.linspace(0, 1, 50)))
    expected = _transformer(view.quantiles, view.references).transform(T[:, view.continuous]).astype(np.float32)
    d = view.n_features_in
    np.testing.assert_allclose(view.transform(T)[:, d : d + view.n_continuous], expected, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(view.transform(T, exact=True)[:, d : d + view.n_continuous], expected)
    np.testing.assert_array_equal(view.transform_columns(T), view.transform(T).T)
    # a row's score does not depend on the rows scored with it, in any batch or order
    T = T[np.all(np.abs(T) < 1e12, axis=1)]  # DevNet refuses larger values
    together = model.decision_function(T)
    order = rng.permutation(len(T))
    assert np.array_equal(model.decision_function(T[order]), together[order])
    for i in rng.integers(0, len(T), size=40):
        assert model.decision_function(T[i : i + 1])[0] == together[i]
    assert np.array_equal(model.decision_function(np.asfortranarray(T[:777])), together[:777])


def test_output_may_be_a_strided_view():
    rng = np.random.default_rng(7)
    X = _columns(rng, 2000)
    references = np.linspace(0.0, 1.0, 1000)
    Q = _quantiles(X, references)
    qmap = NormalQuantileMap(Q, references)
    T = np.ascontiguousarray(_probes(rng, X, Q).T)
    expected = np.empty(T.shape, dtype=np.float32)
    qmap.transform_into(T, expected)
    wide = np.full((T.shape[0], 2 * T.shape[1]), np.nan, dtype=np.float32)
    qmap.transform_into(T, wide[:, ::2])
    np.testing.assert_array_equal(wide[:, ::2], expected)
