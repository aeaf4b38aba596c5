"""What the neural competitors share: data checks, seeding, a 20-unit ReLU encoder,
Keras-style RMSprop, and batched scoring.

Every competitor follows the paper's settings (section 5.3, Appendix A.2): one
hidden layer of 20 ReLU units with Glorot-uniform kernels and an L2 penalty
``0.01 * sum(W**2)`` on the hidden kernel, RMSprop with Keras' settings
(lr 1e-3, rho 0.9, eps 1e-7), 50 epochs of 20 mini-batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn.utils import skip_init

from ..._limits import SEED_BOUND
from ...exceptions import DataError
from ...training import gather_rows

__all__ = [
    "Encoder",
    "cap_unlabeled",
    "check_Xy",
    "check_X",
    "embed",
    "keras_rmsprop",
    "l2_penalty",
    "make_generators",
    "positive_probability",
]

_CHUNK = 8192


def make_generators(random_state: Any) -> tuple[np.random.Generator, torch.Generator]:
    """A NumPy and a torch generator from ``random_state`` (global state untouched)."""
    if isinstance(random_state, np.random.RandomState):
        random_state = random_state.randint(0, SEED_BOUND)
    rng = np.random.default_rng(random_state)
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
    return rng, gen


def check_X(X: Any) -> np.ndarray | sp.csr_matrix:
    """Numeric 2-D data as float32 ndarray or CSR matrix."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
    else:
        X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=np.float32)
        if X.ndim != 2:
            raise DataError(f"X must be 2-D, got shape {X.shape}")
    return X


def check_Xy(X: Any, y: Any, *, need_anomalies: bool = True) -> tuple[Any, np.ndarray]:
    """Validate ``X`` and the weak labels ``y`` (1 = labeled anomaly, 0 = unlabeled)."""
    X = check_X(X)
    if y is None:
        raise DataError("y is required: 1 for a labeled anomaly, 0 for an unlabeled row.")
    y = np.asarray(y).reshape(-1)
    if len(y) != X.shape[0]:
        raise DataError(f"X has {X.shape[0]} rows but y has {len(y)} labels.")
    if not np.isin(y, (0, 1)).all():
        raise DataError("y must hold only 0 (unlabeled) and 1 (labeled anomaly).")
    y = y.astype(np.int64)
    if need_anomalies and (y.sum() == 0 or y.sum() == len(y)):
        raise DataError("y must hold at least one labeled anomaly (1) and one unlabeled row (0).")
    return X, y


class Encoder(nn.Module):
    """``psi``: ``n_features -> n_hidden`` ReLU units, optionally without bias (Deep SVDD)."""

    def __init__(self, n_features: int, n_hidden: int = 20, *, bias: bool = True,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        # skip_init: no draw from torch's global RNG; initialised from ``generator`` below
        self.hidden = skip_init(nn.Linear, n_features, n_hidden, bias=bias)
        with torch.no_grad():  # Keras defaults: Glorot uniform, zero bias
            limit = float(np.sqrt(6.0 / (n_features + n_hidden)))
            self.hidden.weight.uniform_(-limit, limit, generator=generator)
            if bias:
                self.hidden.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, D) -> (B, n_hidden)
        return torch.relu(self.hidden(x))


def l2_penalty(module: nn.Module, l2: float) -> torch.Tensor:
    """Keras' ``l2(0.01)`` on the hidden kernels: ``l2 * sum(W**2)``."""
    return l2 * sum((m.weight ** 2).sum() for m in module.modules() if isinstance(m, nn.Linear))


def keras_rmsprop(params: Any, learning_rate: float = 1e-3) -> torch.optim.Optimizer:
    """RMSprop with Keras' defaults (torch's differ: alpha 0.99, eps 1e-8)."""
    return torch.optim.RMSprop(params, lr=learning_rate, alpha=0.9, eps=1e-7)


def batch_tensor(X: Any, rows: np.ndarray) -> torch.Tensor:
    """Dense float32 tensor of ``X[rows]`` (sparse rows densified only here)."""
    return torch.from_numpy(gather_rows(X, rows))


@torch.no_grad()
def embed(module: nn.Module, X: Any) -> np.ndarray:
    """``module(X)`` in chunks, as a float64 array."""
    outs = []
    for start in range(0, X.shape[0], _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, X.shape[0]))
        outs.append(module(batch_tensor(X, rows)).numpy().astype(np.float64))
    if not outs:
        return np.empty((0, 0))
    return np.concatenate(outs, axis=0)


def cap_unlabeled(X: Any, y: np.ndarray, max_rows: int | None, rng: np.random.Generator) -> tuple[Any, np.ndarray]:
    """At most ``max_rows`` unlabeled rows (a uniform subset) and every labeled anomaly, in row order."""
    unlabeled = np.flatnonzero(y == 0)
    if max_rows is None or len(unlabeled) <= max_rows:
        return X, y
    keep = np.sort(np.r_[rng.choice(unlabeled, max_rows, replace=False), np.flatnonzero(y == 1)])
    return X[keep], y[keep]


def positive_probability(model: Any, X: Any, chunk: int = 65536) -> np.ndarray:
    """``model.predict_proba(X)[:, 1]`` computed ``chunk`` rows at a time (bounded memory)."""
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], chunk):
        stop = min(start + chunk, X.shape[0])
        out[start:stop] = model.predict_proba(X[start:stop])[:, 1]
    return out
