"""Adaptive Deep SVDD, the paper's DSVDD (section 5.2, Appendix A.2.1).

Deep SVDD (Ruff et al., ICML 2018) maps data near a fixed centre ``c`` and
scores a row by its distance to ``c``. The paper adds a margin term, in the
form of the contrastive loss, that pushes the labeled anomalies at least
``margin`` away from ``c``::

    loss = (1 - y) * ||phi(x) - c||^2 + y * max(0, margin - ||phi(x) - c||)^2

``c`` is the mean output of the initial network on unlabeled rows (coordinates
too close to 0 moved to +-eps as in Ruff et al.), fixed during training. The
network is the paper's one hidden layer of 20 ReLU units, without bias terms
(a bias lets Deep SVDD collapse onto ``c``). Training: balanced batches of 512
(half labeled anomalies), 50 epochs of 20 batches, RMSprop (Keras settings),
L2 0.01 on the kernel.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from deviation.sampling import balanced_batches

from ._common import Encoder, batch_tensor, check_X, check_Xy, embed, keras_rmsprop, l2_penalty, make_generators

logger = logging.getLogger(__name__)

__all__ = ["DeepSVDD"]

_CENTRE_ROWS = 10000


class DeepSVDD(BaseEstimator):
    """Deep SVDD with a margin for labeled anomalies; score = distance to the centre.

    Parameters
    ----------
    n_hidden : int, default=20
    margin : float, default=1.0
        Distance from ``c`` the labeled anomalies must reach.
    epochs, batches_per_epoch, batch_size : int, default=50, 20, 512
    learning_rate : float, default=1e-3
    l2 : float, default=0.01
    eps : float, default=0.1
        Centre coordinates with ``|c_j| < eps`` are set to ``+-eps``.
    random_state : int, numpy.random.Generator or None

    Examples
    --------
    >>> from deviation import load_thyroid
    >>> X, y = load_thyroid(return_X_y=True)
    >>> DeepSVDD(epochs=2, random_state=0).fit(X, y).decision_function(X).shape
    (7200,)
    """

    def __init__(self, n_hidden: int = 20, *, margin: float = 1.0, epochs: int = 50,
                 batches_per_epoch: int = 20, batch_size: int = 512, learning_rate: float = 1e-3,
                 l2: float = 0.01, eps: float = 0.1, random_state: Any = None) -> None:
        self.n_hidden = n_hidden
        self.margin = margin
        self.epochs = epochs
        self.batches_per_epoch = batches_per_epoch
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.eps = eps
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "DeepSVDD":
        """Fix the centre from the initial network, then train with the margin loss."""
        X, y = check_Xy(X, y)
        rng, gen = make_generators(self.random_state)
        unlabeled, anomalies = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
        net = Encoder(X.shape[1], self.n_hidden, bias=False, generator=gen)
        sample = unlabeled if len(unlabeled) <= _CENTRE_ROWS else rng.choice(unlabeled, _CENTRE_ROWS, replace=False)
        c = embed(net, X[sample]).mean(axis=0)
        c[(np.abs(c) < self.eps) & (c < 0)] = -self.eps
        c[(np.abs(c) < self.eps) & (c >= 0)] = self.eps
        centre = torch.from_numpy(c.astype(np.float32))
        opt = keras_rmsprop(net.parameters(), self.learning_rate)
        rows, labels = balanced_batches(rng, unlabeled, anomalies,
                                        self.epochs * self.batches_per_epoch, self.batch_size)
        yb = torch.from_numpy(labels)
        self.loss_curve_ = []
        for epoch in range(self.epochs):
            total = 0.0
            for b in range(self.batches_per_epoch):
                xb = batch_tensor(X, rows[epoch * self.batches_per_epoch + b])
                dist2 = ((net(xb) - centre) ** 2).sum(dim=1)  # (B,)
                dist = torch.sqrt(dist2 + 1e-12)
                loss = ((1 - yb) * dist2 + yb * torch.clamp(self.margin - dist, min=0) ** 2).mean()
                loss = loss + l2_penalty(net, self.l2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
            self.loss_curve_.append(total / self.batches_per_epoch)
        logger.debug("DeepSVDD: final loss %.4f", self.loss_curve_[-1])
        self.network_, self.center_ = net.eval(), c
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Euclidean distance of ``phi(x)`` to the centre ``c``: higher is more anomalous."""
        Z = embed(self.network_, check_X(X))
        return np.sqrt(((Z - self.center_) ** 2).sum(axis=1))
