"""The training loop of DevNet (Algorithm 1), in two engines that do the same thing.

``numpy``
    A lean hand-written forward and backward pass of the ReLU MLP with the
    RMSprop update and global-norm clipping written out. Per-step autograd and
    optimizer overhead (about 0.6 ms in torch) dominates a 512 x 20 network, so
    this engine is several times faster on a CPU. ``tests/test_training.py``
    checks its gradients against torch autograd.
``torch``
    torch autograd with ``torch.optim.RMSprop``; used on accelerators.

Both follow the authors' Keras code: RMSprop (lr 1e-3, rho 0.9, eps 1e-7, the
epsilon added outside the square root), gradients clipped to a global norm of
1, an L2 penalty ``l2 * sum(W**2)`` on hidden kernels added to the loss, and the
weights of the epoch with the lowest mean training loss kept.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from ._limits import WIDE_SPARSE_COLUMNS as DENSE_BATCH_MAX_COLUMNS
from ._optional import import_optional
from .augment import AnomalyNoise
from .exceptions import DataError
from .mlp import FlatParams, PairParams, batch_anomalies, mlp_gradients, pair_gradients

logger = logging.getLogger(__name__)

__all__ = ["TrainConfig", "TrainResult", "gather_rows", "require_torch", "train_numpy", "train_numpy_pair", "train_torch"]

EpochCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one fit (validated by the estimator)."""

    margin: float = 5.0
    l2: float = 0.01
    learning_rate: float = 1e-3
    rho: float = 0.9
    epsilon: float = 1e-7
    clipnorm: float | None = 1.0
    epochs: int = 50
    batches_per_epoch: int = 20
    restore_best: bool = True


@dataclass
class TrainResult:
    """Weights kept at the end of training and the per-epoch mean losses."""

    coefs: list[np.ndarray]
    intercepts: list[np.ndarray]
    loss_curve: list[float] = field(default_factory=list)
    best_epoch: int = 0


# DENSE_BATCH_MAX_COLUMNS (imported above, ``_limits.WIDE_SPARSE_COLUMNS``): sparse batches
# wider than this stay sparse (CSR); narrower ones are made dense.


def gather_rows(X: np.ndarray | sp.csr_matrix, rows: np.ndarray) -> np.ndarray | sp.csr_matrix:
    """Float32 copy of ``X[rows]``: dense, except for sparse ``X`` wider than
    :data:`DENSE_BATCH_MAX_COLUMNS`, whose rows stay CSR (a 512-row dense batch of a
    million columns would be 2 GB)."""
    if sp.issparse(X):
        batch = X[rows]
        if X.shape[1] > DENSE_BATCH_MAX_COLUMNS:
            return batch.astype(np.float32)
        return batch.toarray().astype(np.float32, copy=False)
    return np.asarray(X[rows], dtype=np.float32)


class _BestKeeper:
    """Tracks per-epoch mean losses and a copy of the best epoch's weights."""

    def __init__(self, restore_best: bool) -> None:
        self.restore_best = restore_best
        self.curve: list[float] = []
        self.best_loss = np.inf
        self.best_epoch = 0
        self.best: tuple[list[np.ndarray], list[np.ndarray]] | None = None

    def end_epoch(self, epoch: int, loss: float, snapshot: Callable[[], tuple]) -> None:
        self.curve.append(loss)
        logger.debug("epoch %d: loss %.5f", epoch + 1, loss)
        if not self.restore_best or loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, epoch
            self.best = snapshot()

    def result(self) -> TrainResult:
        """The kept weights and the loss curve.

        Raises
        ------
        DataError
            When no epoch had a finite loss (training diverged), or the kept epoch's did not.
        """
        if self.best is None or not np.isfinite(self.best_loss):
            raise DataError(
                "training diverged: the loss was NaN or infinite (features of huge magnitude, or a learning_rate, "
                "l2 or anomaly_noise far too large); scale the features (e.g. min-max) or lower those parameters"
            )
        return TrainResult(*self.best, self.curve, self.best_epoch)


_BLAS_CONTROLLER: list[ThreadpoolController] = []


def one_blas_thread() -> Any:
    """A context manager that limits BLAS to one thread while it is open (restored afterwards).

    The thread pools are found once per process and reused: ``threadpool_limits``
    looks for them again at every call by scanning the loaded libraries, 20-30 ms
    each time on this machine (150 ms the first time), a tenth of fitting thyroid.
    NumPy's BLAS, the one the NumPy engine calls, is loaded with NumPy, before this
    module.
    """
    if not _BLAS_CONTROLLER:
        _BLAS_CONTROLLER.append(ThreadpoolController())
    return _BLAS_CONTROLLER[0].limit(limits=1, user_api="blas")


