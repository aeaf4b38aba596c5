"""The Gaussian prior reference and the deviation loss (paper section 4.2-4.3).

``dev(x) = (phi(x) - mu_R) / sigma_R`` and the loss of a batch is the mean of
``(1 - y) * |dev| + y * max(0, a - dev)``. Scores and labels must both be 1-D
of the same length: a ``(B, 1)`` score against ``(B,)`` labels would broadcast
to a ``(B, B)`` loss in which a row's loss no longer depends on its own label,
the bug of two popular PyTorch ports; both functions here refuse it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["deviation_loss", "deviation_loss_numpy", "draw_reference"]


def draw_reference(
    rng: np.random.Generator, n: int = 5000, mean: float = 0.0, std: float = 1.0
) -> tuple[float, float]:
    """Draw the reference scores ``r_1..r_l ~ N(mean, std^2)`` once.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (never the global state).
    n : int
        Number of draws ``l`` (5000 in the paper).
    mean, std : float
        Parameters of the Gaussian prior.

    Returns
    -------
    mu_r, sigma_r : float
        Sample mean and population standard deviation of the draws, as the
        authors' Keras code computes them.
    """
    r = rng.normal(mean, std, size=n)
    return float(r.mean()), float(r.std())


def _check_shapes(scores_shape: tuple[int, ...], labels_shape: tuple[int, ...]) -> None:
    if len(scores_shape) != 1 or len(labels_shape) != 1 or scores_shape != labels_shape:
        raise ValueError(
            "deviation loss needs 1-D scores and 1-D labels of the same length; got scores of "
            f"shape {tuple(scores_shape)} and labels of shape {tuple(labels_shape)}. "
            "Flatten a (B, 1) network output with .reshape(-1) before the loss."
        )


def deviation_loss(
    scores: "torch.Tensor",
    labels: "torch.Tensor",
    mu_r: float,
    sigma_r: float,
    margin: float = 5.0,
) -> "torch.Tensor":
    """Mean deviation loss of a batch, in torch (differentiable).

    Parameters
    ----------
    scores : torch.Tensor of shape (B,)
        Raw network scores ``phi(x)``.
    labels : torch.Tensor of shape (B,)
        1 for a labeled anomaly, 0 for an unlabeled row.
    mu_r, sigma_r : float
        Mean and standard deviation of the reference scores.
    margin : float
        The deviation ``a`` labeled anomalies must reach.

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    import torch

    _check_shapes(tuple(scores.shape), tuple(labels.shape))
    y = labels.to(scores.dtype)
    dev = (scores - mu_r) / sigma_r
    per_row = (1.0 - y) * dev.abs() + y * torch.clamp(margin - dev, min=0.0)
    return per_row.mean()


def deviation_loss_numpy(
    scores: np.ndarray,
    labels: np.ndarray,
    mu_r: float,
    sigma_r: float,
    margin: float = 5.0,
) -> tuple[float, np.ndarray]:
    """Mean deviation loss of a batch and its gradient with respect to the scores.

    Parameters
    ----------
    scores : ndarray of shape (B,)
    labels : ndarray of shape (B,)
    mu_r, sigma_r, margin : float
        As in :func:`deviation_loss`.

    Returns
    -------
    loss : float
    grad : ndarray of shape (B,)
        ``d loss / d scores``; at the kinks the subgradient 0 is taken, as torch does.
    """
    _check_shapes(scores.shape, labels.shape)
    n = scores.shape[0]
    dev = scores - mu_r
    dev *= 1.0 / sigma_r
    anom = labels != 0
    # per row: |dev| if unlabeled, max(0, a - dev) if a labeled anomaly
    per_row = np.abs(dev)
    hinge = margin - dev[anom]
    per_row[anom] = np.maximum(hinge, 0.0)
    loss = float(per_row.sum()) / n
    # d/d score: sign(dev) / sigma if unlabeled, -1 / sigma where the hinge is active
    grad = np.sign(dev)
    grad[anom] = np.where(hinge > 0, -1.0, 0.0)
    grad *= 1.0 / (n * sigma_r)
    return loss, grad.astype(scores.dtype, copy=False)
