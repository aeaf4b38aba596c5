"""DevNet-Rep, the first variant of the paper's ablation study (section 5.8).

DevNet-Rep "removes the output layer of Def and uses our deviation loss to learn
the representations only. In this case, the reference in the loss function is a
20-dimensional vector rather than a scalar." We read it as follows:

* the network is Def without its linear score unit: ``psi(x)``, 20 ReLU units;
* the reference ``mu_R`` is the mean of 5,000 draws from the 20-d standard
  Gaussian prior, ``sigma_R`` their (per-dimension) standard deviation, both
  drawn once per fit as in Def;
* the deviation of a row is its standardised Euclidean distance to the
  reference vector, ``dev(x) = || (psi(x) - mu_R) / sigma_R || / sqrt(20)``
  (the ``sqrt(20)`` keeps the margin ``a = 5`` on the scale of a 1-d z-score);
* the loss is the deviation loss on it, ``(1 - y) |dev| + y max(0, a - dev)``,
  and the anomaly score of a row is ``dev(x)``.

Everything else is Def's: L2 0.01 on the hidden kernel, RMSprop (Keras
settings, clipnorm 1), balanced batches of 512, 50 epochs of 20 batches.
This reading makes Rep "share a similar objective" with DSVDD (a distance to a
fixed centre), as the paper notes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from deviation.sampling import balanced_batches

from .competitors._common import Encoder, batch_tensor, check_X, check_Xy, embed, keras_rmsprop, l2_penalty, make_generators

__all__ = ["DevNetRep"]


class DevNetRep(BaseEstimator):
    """DevNet-Rep: the deviation loss on a 20-d representation (no score unit).

    Parameters
    ----------
    n_hidden : int, default=20
    margin : float, default=5.0
    n_reference : int, default=5000
    epochs, batches_per_epoch, batch_size : int, default=50, 20, 512
    learning_rate : float, default=1e-3
    l2 : float, default=0.01
    clipnorm : float, default=1.0
    random_state : int, numpy.random.Generator or None
    """

    def __init__(self, n_hidden: int = 20, *, margin: float = 5.0, n_reference: int = 5000,
                 epochs: int = 50, batches_per_epoch: int = 20, batch_size: int = 512,
                 learning_rate: float = 1e-3, l2: float = 0.01, clipnorm: float = 1.0,
                 random_state: Any = None) -> None:
        self.n_hidden = n_hidden
        self.margin = margin
        self.n_reference = n_reference
        self.epochs = epochs
        self.batches_per_epoch = batches_per_epoch
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.clipnorm = clipnorm
        self.random_state = random_state

    def _dev(self, Z: torch.Tensor) -> torch.Tensor:
        # Z: (B, H) -> (B,)
        return torch.sqrt((((Z - self.mu_) / self.sigma_) ** 2).sum(1) / Z.shape[1] + 1e-12)

    def fit(self, X: Any, y: Any) -> "DevNetRep":
        """Train the representation with the vector-reference deviation loss."""
        X, y = check_Xy(X, y)
        rng, gen = make_generators(self.random_state)
        net = Encoder(X.shape[1], self.n_hidden, generator=gen)
        ref = rng.standard_normal((self.n_reference, self.n_hidden))
        self.reference_mean_, self.reference_std_ = ref.mean(0), ref.std(0)
        self.mu_ = torch.from_numpy(self.reference_mean_.astype(np.float32))
        self.sigma_ = torch.from_numpy(self.reference_std_.astype(np.float32))
        opt = keras_rmsprop(net.parameters(), self.learning_rate)
        rows, labels = balanced_batches(rng, np.flatnonzero(y == 0), np.flatnonzero(y == 1),
                                        self.epochs * self.batches_per_epoch, self.batch_size)
        yb = torch.from_numpy(labels)
        best, best_state = np.inf, None
        for epoch in range(self.epochs):
            total = 0.0
            for b in range(self.batches_per_epoch):
                dev = self._dev(net(batch_tensor(X, rows[epoch * self.batches_per_epoch + b])))
                loss = ((1 - yb) * dev.abs() + yb * torch.clamp(self.margin - dev, min=0)).mean()
                loss = loss + l2_penalty(net, self.l2)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), self.clipnorm)
                opt.step()
                total += float(loss.detach())
            if total < best:  # keep the best epoch's weights, as Def does
                best, best_state = total, {k: v.clone() for k, v in net.state_dict().items()}
        net.load_state_dict(best_state)
        self.network_ = net.eval()
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """``dev(x)``: standardised distance of ``psi(x)`` to the reference vector."""
        Z = torch.from_numpy(embed(self.network_, check_X(X)).astype(np.float32))
        return self._dev(Z).numpy().astype(np.float64)