def _one_blas_thread(func: Callable) -> Callable:
    """Run ``func`` with BLAS limited to one thread (:func:`one_blas_thread`).

    The products of the lean engine are tiny (512 x D by D x 20): BLAS threads
    only add overhead, and on a busy machine they oversubscribe the cores and
    slow training several times over.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with one_blas_thread():
            return func(*args, **kwargs)

    return wrapper


@_one_blas_thread
def train_numpy(
    X: np.ndarray | sp.csr_matrix,
    rows: np.ndarray,
    labels: np.ndarray,
    coefs: list[np.ndarray],
    intercepts: list[np.ndarray],
    mu_r: float,
    sigma_r: float,
    config: TrainConfig,
    epoch_callback: EpochCallback | None = None,
    noise: AnomalyNoise | None = None,
) -> TrainResult:
    """Train with the hand-written NumPy step (CPU).

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n, D)
    rows : ndarray of shape (epochs * batches_per_epoch, B)
        Row indices of every batch, drawn up front.
    labels : ndarray of shape (B,)
        The labels of each batch's positions.
    coefs, intercepts : list of ndarray
        Initial weights (float32); updated in place.
    mu_r, sigma_r : float
        Reference mean and standard deviation.
    config : TrainConfig
    epoch_callback : callable, optional
        Called as ``epoch_callback(epoch, mean_loss)`` after each epoch.
    noise : AnomalyNoise, optional
        Gaussian noise added to the labeled anomalies of every batch (dense ``X`` only);
        drawn an epoch at a time.

    Returns
    -------
    TrainResult
    """
    net = FlatParams(coefs, intercepts)
    out = (net.grad_coefs, net.grad_intercepts)
    sq_avg = np.zeros_like(net.flat)
    step = np.empty_like(net.flat)
    lr, rho, eps = config.learning_rate, config.rho, config.epsilon
    keeper = _BestKeeper(config.restore_best)
    labels = labels.astype(np.float32)
    jitters = None if noise is None else noise.epochs(config.epochs, config.batches_per_epoch)
    for epoch in range(config.epochs):
        total = 0.0
        jitter = None if jitters is None else next(jitters)
        for j in range(config.batches_per_epoch):
            Xb = gather_rows(X, rows[epoch * config.batches_per_epoch + j])
            if jitter is not None:
                Xb[noise.positions] += jitter[j]  # type: ignore[union-attr]
            total += mlp_gradients(
                Xb, labels, net.coefs, net.intercepts, mu_r, sigma_r, config.margin, config.l2, out
            )[0]
            g = net.grad
            if config.clipnorm is not None:
                _clip(g, config.clipnorm)
            _rmsprop(net.flat, g, sq_avg, step, lr, rho, eps)
        keeper.end_epoch(epoch, total / config.batches_per_epoch, net.copy_weights)
        if epoch_callback is not None:
            epoch_callback(epoch, keeper.curve[-1])
    return keeper.result()


def _clip(g: np.ndarray, clipnorm: float) -> None:
    """Scale the gradient ``g`` in place to norm ``clipnorm`` when it is longer (Keras's clipnorm)."""
    norm = float(np.sqrt(np.vdot(g, g)))
    if norm > clipnorm:
        g *= np.float32(clipnorm / norm)


def _rmsprop(weights: np.ndarray, g: np.ndarray, sq_avg: np.ndarray, step: np.ndarray, lr: float, rho: float,
             eps: float) -> None:
    """RMSprop as Keras, in place: ``v = rho v + (1 - rho) g^2;  w -= lr g / (sqrt(v) + eps)`` (``step``: scratch)."""
    sq_avg *= rho
    np.multiply(g, g, out=step)
    step *= 1.0 - rho
    sq_avg += step
    np.sqrt(sq_avg, out=step)
    step += eps
    np.divide(g, step, out=step)
    step *= lr
    weights -= step


@_one_blas_thread
def train_numpy_pair(
    inputs: list[np.ndarray],
    rows: np.ndarray,
    labels: np.ndarray,
    members: list[tuple[list[np.ndarray], list[np.ndarray]]],
    mu_r: float,
    sigma_r: float,
    config: TrainConfig,
    epoch_callback: EpochCallback | None = None,
    noises: list[AnomalyNoise] | None = None,
) -> list[TrainResult]:
    """:func:`train_numpy` of two networks on the same batches of rows, step by step together.

    Each network gets the same arithmetic as when :func:`train_numpy` trains it alone
    (:class:`~deviation.mlp.PairParams`), so the same weights, bit for bit; a step of
    both is about half the NumPy calls of two steps, which are most of a step's time
    on a few hundred rows of a few dozen columns.

    Parameters
    ----------
    inputs : two ndarray of shape (n, D_m), float32, C-contiguous
        What each network reads of the same ``n`` rows.
    rows, labels, mu_r, sigma_r, config
        As in :func:`train_numpy`.
    members : two (coefs, intercepts)
        Each network's initial weights (not modified).
    epoch_callback : callable, optional
        Called as ``epoch_callback(epoch, mean_loss)`` after each epoch for each
        network: ``epoch`` for the first, ``epochs + epoch`` for the second (counting
        on, as when they are trained one after the other), so the calls alternate.
    noises : two AnomalyNoise, optional
        Each network's noise on the labeled anomalies (as ``noise`` of :func:`train_numpy`).

    Returns
    -------
    list of two TrainResult
    """
    inputs = [np.ascontiguousarray(X, dtype=np.float32) for X in inputs]
    net = PairParams(members)
    sq_avg = np.zeros_like(net.flat)
    step = np.empty_like(net.flat)
    lr, rho, eps = config.learning_rate, config.rho, config.epsilon
    keepers = [_BestKeeper(config.restore_best) for _ in range(2)]
    anomalies = batch_anomalies(labels)
    per_epoch, size = config.batches_per_epoch, rows.shape[1]
    jitters = None if noises is None else [noise.epochs(config.epochs, per_epoch) for noise in noises]
    for epoch in range(config.epochs):
        totals = [0.0, 0.0]
        # an epoch's batches in one gather per network
        drawn = rows[epoch * per_epoch : (epoch + 1) * per_epoch].reshape(-1)
        batches = [X.take(drawn, axis=0).reshape(per_epoch, size, X.shape[1]) for X in inputs]
        if noises is not None:
            for b, noise, jitter in zip(batches, noises, jitters):  # type: ignore[arg-type]
                b[:, noise.positions] += next(jitter)
        for j in range(per_epoch):
            losses = pair_gradients([b[j] for b in batches], anomalies, net, mu_r, sigma_r,
                                    config.margin, config.l2)
            for m in range(2):
                totals[m] += losses[m]
                if config.clipnorm is not None:
                    _clip(net.vector(net.grad, m), config.clipnorm)
            # train_numpy's RMSprop, elementwise: on both networks' weights at once, each gets its own update
            _rmsprop(net.flat, net.grad, sq_avg, step, lr, rho, eps)
        for m in range(2):
            keepers[m].end_epoch(epoch, totals[m] / per_epoch, lambda m=m: net.copy_weights(m))
        if epoch_callback is not None:
            # both networks finished this epoch: a progress bar moves at the pace of training
            epoch_callback(epoch, keepers[0].curve[-1])
            epoch_callback(config.epochs + epoch, keepers[1].curve[-1])
    return [k.result() for k in keepers]


def require_torch(what: str) -> Any:
    """Import torch, an optional dependency, for ``what``.

    Parameters
    ----------
    what : str
        What needs torch, for the message (e.g. ``"DevNet(engine='torch')"``).

    Returns
    -------
    module
        ``torch``.

    Raises
    ------
    MissingDependencyError
        When torch is not installed; the message names ``pip install 'deviation[torch]'``.
    """
    return import_optional("torch", "torch", what,
                           "or train on the CPU with engine='numpy', device='cpu', which need no torch")


def train_torch(
    X: np.ndarray | sp.csr_matrix,
    rows: np.ndarray,
    labels: np.ndarray,
    coefs: list[np.ndarray],
    intercepts: list[np.ndarray],
    mu_r: float,
    sigma_r: float,
    config: TrainConfig,
    device: str = "cpu",
    epoch_callback: EpochCallback | None = None,
    noise: AnomalyNoise | None = None,
) -> TrainResult:
    """Train with torch autograd and ``torch.optim.RMSprop`` (any device).

    Same parameters as :func:`train_numpy`, plus ``device``; the same ``noise`` stream
    gives the same noise as there. Needs torch
    (``pip install 'deviation[torch]'``); without it raises
    :class:`~deviation.exceptions.MissingDependencyError`.
    """
    torch = require_torch("the torch engine")

    from .loss import deviation_loss
    from .network import ScoringMLP

    n_features = coefs[0].shape[0]
    hidden = [c.shape[1] for c in coefs[:-1]]
    model = ScoringMLP(n_features, hidden)
    model.load_numpy(coefs, intercepts)
    model.to(device)
    optimizer = torch.optim.RMSprop(
        model.parameters(), lr=config.learning_rate, alpha=config.rho, eps=config.epsilon
    )
    y = torch.from_numpy(labels.astype(np.float32)).to(device)
    params = list(model.parameters())
    keeper = _BestKeeper(config.restore_best)
    jitters = None if noise is None else noise.epochs(config.epochs, config.batches_per_epoch)
    for epoch in range(config.epochs):
        total = 0.0
        jitter = None if jitters is None else next(jitters)
        for j in range(config.batches_per_epoch):
            batch = gather_rows(X, rows[epoch * config.batches_per_epoch + j])
            if jitter is not None:
                batch[noise.positions] += jitter[j]  # type: ignore[index,union-attr]
            xb = torch.from_numpy(batch.toarray() if sp.issparse(batch) else batch)
            xb = xb.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = deviation_loss(model(xb), y, mu_r, sigma_r, config.margin)
            for W in model.hidden_kernels():
                loss = loss + config.l2 * W.pow(2).sum()
            loss.backward()
            if config.clipnorm is not None:
                # Keras clipnorm: g * c / max(norm, c) over the global norm (no 1e-6 as in torch).
                norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in params))
                if float(norm) > config.clipnorm:
                    for p in params:
                        p.grad.mul_(config.clipnorm / norm)
            optimizer.step()
            total += loss.item()
        keeper.end_epoch(epoch, total / config.batches_per_epoch, model.to_numpy)
        if epoch_callback is not None:
            epoch_callback(epoch, keeper.curve[-1])
    return keeper.result()
