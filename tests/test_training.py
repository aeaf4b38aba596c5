import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deviation.loss import deviation_loss
from deviation.mlp import FlatParams, forward_numpy, glorot_uniform_init, mlp_gradients
from deviation.network import ScoringMLP
from deviation.training import TrainConfig, train_numpy, train_numpy_pair, train_torch


def _autograd(Xb, yb, coefs, intercepts, l2):
    model = ScoringMLP(coefs[0].shape[0], [c.shape[1] for c in coefs[:-1]])
    model.load_numpy(coefs, intercepts)
    loss = deviation_loss(model(torch.from_numpy(Xb)), torch.from_numpy(yb), 0.05, 0.98, 5.0)
    for W in model.hidden_kernels():
        loss = loss + l2 * W.pow(2).sum()
    loss.backward()
    layers = [*model.hidden, model.out]
    return loss.item(), [l.weight.grad.numpy().T for l in layers], [l.bias.grad.numpy() for l in layers]


@pytest.mark.parametrize("hidden", [(), (20,), (7, 5, 3)])
def test_hand_written_gradients_equal_autograd(hidden):
    rng = np.random.default_rng(1)
    coefs, intercepts = glorot_uniform_init(rng, 11, hidden)
    intercepts = [rng.normal(0, 0.1, b.shape).astype(np.float32) for b in intercepts]
    Xb = rng.normal(size=(64, 11)).astype(np.float32)
    yb = np.tile(np.array([0, 1], dtype=np.float32), 32)
    loss, gw, gb = mlp_gradients(Xb, yb, coefs, intercepts, 0.05, 0.98, 5.0, 0.01)
    loss_t, gw_t, gb_t = _autograd(Xb, yb, coefs, intercepts, 0.01)
    assert loss == pytest.approx(loss_t, rel=1e-5)
    for a, b in zip(gw + gb, gw_t + gb_t):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_numpy_forward_equals_torch_module():
    rng = np.random.default_rng(2)
    coefs, intercepts = glorot_uniform_init(rng, 9, (20,))
    X = rng.normal(size=(100, 9)).astype(np.float32)
    model = ScoringMLP(9, (20,))
    model.load_numpy(coefs, intercepts)
    with torch.no_grad():
        expected = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(forward_numpy(X, coefs, intercepts), expected, rtol=1e-5, atol=1e-6)
    back_c, back_b = model.to_numpy()
    for a, b in zip(coefs + intercepts, back_c + back_b):
        np.testing.assert_array_equal(a, b)


def test_flat_params_views_share_memory():
    rng = np.random.default_rng(0)
    coefs, intercepts = glorot_uniform_init(rng, 4, (3,))
    net = FlatParams(coefs, intercepts)
    net.flat[:] = 0
    assert all(not c.any() for c in net.coefs)
    copies = net.copy_weights()
    net.flat[:] = 1
    assert not copies[0][0].any()


def _setup(n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < 0.1).astype(int)
    X[y == 1] += 2.0
    rows = rng.integers(0, n, size=(30, 64))
    rows[:, 0::2] = np.flatnonzero(y == 0)[rng.integers(0, (y == 0).sum(), size=(30, 32))]
    rows[:, 1::2] = np.flatnonzero(y == 1)[rng.integers(0, (y == 1).sum(), size=(30, 32))]
    labels = np.tile(np.array([0, 1], dtype=np.float32), 32)
    coefs, intercepts = glorot_uniform_init(rng, d, (8,))
    return X, rows, labels, coefs, intercepts


def test_numpy_and_torch_engines_train_to_the_same_weights():
    X, rows, labels, coefs, intercepts = _setup()
    cfg = TrainConfig(epochs=3, batches_per_epoch=10)
    a = train_numpy(X, rows, labels, [c.copy() for c in coefs], [b.copy() for b in intercepts], 0.0, 1.0, cfg)
    b = train_torch(X, rows, labels, [c.copy() for c in coefs], [b.copy() for b in intercepts], 0.0, 1.0, cfg)
    np.testing.assert_allclose(a.loss_curve, b.loss_curve, rtol=1e-4)
    for wa, wb in zip(a.coefs + a.intercepts, b.coefs + b.intercepts):
        np.testing.assert_allclose(wa, wb, rtol=1e-3, atol=1e-5)


