import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from conftest import SHARED_DATA
from sklearn.pipeline import Pipeline

from deviation import DataError, DevNet, ParameterError, Preprocessor
from deviation.explain import explain
from deviation.mlp import input_gradients


@pytest.fixture(scope="module", params=["paper", "default"])
def thyroid_model(thyroid, request):
    X, y = thyroid
    return DevNet(random_state=0, preset=request.param).fit(X, y)


@pytest.mark.parametrize("preset", ["paper", "default"])
@pytest.mark.parametrize("hidden", [(), (20,)])
def test_completeness_is_exact_for_the_papers_networks(thyroid, hidden, preset):
    X, y = thyroid
    model = DevNet(hidden_layer_sizes=hidden, random_state=0, epochs=10, preset=preset).fit(X, y)
    assert model.n_networks_ == (1 if preset == "paper" else 2)
    if preset == "default":  # the quantile network reads 6 quantile columns and the 15 binary ones
        assert model.view_.n_continuous == 6 and model.view_.n_binary == 15
    ex = explain(model, X)
    assert ex.values.shape == X.shape
    np.testing.assert_allclose(ex.scores, model.decision_function(X), atol=1e-5)
    assert np.abs(ex.completeness_gap()).max() < 1e-4
    base = model.decision_function(model.baseline_[None, :])[0]
    assert ex.baseline_score == pytest.approx(base, abs=1e-5)


def test_exact_integral_equals_a_fine_riemann_sum(thyroid, thyroid_model):
    X, _ = thyroid
    rows = X[:50].astype(np.float32)
    base = thyroid_model.baseline_
    view = thyroid_model.view_
    if view is not None:
        # the default preset's network reads the view: integrate there, then add each view
        # column's attribution onto the input column it comes from
        assert thyroid_model.preset == "default"
        rows, base = view.transform(rows), view.transform(base[None, :])[0]
    grads = np.zeros_like(rows)
    n = 2000
    for k in range(n):
        point = base + np.float32((k + 0.5) / n) * (rows - base)
        grads += input_gradients(point, thyroid_model.coefs_, thyroid_model.intercepts_)
    riemann = (rows - base) * grads / n
    if view is not None:
        folded = np.zeros((len(rows), view.n_features_in), dtype=np.float64)
        np.add.at(folded.T, view.source_columns(), riemann.T)
        riemann = folded
    np.testing.assert_allclose(explain(thyroid_model, X, rows=np.arange(50)).values, riemann, atol=2e-3)


