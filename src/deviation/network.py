"""The anomaly scoring network ``phi(x) = eta(psi(x))`` (paper section 4.1).

A ReLU multilayer perceptron (the representation learner ``psi``) ending in one
linear unit (the score learner ``eta``). ``hidden_layer_sizes=()`` is the
linear variant, ``(20,)`` the paper's default, ``(1000, 250, 20)`` the deep one.

Weights are held as plain NumPy arrays (``coefs[k]`` of shape (in, out) as in
Keras, ``intercepts[k]`` of shape (out,)); this torch module is built from them
when the autograd engine trains. The NumPy forward and backward passes are in
:mod:`deviation.mlp`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

try:
    import torch
    from torch import nn
    from torch.nn.utils import skip_init
except ImportError:  # torch is optional: name the extra that installs it
    from .training import require_torch

    require_torch("deviation.network (the torch scoring network)")
    raise

__all__ = ["ScoringMLP"]


class ScoringMLP(nn.Module):
    """``phi``: ReLU hidden layers then one linear output unit.

    Parameters
    ----------
    n_features : int
    hidden_layer_sizes : sequence of int
    """

    def __init__(self, n_features: int, hidden_layer_sizes: Sequence[int]) -> None:
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes]
        # skip_init: no draw from torch's global RNG; weights come from load_numpy
        self.hidden = nn.ModuleList(
            skip_init(nn.Linear, a, b) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.out = skip_init(nn.Linear, sizes[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, D) -> scores (B,)
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x).reshape(-1)

    def load_numpy(self, coefs: Sequence[np.ndarray], intercepts: Sequence[np.ndarray]) -> None:
        """Copy Keras-layout weights (W of shape (in, out)) into the module."""
        layers = [*self.hidden, self.out]
        with torch.no_grad():
            for layer, W, b in zip(layers, coefs, intercepts):
                layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                layer.bias.copy_(torch.from_numpy(b))

    def to_numpy(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Weights back in Keras layout, as float32 NumPy arrays."""
        layers = [*self.hidden, self.out]
        coefs = [layer.weight.detach().cpu().numpy().T.copy() for layer in layers]
        intercepts = [layer.bias.detach().cpu().numpy().copy() for layer in layers]
        return coefs, intercepts

    def hidden_kernels(self) -> list[torch.Tensor]:
        """The kernels that carry the L2 penalty (not the output layer's)."""
        return [layer.weight for layer in self.hidden]
