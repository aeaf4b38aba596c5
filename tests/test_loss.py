import numpy as np
import pytest
import torch

from deviation.loss import deviation_loss, deviation_loss_numpy, draw_reference


def test_loss_matches_hand_computed_values():
    # mu_R = 0, sigma_R = 1, a = 5
    scores = np.array([0.5, -2.0, 1.0, 7.0, -1.0], dtype=np.float32)
    labels = np.array([0, 0, 1, 1, 1], dtype=np.float32)
    # unlabeled: |0.5| = 0.5, |-2| = 2; anomalies: max(0, 5-1) = 4, max(0, 5-7) = 0, max(0, 5+1) = 6
    expected = (0.5 + 2.0 + 4.0 + 0.0 + 6.0) / 5
    loss_np, _ = deviation_loss_numpy(scores, labels, 0.0, 1.0, 5.0)
    loss_t = deviation_loss(torch.from_numpy(scores), torch.from_numpy(labels), 0.0, 1.0, 5.0)
    assert loss_np == pytest.approx(expected)
    assert float(loss_t) == pytest.approx(expected)


def test_loss_uses_reference_mean_and_std():
    scores = np.array([3.0, 3.0], dtype=np.float32)
    labels = np.array([0, 1], dtype=np.float32)
    # dev = (3 - 1) / 2 = 1 -> unlabeled |1| = 1, anomaly max(0, 5 - 1) = 4
    loss, _ = deviation_loss_numpy(scores, labels, 1.0, 2.0, 5.0)
    assert loss == pytest.approx(2.5)


def test_column_scores_against_row_labels_are_refused():
    scores = torch.zeros(8, 1)
    labels = torch.zeros(8)
    with pytest.raises(ValueError, match="1-D scores"):
        deviation_loss(scores, labels, 0.0, 1.0)
    with pytest.raises(ValueError, match="1-D scores"):
        deviation_loss_numpy(np.zeros((8, 1)), np.zeros(8), 0.0, 1.0)
    with pytest.raises(ValueError, match="same length"):
        deviation_loss(torch.zeros(8), torch.zeros(7), 0.0, 1.0)


def test_each_rows_gradient_depends_on_its_own_label():
    scores = torch.tensor([1.0, 1.0, 1.0, 1.0], requires_grad=True)
    labels = torch.tensor([0.0, 1.0, 0.0, 1.0])
    deviation_loss(scores, labels, 0.0, 1.0).backward()
    g = scores.grad.numpy()
    # unlabeled row with dev = 1 is pulled down (+1/B), anomaly with dev 1 < 5 pushed up (-1/B)
    np.testing.assert_allclose(g, [0.25, -0.25, 0.25, -0.25])
    # flipping one label flips that row's gradient only
    scores.grad = None
    deviation_loss(scores, torch.tensor([1.0, 1.0, 0.0, 1.0]), 0.0, 1.0).backward()
    np.testing.assert_allclose(scores.grad.numpy(), [-0.25, -0.25, 0.25, -0.25])


def test_numpy_gradient_equals_autograd():
    rng = np.random.default_rng(3)
    s = rng.normal(0, 4, size=64).astype(np.float32)
    y = rng.integers(0, 2, size=64).astype(np.float32)
    st = torch.tensor(s, requires_grad=True)
    deviation_loss(st, torch.tensor(y), 0.1, 0.9, 5.0).backward()
    loss, g = deviation_loss_numpy(s, y, 0.1, 0.9, 5.0)
    np.testing.assert_allclose(g, st.grad.numpy(), rtol=1e-6, atol=1e-8)


def test_reference_is_drawn_from_the_prior():
    mu, sigma = draw_reference(np.random.default_rng(0), 5000, 0.0, 1.0)
    assert abs(mu) < 0.05 and abs(sigma - 1.0) < 0.05
    mu2, sigma2 = draw_reference(np.random.default_rng(0), 5000, 3.0, 2.0)
    assert abs(mu2 - 3.0) < 0.1 and abs(sigma2 - 2.0) < 0.1