def test_input_gradients_equal_autograd(thyroid_model):
    from deviation.network import ScoringMLP

    rng = np.random.default_rng(0)
    coefs, intercepts = thyroid_model.coefs_, thyroid_model.intercepts_
    n_in = coefs[0].shape[0]  # 21 columns, or 21 + 6 for the default preset's view
    assert n_in == (21 if thyroid_model.view_ is None else thyroid_model.view_.n_features_out)
    Xb = rng.random((30, n_in)).astype(np.float32)
    net = ScoringMLP(n_in, [c.shape[1] for c in coefs[:-1]])
    net.load_numpy(coefs, intercepts)
    xt = torch.from_numpy(Xb).requires_grad_(True)
    net(xt).sum().backward()
    np.testing.assert_allclose(input_gradients(Xb, coefs, intercepts), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_two_hidden_layers_are_exact_whatever_n_steps(thyroid):
    X, y = thyroid
    model = DevNet(hidden_layer_sizes=(16, 8), random_state=0, epochs=10).fit(X, y)
    one = explain(model, X[:200], n_steps=1)
    assert np.abs(one.completeness_gap()).max() < 1e-4
    np.testing.assert_array_equal(one.values, explain(model, X[:200], n_steps=256).values)
    # and equal to a fine Riemann sum on the network's input (the view, for the default preset)
    # DevNet reads float32 rows: transform those, as explain does
    Z, base = model.view_.transform(X[:20].astype(np.float32)), model.view_.transform(model.baseline_[None, :])[0]
    grads = sum(input_gradients(base + np.float32((k + 0.5) / 2000) * (Z - base), model.coefs_, model.intercepts_)
                for k in range(2000))
    riemann = np.zeros((20, X.shape[1]))
    np.add.at(riemann.T, model.view_.source_columns(), ((Z - base) * grads / 2000).T)
    np.testing.assert_allclose(one.values[:20], riemann, atol=2e-3)


def test_deeper_networks_use_riemann_steps(thyroid):
    X, y = thyroid
    model = DevNet(hidden_layer_sizes=(16, 8, 8), random_state=0, epochs=10).fit(X, y)
    coarse = np.abs(explain(model, X[:200], n_steps=8).completeness_gap()).mean()
    fine = np.abs(explain(model, X[:200], n_steps=256).completeness_gap()).mean()
    assert fine < coarse and fine < 0.02


def test_explanations_are_deterministic_and_rows_subset(thyroid, thyroid_model):
    X, _ = thyroid
    a = explain(thyroid_model, X, rows=[5, 7, 11])
    b = explain(thyroid_model, X, rows=[5, 7, 11])
    np.testing.assert_array_equal(a.values, b.values)
    full = explain(thyroid_model, X)
    np.testing.assert_allclose(a.values, full.values[[5, 7, 11]], atol=1e-6)
    assert list(a.rows) == [5, 7, 11]
    top = a.top(2)
    assert list(top.columns) == ["row", "rank", "feature", "attribution"]
    assert len(top) == 6 and (top.groupby("row")["attribution"].apply(lambda s: s.is_monotonic_decreasing)).all()


def test_sparse_input_gives_the_dense_attributions(thyroid):
    X, y = thyroid
    model = DevNet(random_state=0, epochs=5).fit(sp.csr_matrix(X), y)
    dense = explain(model, X, rows=np.arange(100))
    sparse = explain(model, sp.csr_matrix(X), rows=np.arange(100))
    np.testing.assert_allclose(dense.values, sparse.values, atol=1e-6)
    # a model trained on dense rows (the default preset's input view) explains sparse rows alike
    model = DevNet(random_state=0, epochs=5).fit(X, y)
    assert model.view_ is not None
    dense = explain(model, X, rows=np.arange(100))
    sparse = explain(model, sp.csr_matrix(X), rows=np.arange(100))
    np.testing.assert_allclose(dense.values, sparse.values, atol=1e-6)


def test_one_hot_columns_fold_back_to_their_column(thyroid):
    X, y = thyroid
    frame = pd.DataFrame(X[:, 16:], columns=[f"c{i}" for i in range(5)])
    rng = np.random.default_rng(0)
    frame["site"] = rng.choice(["north", "south", "east"], size=len(frame))
    frame.loc[y == 1, "site"] = rng.choice(["north", "west"], size=int(y.sum()))
    model = Pipeline([("preprocessor", Preprocessor()), ("devnet", DevNet(random_state=0, epochs=10))]).fit(frame, y)
    ex = explain(model, frame.sample(frac=1.0, axis=1, random_state=1), rows=np.arange(300))
    assert ex.feature_names == list(frame.columns)
    assert ex.values.shape == (300, 6)
    assert np.abs(ex.completeness_gap()).max() < 1e-4


def _planted(X, rng, n, features):
    """Normal rows with chosen features shifted far outside their [0, 1] range."""
    rows = X[rng.choice(len(X), size=n, replace=False)].copy()
    shifted = []
    for i in range(n):
        chosen = [features[i % 2]] if i % 3 else list(features)
        rows[i, chosen] += 3.0
        shifted.append(chosen)
    return rows, shifted


def test_planted_anomalies_are_explained_by_their_shifted_features(thyroid):
    X, y = thyroid
    normal = X[y == 0]
    rng = np.random.default_rng(0)
    features = [17, 19]
    train_planted, _ = _planted(normal, rng, 60, features)
    test_planted, shifted = _planted(normal, rng, 60, features)
    X_train = np.vstack([normal, train_planted])
    y_train = np.r_[np.zeros(len(normal), int), np.ones(60, int)]
    model = DevNet(random_state=0).fit(X_train, y_train)
    ex = explain(model, test_planted)
    top2 = np.argsort(-ex.values, axis=1)[:, :2]
    hits = [all(f in top2[i] for f in chosen) for i, chosen in enumerate(shifted)]
    assert np.mean(hits) >= 0.9, np.mean(hits)


def _faithfulness(model, X_test):
    """Mean score drop when the top-3 attributed features vs 3 random ones are set to the baseline."""
    scores = model.decision_function(X_test)
    flagged = np.flatnonzero(scores > model.threshold_)
    ex = explain(model, X_test, rows=flagged)
    rng = np.random.default_rng(0)
    base = model.baseline_
    Z = np.asarray(X_test[flagged], dtype=np.float64)
    top = np.argsort(-ex.values, axis=1)[:, :3]
    rand = np.array([rng.choice(Z.shape[1], 3, replace=False) for _ in range(len(flagged))])
    drops = []
    for cols in (top, rand):
        Zc = Z.copy()
        np.put_along_axis(Zc, cols, base[cols], axis=1)
        drops.append(float(np.mean(ex.scores - model.decision_function(Zc))))
    return drops


def test_removing_top_features_lowers_the_score_more_than_random_ones(thyroid_split):
    from deviation.io import read_table

    datasets = [thyroid_split]
    campaign = SHARED_DATA / "paper" / "campaign.npz"
    if campaign.exists():
        from deviation.protocol import paper_split

        t = read_table(campaign)
        s = paper_split(t.X, t.y, np.random.default_rng(0))
        datasets.append((s.X_train, s.y_train, s.X_test, s.y_test))
    for X_train, y_train, X_test, _ in datasets:
        model = DevNet(random_state=0).fit(X_train, y_train)
        top_drop, random_drop = _faithfulness(model, X_test)
        assert top_drop > random_drop + 0.2, (top_drop, random_drop)


def test_bad_calls(thyroid, thyroid_model):
    X, _ = thyroid
    with pytest.raises(ParameterError):
        explain(object(), X)
    with pytest.raises(DataError, match="outside"):
        explain(thyroid_model, X, rows=[10**6])
    with pytest.raises(DataError, match="baseline"):
        explain(thyroid_model, X, baseline=np.zeros(3))
    with pytest.raises(ParameterError):
        explain(thyroid_model, X).top(0)


def test_wide_sparse_rows_are_explained_a_few_at_a_time(thyroid):
    X, y = thyroid
    wide = sp.hstack([sp.csr_matrix(X), sp.csr_matrix((X.shape[0], 40_000))], format="csr")
    model = DevNet(random_state=0, epochs=5).fit(wide, y)
    ex = explain(model, wide, rows=np.arange(20))
    assert ex.values.shape == (20, 40_021)
    assert np.abs(ex.completeness_gap()).max() < 1e-4
    assert not ex.values[:, 21:].any()  # columns never seen in training add nothing
