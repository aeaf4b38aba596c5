"""REPEN (Pang, Cao, Chen and Liu, KDD 2018): representations for random
distance-based outlier detection, with a few labeled anomalies.

1. Initial outlier scores of the unlabeled rows by LeSiNN (ensemble of
   nearest-neighbour distances to small random subsamples) in the input space.
2. Inlier candidates: unlabeled rows whose score stays under Cantelli's bound
   (mean + 3 std, i.e. at most a 10% chance of such a score for an inlier).
3. Triplets: anchor and positive drawn from the inlier candidates, the negative
   from the labeled anomalies (REPEN's "known outliers"); the triplet loss
   ``max(0, margin + ||f(a) - f(p)||^2 - ||f(a) - f(n)||^2)`` trains a 20-d
   ReLU representation ``f`` (one hidden layer, as in the paper).
4. Scores: LeSiNN in the learned space, the subsamples drawn from the
   unlabeled training rows.

Settings: the paper's (section 5.3) for every neural competitor - 50 epochs of
20 batches of 512 triplets, RMSprop (Keras settings), L2 0.01 - and REPEN's
large confidence margin of 1000 on squared distances. For large data the
initial scoring (step 1) runs on a random sample of at most 20,000 unlabeled
rows, which then form the pool of inlier candidates; LeSiNN's cost per scored
row is constant (``ensemble_size * subsample_size`` distances).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from deviation.training import gather_rows

from ._common import Encoder, batch_tensor, check_X, check_Xy, embed, keras_rmsprop, l2_penalty, make_generators

logger = logging.getLogger(__name__)

__all__ = ["REPEN", "lesinn_scores"]

_POOL_ROWS = 20000
_CHUNK = 4096


def lesinn_scores(Z: np.ndarray, references: np.ndarray) -> np.ndarray:
    """LeSiNN: mean over subsamples of the distance to the nearest subsample member.

    Parameters
    ----------
    Z : ndarray of shape (n, d)
    references : ndarray of shape (E, s, d)
        ``E`` subsamples of ``s`` rows.

    Returns
    -------
    ndarray of shape (n,)
    """
    E, s, d = references.shape
    flat = references.reshape(E * s, d)
    ref_sq = (flat ** 2).sum(1)
    out = np.empty(len(Z))
    for start in range(0, len(Z), _CHUNK):
        z = Z[start:start + _CHUNK]
        d2 = (z ** 2).sum(1)[:, None] + ref_sq[None] - 2 * z @ flat.T  # (c, E*s)
        d2 = np.maximum(d2, 0).reshape(len(z), E, s)
        out[start:start + _CHUNK] = np.sqrt(d2.min(axis=2)).mean(axis=1)
    return out


class REPEN(BaseEstimator):
    """REPEN: triplet-learned representation, LeSiNN scores.

    Parameters
    ----------
    n_hidden : int, default=20
        Dimension of the learned representation.
    margin : float, default=1000.0
    ensemble_size, subsample_size : int, default=50, 8
        LeSiNN settings.
    epochs, batches_per_epoch, batch_size : int, default=50, 20, 512
    learning_rate : float, default=1e-3
    l2 : float, default=0.01
    random_state : int, numpy.random.Generator or None

    Examples
    --------
    >>> from deviation import load_thyroid
    >>> X, y = load_thyroid(return_X_y=True)
    >>> REPEN(epochs=2, random_state=0).fit(X, y).decision_function(X).shape
    (7200,)
    """

    def __init__(self, n_hidden: int = 20, *, margin: float = 1000.0, ensemble_size: int = 50,
                 subsample_size: int = 8, epochs: int = 50, batches_per_epoch: int = 20,
                 batch_size: int = 512, learning_rate: float = 1e-3, l2: float = 0.01,
                 random_state: Any = None) -> None:
        self.n_hidden = n_hidden
        self.margin = margin
        self.ensemble_size = ensemble_size
        self.subsample_size = subsample_size
        self.epochs = epochs
        self.batches_per_epoch = batches_per_epoch
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.random_state = random_state

    def _references(self, rng: np.random.Generator, n: int) -> np.ndarray:
        k = min(self.subsample_size, n)
        return np.stack([rng.choice(n, k, replace=False) for _ in range(self.ensemble_size)])

    def fit(self, X: Any, y: Any) -> "REPEN":
        """Pick inlier candidates, learn the representation from triplets."""
        X, y = check_Xy(X, y)
        rng, gen = make_generators(self.random_state)
        unlabeled, anomalies = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
        pool = unlabeled if len(unlabeled) <= _POOL_ROWS else np.sort(rng.choice(unlabeled, _POOL_ROWS, replace=False))
        X_pool = gather_rows(X, pool).astype(np.float64)
        initial = lesinn_scores(X_pool, X_pool[self._references(rng, len(pool))])
        inliers = pool[initial <= initial.mean() + 3.0 * initial.std()]
        net = Encoder(X.shape[1], self.n_hidden, generator=gen)
        opt = keras_rmsprop(net.parameters(), self.learning_rate)
        n_steps = self.epochs * self.batches_per_epoch
        anchors = inliers[rng.integers(0, len(inliers), size=(n_steps, self.batch_size))]
        positives = inliers[rng.integers(0, len(inliers), size=(n_steps, self.batch_size))]
        negatives = anomalies[rng.integers(0, len(anomalies), size=(n_steps, self.batch_size))]
        self.loss_curve_ = []
        for epoch in range(self.epochs):
            total = 0.0
            for b in range(self.batches_per_epoch):
                step = epoch * self.batches_per_epoch + b
                fa = net(batch_tensor(X, anchors[step]))  # (B, H)
                fp = net(batch_tensor(X, positives[step]))
                fn = net(batch_tensor(X, negatives[step]))
                gap = ((fa - fp) ** 2).sum(1) - ((fa - fn) ** 2).sum(1)
                loss = torch.clamp(self.margin + gap, min=0).mean() + l2_penalty(net, self.l2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
            self.loss_curve_.append(total / self.batches_per_epoch)
        net.eval()
        ref_rows = unlabeled[self._references(rng, len(unlabeled))]  # (E, s)
        self.references_ = embed(net, X[ref_rows.reshape(-1)]).reshape(*ref_rows.shape, self.n_hidden)
        self.network_ = net
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """LeSiNN score in the learned space: higher is more anomalous."""
        return lesinn_scores(embed(self.network_, check_X(X)), self.references_)