def test_sparse_rows_train_exactly_like_dense_rows():
    X, rows, labels, coefs, intercepts = _setup()
    X[np.abs(X) < 0.8] = 0.0
    cfg = TrainConfig(epochs=2, batches_per_epoch=15)
    a = train_numpy(X, rows, labels, [c.copy() for c in coefs], [b.copy() for b in intercepts], 0.0, 1.0, cfg)
    b = train_numpy(sp.csr_matrix(X), rows, labels, [c.copy() for c in coefs], [b.copy() for b in intercepts], 0.0, 1.0, cfg)
    for wa, wb in zip(a.coefs, b.coefs):
        np.testing.assert_array_equal(wa, wb)


def test_best_epoch_weights_are_kept():
    X, rows, labels, coefs, intercepts = _setup()
    cfg = TrainConfig(epochs=3, batches_per_epoch=10, learning_rate=0.05)
    res = train_numpy(X, rows, labels, [c.copy() for c in coefs], [b.copy() for b in intercepts], 0.0, 1.0, cfg)
    assert res.best_epoch == int(np.argmin(res.loss_curve))
    last = train_numpy(
        X, rows, labels, [c.copy() for c in coefs], [b.copy() for b in intercepts], 0.0, 1.0,
        TrainConfig(epochs=3, batches_per_epoch=10, learning_rate=0.05, restore_best=False),
    )
    assert last.best_epoch == 2


def test_gradient_clipping_changes_training_the_same_way_in_both_engines():
    X, rows, labels, coefs, intercepts = _setup()
    runs = {}
    for name, clip in (("none", None), ("tight", 1e-3)):
        cfg = TrainConfig(epochs=2, batches_per_epoch=10, clipnorm=clip)
        runs[name] = [
            train(X, rows, labels, [c.copy() for c in coefs], [b.copy() for b in intercepts], 0.0, 1.0, cfg)
            for train in (train_numpy, train_torch)
        ]
    assert not np.allclose(runs["none"][0].coefs[0], runs["tight"][0].coefs[0], atol=1e-4)
    np.testing.assert_allclose(runs["tight"][0].coefs[0], runs["tight"][1].coefs[0], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("hidden", [(), (6,), (8, 5), (7, 4, 3)])
@pytest.mark.parametrize("widths", [(9, 9), (5, 9), (9, 4)])
@pytest.mark.parametrize("config", [TrainConfig(epochs=4, batches_per_epoch=3),
                                    TrainConfig(epochs=3, batches_per_epoch=2, clipnorm=None, restore_best=False)])
@pytest.mark.parametrize("alternating", [True, False])
def test_pair_training_gives_each_network_its_own_bits(hidden, widths, config, alternating):
    rng = np.random.default_rng(1)
    inputs = [rng.normal(size=(300, d)).astype(np.float32) for d in widths]
    rows = rng.integers(0, 300, size=(config.epochs * config.batches_per_epoch, 32))
    # balanced_batches' labels (a slice of a batch), or anomalies anywhere (indexed)
    labels = np.tile(np.array([0.0, 1.0], dtype=np.float32), 16) if alternating else (rng.random(32) < 0.3) * 1.0
    members = [glorot_uniform_init(rng, d, hidden) for d in widths]
    seen = []
    pair = train_numpy_pair(inputs, rows, labels, members, 0.1, 0.9, config, lambda e, l: seen.append((e, l)))
    alone = [train_numpy(inputs[m], rows, labels, [c.copy() for c in members[m][0]],
                         [b.copy() for b in members[m][1]], 0.1, 0.9, config) for m in range(2)]
    for got, expected in zip(pair, alone):
        assert got.loss_curve == expected.loss_curve and got.best_epoch == expected.best_epoch
        for a, b in zip(got.coefs + got.intercepts, expected.coefs + expected.intercepts):
            assert a.shape == b.shape and a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    # one call per epoch of each network, numbered as when trained one after the other (the
    # second's epoch k is epochs + k), made as each epoch ends: the two networks' calls alternate
    n = len(alone[0].loss_curve)
    expected = [call for k in range(n) for call in ((k, alone[0].loss_curve[k]), (n + k, alone[1].loss_curve[k]))]
    assert seen == expected
