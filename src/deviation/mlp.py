"""The scoring MLP in NumPy: Glorot initialisation, forward pass, hand-written backward pass.

The lean CPU engine of :mod:`deviation.training` and all scoring use these;
:class:`deviation.network.ScoringMLP` is the same network in torch.
Weights: ``coefs[k]`` of shape (in, out) as in Keras, ``intercepts[k]`` of
shape (out,), the output layer (one unit) last.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from .loss import deviation_loss_numpy

__all__ = ["FlatParams", "forward_numpy", "glorot_uniform_init", "mlp_gradients"]


def glorot_uniform_init(
    rng: np.random.Generator, n_features: int, hidden_layer_sizes: Sequence[int]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Keras defaults: Glorot-uniform kernels, zero biases (float32).

    Returns
    -------
    coefs, intercepts : list of ndarray
        One (in, out) kernel and one (out,) bias per layer, the last layer
        having a single output unit.
    """
    sizes = [n_features, *hidden_layer_sizes, 1]
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        coefs.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32))
        intercepts.append(np.zeros(fan_out, dtype=np.float32))
    return coefs, intercepts


#: Layers up to this many weights are applied with einsum, whose result for a row
#: depends only on that row; BLAS's sgemm rounds a row differently depending on
#: how many rows are in the call and where the row sits, so the same row could
#: get a score differing in the last bits from one batch or partition to another.
ROW_EXACT_MAX_WEIGHTS = 65_536


def _layer(h: np.ndarray, W: np.ndarray) -> np.ndarray:
    if sp.issparse(h):
        return np.asarray(h @ W)  # scipy's CSR product is row by row: row-exact too
    if W.size <= ROW_EXACT_MAX_WEIGHTS:
        return np.einsum("nd,dh->nh", h, W, optimize=False)
    return h @ W


def forward_numpy(
    X: np.ndarray, coefs: Sequence[np.ndarray], intercepts: Sequence[np.ndarray]
) -> np.ndarray:
    """Scores of the dense float32 rows ``X`` (n, D) -> (n,).

    A row's score does not depend on the other rows of ``X`` (bit for bit), as
    long as every layer has at most :data:`ROW_EXACT_MAX_WEIGHTS` weights: the
    same row scores identically in any batch, partition or row order.
    """
    # einsum's summation order follows the memory layout: a Fortran-ordered batch (a slice of
    # a column-major array, say) would round a row differently from the same row alone
    h = X if sp.issparse(X) else np.ascontiguousarray(X)
    for W, b in zip(coefs[:-1], intercepts[:-1]):
        h = _layer(h, W)
        h += b
        np.maximum(h, 0.0, out=h)
    return _layer(h, coefs[-1])[:, 0] + intercepts[-1][0]


