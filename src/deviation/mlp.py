"""The scoring MLP in NumPy: Glorot initialisation, forward pass, hand-written backward pass.

The lean CPU engine of :mod:`deviation.training` and all scoring use these;
:class:`deviation.network.ScoringMLP` is the same network in torch.
Weights: ``coefs[k]`` of shape (in, out) as in Keras, ``intercepts[k]`` of
shape (out,), the output layer (one unit) last.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .kernels import TILE_ROWS, compile_errors, disable, for_rows
from .loss import deviation_loss_numpy

__all__ = ["FlatParams", "forward_columns", "forward_numpy", "glorot_uniform_init", "mlp_gradients", "split_members"]


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


def _issparse(x: Any) -> bool:
    """scipy.sparse.issparse, without importing scipy.sparse: nothing is sparse before it is imported."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(x)


def _layer(h: np.ndarray, W: np.ndarray) -> np.ndarray:
    if _issparse(h):
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
    h = X if _issparse(X) else np.ascontiguousarray(X)
    for W, b in zip(coefs[:-1], intercepts[:-1]):
        h = _layer(h, W)
        h += b
        np.maximum(h, 0.0, out=h)
    return _layer(h, coefs[-1])[:, 0] + intercepts[-1][0]


def split_members(
    coefs: Sequence[np.ndarray], intercepts: Sequence[np.ndarray], n_inputs: Sequence[int]
) -> list[tuple[slice, list[np.ndarray], list[np.ndarray]]] | None:
    """The member networks of a network built by :func:`merge_networks`, for :func:`forward_columns`.

    Parameters
    ----------
    coefs, intercepts : list of ndarray
        The merged network (block-diagonal hidden layers).
    n_inputs : sequence of int
        Input columns of each member, in order (their sum is ``coefs[0].shape[0]``).

    Returns
    -------
    list of (input slice, hidden kernels, hidden biases), or None
        One entry per member, its hidden layers as contiguous float32 arrays; None
        when the network has no hidden layer, when its hidden layers are not
        block-diagonal with these input blocks (every weight outside the blocks
        exactly zero), or when :func:`forward_columns` would not be row-exact for
        it (a hidden layer of one unit, or more than :data:`ROW_EXACT_MAX_WEIGHTS`
        weights in a layer).
    """
    n_hidden = len(coefs) - 1
    if n_hidden == 0 or sum(n_inputs) != coefs[0].shape[0]:
        return None
    if any(np.asarray(W).size > ROW_EXACT_MAX_WEIGHTS for W in coefs):
        return None
    n = len(n_inputs)
    widths = [c.shape[1] for c in coefs[:-1]]
    if any(w % n for w in widths):
        return None
    bounds = [np.cumsum([0, *n_inputs])] + [np.arange(n + 1) * (w // n) for w in widths]
    members = []
    for m in range(n):
        kernels, biases = [], []
        for k in range(n_hidden):
            rows = slice(bounds[k][m], bounds[k][m + 1])
            cols = slice(bounds[k + 1][m], bounds[k + 1][m + 1])
            W = np.asarray(coefs[k])
            outside = W[:, cols].copy()
            outside[rows] = 0
            if outside.any() or cols.stop - cols.start < 2:
                return None
            kernels.append(np.ascontiguousarray(W[rows, cols], dtype=np.float32))
            biases.append(np.ascontiguousarray(intercepts[k][cols], dtype=np.float32)[:, None])
        members.append((slice(bounds[0][m], bounds[0][m + 1]), kernels, biases))
    return members


def network_members(
    coefs: Sequence[np.ndarray], intercepts: Sequence[np.ndarray], view: Any = None, n_networks: int = 1
) -> list[tuple[slice, list[np.ndarray], list[np.ndarray]]] | None:
    """The member networks of a fitted DevNet's weights (:func:`split_members` with its input blocks).

    Parameters
    ----------
    coefs, intercepts : list of ndarray
        ``DevNet.coefs_`` and ``DevNet.intercepts_``.
    view : InputView or None
        ``DevNet.view_``: under the default preset, its two networks read the
        view's first ``view.n_features_in`` columns and the rest.
    n_networks : int
        ``DevNet.n_networks_``.

    Returns
    -------
    list of (input slice, hidden kernels, hidden biases), or None
        As :func:`split_members`.
    """
    blocks = [coefs[0].shape[0]]
    if view is not None and int(n_networks) == 2:
        blocks = [view.n_features_in, coefs[0].shape[0] - view.n_features_in]
    return split_members(coefs, intercepts, blocks)


def score_dense(
    X: np.ndarray,
    members: Sequence[tuple[slice, Sequence[np.ndarray], Sequence[np.ndarray]]] | None,
    coefs: Sequence[np.ndarray],
    intercepts: Sequence[np.ndarray],
    view: Any = None,
) -> np.ndarray:
    """DevNet's scores of dense, validated rows ``X`` (n, d) -> (n,) float32: the one scoring step.

    ``DevNet.decision_function`` and the all-numeric path of ``deviation score``
    (:mod:`deviation.scale.numeric`) both score rows here, so a row gets the same
    bits from either. Row-exact: a row's score depends on that row only.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64, finite
        Rows as the estimator reads them (float64 rows are rounded to float32,
        as the network computes in float32).
    members : list or None
        From :func:`network_members` (None: the merged network by :func:`forward_numpy`).
    coefs, intercepts : list of ndarray
        The network's weights.
    view : InputView or None
        The default preset's input view (:mod:`deviation.features`).

    Returns
    -------
    ndarray of shape (n,), float32
    """
    if members is None:
        chunk = np.asarray(X, dtype=np.float32)
        return forward_numpy(chunk if view is None else view.transform(chunk), coefs, intercepts)
    # the network reads the rows column by column (see forward_columns)
    if view is not None:
        # the view reads the rows rounded to float32, as it always has at scoring
        columns = view.transform_columns(X, float32_rows=True)
    else:
        columns = np.ascontiguousarray(np.asarray(X).T, dtype=np.float32)
    return forward_columns(columns, members, coefs[-1], intercepts[-1])


def forward_columns(
    XT: np.ndarray,
    members: Sequence[tuple[slice, Sequence[np.ndarray], Sequence[np.ndarray]]],
    output_kernel: np.ndarray,
    output_bias: np.ndarray,
) -> np.ndarray:
    """Scores of float32 rows stored column by column: ``XT`` of shape (D, n) -> (n,).

    The same arithmetic as :func:`forward_numpy` on ``XT.T`` with the merged network,
    bit for bit, and as row-exact, but faster: each hidden layer is an einsum whose
    inner loop runs along the ``n`` rows (contiguous here) instead of the few units of
    a layer, and the zero blocks of a merged network are skipped (a product with an
    exact zero adds nothing to a sum). A row's score still depends on that row only:
    every unit's sum runs over the inputs in the same order for every row.

    Parameters
    ----------
    XT : ndarray of shape (D, n), float32, C-contiguous
    members : list of (input slice, hidden kernels, hidden biases)
        From :func:`split_members` (one member for a single network).
    output_kernel : ndarray of shape (sum of last hidden widths, 1)
    output_bias : ndarray of shape (1,)

    Returns
    -------
    ndarray of shape (n,), float32
    """
    n = XT.shape[1]
    if len(members) == 2 and len(members[0][1]) == len(members[1][1]):
        compiled = for_rows(n)
        if compiled is not None:
            try:
                return _compiled_pair(compiled, XT, members, output_kernel, output_bias)
            except compile_errors() as exc:
                disable(exc)
    last = np.empty((output_kernel.shape[0], n), dtype=np.float32)  # every member's last hidden layer
    row = 0
    for inputs, kernels, biases in members:
        h = XT[inputs]
        for k, (W, b) in enumerate(zip(kernels, biases)):
            # (h, n); for h > 1 units as exact as "nd,dh->nh", and row-exact
            out = last[row : row + W.shape[1]] if k == len(kernels) - 1 else None
            h = np.einsum("dh,dn->hn", W, h, out=out, optimize=False)
            h += b
            np.maximum(h, 0.0, out=h)
        row += h.shape[0]
    if len(members) == 1:
        # a single network: the output layer exactly as forward_numpy computes it (its one-unit
        # einsum sums in a different order when transposed), so the paper preset's scores stay
        # bit for bit what they were
        return _layer(np.ascontiguousarray(last.T), output_kernel)[:, 0] + output_bias[0]
    # several networks: the output unit as a two-unit layer whose second unit is zero (a one-unit
    # einsum reduction is not row-exact; with two units it sums every row in the same order)
    padded = np.zeros((output_kernel.shape[0], 2), dtype=np.float32)
    padded[:, 0] = output_kernel[:, 0]
    return np.einsum("dh,dn->hn", padded, last, optimize=False)[0] + output_bias[0]


def _compiled_pair(
    compiled: Any,
    XT: np.ndarray,
    members: Sequence[tuple[slice, Sequence[np.ndarray], Sequence[np.ndarray]]],
    output_kernel: np.ndarray,
    output_bias: np.ndarray,
) -> np.ndarray:
    """:func:`forward_columns` of two member networks by the compiled loop: the same bits, tile by tile."""
    (a, ka, ba), (b, kb, bb) = members
    widths = [a.stop - a.start, b.stop - b.start, *(W.shape[1] for W in (*ka, *kb))]
    out = np.empty(XT.shape[1], dtype=np.float32)
    return compiled.two_networks(
        np.ascontiguousarray(XT, dtype=np.float32), a.start, a.stop, tuple(ka), tuple(c[:, 0].copy() for c in ba),
        b.start, b.stop, tuple(kb), tuple(c[:, 0].copy() for c in bb),
        np.ascontiguousarray(output_kernel[:, 0], dtype=np.float32), np.float32(output_bias[0]), TILE_ROWS,
        max(widths), out,
    )


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
    sparse = _issparse(Xb)  # only the input can be sparse; checked once (the check costs microseconds)
    acts = [Xb]  # acts[k]: input of layer k, (B, fan_in)
    for k in range(n_hidden):
        z = np.asarray(acts[k] @ coefs[k]) if k == 0 and sparse else acts[k] @ coefs[k]
        z += intercepts[k]
        np.maximum(z, 0.0, out=z)
        acts.append(z)
    scores = np.asarray(acts[-1] @ coefs[-1])[:, 0] + intercepts[-1][0]  # (B,)
    loss, g_scores = deviation_loss_numpy(scores, yb, mu_r, sigma_r, margin)

    g = g_scores[:, None]  # (B, 1)
    ones = _ones_row(Xb.shape[0], g.dtype)  # column sums as a matmul: faster than .sum(0)
    for k in range(n_hidden, -1, -1):
        if k == 0 and sparse:  # a wide sparse batch: (D, B) @ (B, out)
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


@functools.lru_cache(maxsize=8)
def _ones_row(n: int, dtype: Any) -> np.ndarray:
    """A read-only (1, n) row of ones (made once per batch size, not at every step)."""
    ones = np.ones((1, n), dtype=dtype)
    ones.flags.writeable = False
    return ones


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


class PairParams:
    """The weights of two networks of the same hidden layers, stacked for one step of both.

    Network ``m``'s weights lie in row ``m`` of one (2, S) float32 buffer, in
    :class:`FlatParams` order (kernels, then biases) and contiguous, so its flat
    vector, and the global norm of its gradient, is what :class:`FlatParams` gives;
    a network whose first kernel is narrower than the other's is preceded by zeros,
    so that every later layer sits at the same place in both rows and the two
    networks' layers are (2, in, out) views. Every elementwise operation on the
    buffer is the same operation on each network's values, and each (2, ...)
    product the same BLAS call per network, so both train as they do alone.

    Parameters
    ----------
    members : sequence of two (coefs, intercepts)
        Initial weights; the first kernels may differ in rows, the rest not.
    """

    def __init__(self, members: Sequence[tuple[Sequence[np.ndarray], Sequence[np.ndarray]]]) -> None:
        (coefs_a, biases_a), (coefs_b, biases_b) = members
        tail = [c.shape for c in coefs_a[1:]] + [b.shape for b in biases_a]
        if tail != [c.shape for c in coefs_b[1:]] + [b.shape for b in biases_b]:
            raise ValueError("the two networks differ beyond their first kernel")
        self.n_layers = len(coefs_a)
        self.inputs = [coefs_a[0].shape[0], coefs_b[0].shape[0]]
        width = coefs_a[0].shape[1]
        first = max(self.inputs) * width
        sizes = [int(np.prod(s)) for s in tail]
        offsets = np.cumsum([first, *sizes])
        # rows padded to 16 floats: both networks' vectors start 64-byte aligned when no zeros precede them
        size = -(-int(offsets[-1]) // 16) * 16
        self.flat = np.zeros((2, size), dtype=np.float32)
        self.grad = np.zeros_like(self.flat)
        self.starts = [first - n * width for n in self.inputs]
        self.stop = int(offsets[-1])
        self.hidden_stop = int(offsets[self.n_layers - 2]) if self.n_layers > 1 else 0
        for m, (coefs, biases) in enumerate(members):
            self.flat[m, self.starts[m] : first] = np.asarray(coefs[0], dtype=np.float32).ravel()
            for a, lo, hi in zip((*coefs[1:], *biases), offsets[:-1], offsets[1:]):
                self.flat[m, lo:hi] = np.asarray(a, dtype=np.float32).ravel()

        def views(buf: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
            firsts = [buf[m, self.starts[m] : first].reshape(n, width) for m, n in enumerate(self.inputs)]
            # kernels (2, in, out), biases (2, 1, out): a network's bias broadcast over its batch
            stacked = [buf[:, lo:hi].reshape(2, *(s if len(s) == 2 else (1, *s)))
                       for s, lo, hi in zip(tail, offsets[:-1], offsets[1:])]
            return firsts, stacked[: self.n_layers - 1], stacked[self.n_layers - 1 :]

        self.firsts, self.coefs, self.intercepts = views(self.flat)  # coefs: layers 1.. as (2, in, out)
        self.grad_firsts, self.grad_coefs, self.grad_intercepts = views(self.grad)

    def vector(self, buf: np.ndarray, m: int) -> np.ndarray:
        """Network ``m``'s flat vector in ``buf`` (:attr:`flat` or :attr:`grad`), as :class:`FlatParams` lays it."""
        return buf[m, self.starts[m] : self.stop]

    def copy_weights(self, m: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Independent copies of network ``m``'s current kernels and biases."""
        coefs = [self.firsts[m].copy(), *(c[m].copy() for c in self.coefs)]
        return coefs, [b[m].reshape(-1).copy() for b in self.intercepts]


def pair_gradients(
    batches: Sequence[np.ndarray],
    anomalies: slice | np.ndarray,
    net: PairParams,
    mu_r: float,
    sigma_r: float,
    margin: float,
    l2: float,
) -> list[float]:
    """:func:`mlp_gradients` of both networks of ``net`` into ``net.grad``, the same values, fewer calls.

    Parameters
    ----------
    batches : two ndarray of shape (B, in_m), float32, C-contiguous
        Each network's batch (the same rows in its own input columns).
    anomalies : slice or ndarray of int
        The positions of the labeled anomalies in a batch (:func:`batch_anomalies`).
    net : PairParams
    mu_r, sigma_r, margin, l2 : float

    Returns
    -------
    list of two float
        Each network's loss.
    """
    n_hidden = net.n_layers - 1
    B = batches[0].shape[0]
    acts: list[Any] = [batches]  # acts[k]: input of layer k; (2, B, fan_in) from layer 1 on
    for k in range(n_hidden):
        if k == 0:
            z = np.empty((2, B, net.firsts[0].shape[1]), dtype=np.float32)
            for m in range(2):
                np.matmul(batches[m], net.firsts[m], out=z[m])
        else:
            z = acts[k] @ net.coefs[k - 1]
        z += net.intercepts[k]
        np.maximum(z, _zeros(z.shape), out=z)  # as with 0.0, several times faster
        acts.append(z)
    if n_hidden:
        scores = (acts[-1] @ net.coefs[-1])[:, :, 0]
    else:
        scores = np.stack([(batches[m] @ net.firsts[m])[:, 0] for m in range(2)])
    scores += net.intercepts[-1][:, 0]  # (2, B) + (2, 1)
    losses, g_scores = _stacked_deviation_loss(scores, anomalies, mu_r, sigma_r, margin)

    g = g_scores[:, :, None]  # (2, B, 1)
    ones = _ones_row(B, g.dtype)
    for k in range(n_hidden, -1, -1):
        if k == 0:
            for m in range(2):
                np.matmul(batches[m].T, g[m], out=net.grad_firsts[m])
        else:
            np.matmul(acts[k].transpose(0, 2, 1), g, out=net.grad_coefs[k - 1])
        np.matmul(ones, g, out=net.grad_intercepts[k])
        if k > 0:
            kernel = net.coefs[k - 1]
            g = g * kernel[:, None, :, 0] if k == n_hidden else g @ kernel.transpose(0, 2, 1)
            g *= acts[k] > 0
    kernels = [net.firsts, *([c[0], c[1]] for c in net.coefs[: n_hidden - 1])] if n_hidden else []
    for k in range(n_hidden):
        for m in range(2):
            losses[m] += l2 * float(np.vdot(kernels[k][m], kernels[k][m]))
    if n_hidden:
        # the hidden kernels of each network are contiguous (the zeros before a narrower first kernel
        # stay zero): one update for all of them
        hidden = slice(0, net.hidden_stop)
        net.grad[:, hidden] += (2.0 * l2) * net.flat[:, hidden]
    return losses


def batch_anomalies(labels: np.ndarray) -> slice | np.ndarray:
    """The positions of the nonzero ``labels``: a slice when they are evenly spaced (as
    :func:`deviation.sampling.balanced_batches` draws them), whose views are cheaper than indexing."""
    positions = np.flatnonzero(labels != 0)
    if len(positions) > 1 and np.all(np.diff(positions) == positions[1] - positions[0]):
        return slice(int(positions[0]), int(positions[-1]) + 1, int(positions[1] - positions[0]))
    return positions


def _stacked_deviation_loss(
    scores: np.ndarray, anomalies: slice | np.ndarray, mu_r: float, sigma_r: float, margin: float
) -> tuple[list[float], np.ndarray]:
    """:func:`deviation_loss_numpy` of each row of float32 ``scores`` (2, B), the same labels for both."""
    n = scores.shape[1]
    dev = scores - mu_r
    dev *= 1.0 / sigma_r
    per_row = np.abs(dev)
    hinge = margin - dev[:, anomalies]
    per_row[:, anomalies] = np.maximum(hinge, 0.0)
    # a row's sum along the contiguous axis is the same pairwise sum as the 1-D sum
    losses = [float(total) / n for total in per_row.sum(axis=1)]
    grad = np.sign(dev)
    grad[:, anomalies] = np.where(hinge > 0, np.float32(-1.0), np.float32(0.0))
    grad *= 1.0 / (n * sigma_r)
    return losses, grad


@functools.lru_cache(maxsize=8)
def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    """A read-only float32 array of zeros (``np.maximum`` with an array runs a faster loop than with 0.0)."""
    zeros = np.zeros(shape, dtype=np.float32)
    zeros.flags.writeable = False
    return zeros
