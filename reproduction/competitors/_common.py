"""What the neural competitors share: seeding, a 20-unit ReLU encoder, Keras-style
RMSprop, and batched scoring (the data checks are the package's, :mod:`deviation.rivals`).

Every competitor follows the paper's settings (section 5.3, Appendix A.2): one
hidden layer of 20 ReLU units with Glorot-uniform kernels and an L2 penalty
``0.01 * sum(W**2)`` on the hidden kernel, RMSprop with Keras' settings
(lr 1e-3, rho 0.9, eps 1e-7), 50 epochs of 20 mini-batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import skip_init

from deviation.rivals import SEED_BOUND, check_X, check_Xy
from deviation.training import gather_rows

__all__ = [
    "Encoder",
    "batch_tensor",
    "check_X",
    "check_Xy",
    "embed",
    "keras_rmsprop",
    "l2_penalty",
    "make_generators",
]

_CHUNK = 8192


def make_generators(random_state: Any) -> tuple[np.random.Generator, torch.Generator]:
    """A NumPy and a torch generator from ``random_state`` (global state untouched)."""
    if isinstance(random_state, np.random.RandomState):
        random_state = random_state.randint(0, SEED_BOUND)
    rng = np.random.default_rng(random_state)
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
    return rng, gen


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