class FlatParams:
    """All weights of the MLP in one flat float32 buffer, with per-layer views.

    Keeping parameters, gradients and the RMSprop state as single vectors lets
    an update be a handful of NumPy calls instead of several per layer.

    Parameters
    ----------
    coefs, intercepts : list of ndarray
        Initial weights; copied into the buffer.
    """

    def __init__(self, coefs: Sequence[np.ndarray], intercepts: Sequence[np.ndarray]) -> None:
        shapes = [c.shape for c in coefs] + [b.shape for b in intercepts]
        sizes = [int(np.prod(s)) for s in shapes]
        self.flat = np.concatenate([a.ravel() for a in (*coefs, *intercepts)]).astype(np.float32)
        self.grad = np.zeros_like(self.flat)
        self._slices = np.cumsum([0, *sizes])
        n = len(coefs)
        views = [self._view(self.flat, i, s) for i, s in enumerate(shapes)]
        gviews = [self._view(self.grad, i, s) for i, s in enumerate(shapes)]
        self.coefs, self.intercepts = views[:n], views[n:]
        self.grad_coefs, self.grad_intercepts = gviews[:n], gviews[n:]

    def _view(self, buf: np.ndarray, i: int, shape: tuple[int, ...]) -> np.ndarray:
        return buf[self._slices[i] : self._slices[i + 1]].reshape(shape)

    def copy_weights(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Independent copies of the current kernels and biases."""
        return [c.copy() for c in self.coefs], [b.copy() for b in self.intercepts]


def mlp_gradients(
    Xb: np.ndarray,
    yb: np.ndarray,
    coefs: Sequence[np.ndarray],
    intercepts: Sequence[np.ndarray],
    mu_r: float,
    sigma_r: float,
    margin: float,
    l2: float,
    out: tuple[Sequence[np.ndarray], Sequence[np.ndarray]] | None = None,
) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """Loss (deviation loss + L2 on hidden kernels) and its gradients, by hand.

    Parameters
    ----------
    Xb : ndarray of shape (B, D), float32
    yb : ndarray of shape (B,)
        1 for labeled anomalies, 0 for unlabeled rows.
    coefs, intercepts : list of ndarray
        Kernels (in, out) and biases (out,) of each layer, output layer last.
    mu_r, sigma_r, margin, l2 : float
    out : (grad_coefs, grad_intercepts), optional
        Preallocated float32 arrays to write the gradients into.

    Returns
    -------
    loss : float
    grad_coefs, grad_intercepts : list of ndarray
        Same shapes as ``coefs`` and ``intercepts``.
    """
    n_hidden = len(coefs) - 1
    if out is None:
        out = ([np.empty_like(c) for c in coefs], [np.empty_like(b) for b in intercepts])
    grad_coefs, grad_intercepts = list(out[0]), list(out[1])
    acts = [Xb]  # acts[k]: input of layer k, (B, fan_in)
    for k in range(n_hidden):
        z = np.asarray(acts[k] @ coefs[k])
        z += intercepts[k]
        np.maximum(z, 0.0, out=z)
        acts.append(z)
    scores = np.asarray(acts[-1] @ coefs[-1])[:, 0] + intercepts[-1][0]  # (B,)
    loss, g_scores = deviation_loss_numpy(scores, yb, mu_r, sigma_r, margin)

    g = g_scores[:, None]  # (B, 1)
    ones = np.ones((1, Xb.shape[0]), dtype=g.dtype)  # column sums as a matmul: faster than .sum(0)
    for k in range(n_hidden, -1, -1):
        if sp.issparse(acts[k]):  # a wide sparse batch: (D, B) @ (B, out)
            grad_coefs[k][...] = acts[k].T @ g
        else:
            np.matmul(acts[k].T, g, out=grad_coefs[k])
        np.matmul(ones, g, out=grad_intercepts[k][None, :])
        if k > 0:
            # (B, out) @ (out, in); for the 1-unit output layer a broadcast product is cheaper
            g = g * coefs[k][:, 0] if k == n_hidden else g @ coefs[k].T
            g *= acts[k] > 0  # ReLU'(z) from its output: a > 0 iff z > 0
    for k in range(n_hidden):
        loss += l2 * float(np.vdot(coefs[k], coefs[k]))
        grad_coefs[k] += (2.0 * l2) * coefs[k]
    return loss, grad_coefs, grad_intercepts


def input_gradients(
    X: np.ndarray, coefs: Sequence[np.ndarray], intercepts: Sequence[np.ndarray]
) -> np.ndarray:
    """Gradient of each row's score with respect to its input, ``d phi(x) / d x``.

    Parameters
    ----------
    X : ndarray of shape (n, D), float32
    coefs, intercepts : list of ndarray

    Returns
    -------
    ndarray of shape (n, D)
    """
    acts = [X]
    for W, b in zip(coefs[:-1], intercepts[:-1]):
        z = acts[-1] @ W
        z += b
        np.maximum(z, 0.0, out=z)
        acts.append(z)
    g = np.broadcast_to(coefs[-1][:, 0], (X.shape[0], coefs[-1].shape[0]))  # (n, H_last)
    for k in range(len(coefs) - 2, -1, -1):
        g = g * (acts[k + 1] > 0)
        g = g @ coefs[k].T
    return np.ascontiguousarray(g)


def merge_networks(
    members: Sequence[tuple[Sequence[np.ndarray], Sequence[np.ndarray]]],
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One network whose score is the mean of the members' scores.

    Member ``m`` reads its own block of the merged input (the blocks in member
    order); hidden layers are block-diagonal, so the members never mix, and the
    output layer averages them. Works for any depth, the linear network included.

    Parameters
    ----------
    members : sequence of (coefs, intercepts)
        Networks of the same depth; member ``m``'s first kernel has shape
        ``(in_m, h_m)``.

    Returns
    -------
    coefs, intercepts : lists of float32 ndarray
    """
    from scipy.linalg import block_diag

    n = len(members)
    depth = len(members[0][0])
    coefs: list[np.ndarray] = []
    intercepts: list[np.ndarray] = []
    for k in range(depth):
        kernels = [np.asarray(m[0][k], dtype=np.float32) for m in members]
        biases = [np.asarray(m[1][k], dtype=np.float32) for m in members]
        if k == depth - 1:
            # (sum_m in_m, 1): stacked member outputs, each weighted 1/n
            coefs.append(np.ascontiguousarray(np.vstack(kernels) / np.float32(n), dtype=np.float32))
            intercepts.append(np.asarray([np.mean([b[0] for b in biases])], dtype=np.float32))
        else:
            coefs.append(np.ascontiguousarray(block_diag(*kernels), dtype=np.float32))
            intercepts.append(np.concatenate(biases).astype(np.float32))
    return coefs, intercepts
