"""FSNet: prototypical networks (Snell et al., NeurIPS 2017) as the paper adapts them.

Without finer-grained classes, each training episode draws the same number of
unlabeled rows and labeled anomalies (Appendix A.2.1): 256 rows, half of each,
with replacement. In every episode the first half of each group is the support
set, whose mean embeddings are the normal and anomaly prototypes, and the other
half is the query set, classified by a softmax over negative squared Euclidean
distances to the two prototypes (cross-entropy loss). Network: one hidden layer
of 20 ReLU units; RMSprop (Keras settings); 50 epochs of 20 episodes.

At scoring time the normal prototype is the mean embedding of (up to 10,000)
unlabeled training rows and the anomaly prototype that of all labeled
anomalies. The anomaly score is the softmax probability of the anomaly class,
``P = sigmoid(d_normal^2 - d_anomaly^2)``; :meth:`decision_function` returns its
logit ``d_normal^2 - d_anomaly^2`` (same ranking, no ties from a saturated
probability) and :meth:`predict_proba` the probability.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator

from deviation.sampling import balanced_batches

from ._common import Encoder, batch_tensor, check_X, check_Xy, embed, keras_rmsprop, l2_penalty, make_generators

logger = logging.getLogger(__name__)

__all__ = ["FSNet"]

_PROTOTYPE_ROWS = 10000


class FSNet(BaseEstimator):
    """Prototypical network with a normal and an anomaly prototype.

    Parameters
    ----------
    n_hidden : int, default=20
    epochs, batches_per_epoch : int, default=50, 20
    batch_size : int, default=256
        Rows per episode (half unlabeled, half labeled anomalies).
    learning_rate : float, default=1e-3
    l2 : float, default=0.01
    random_state : int, numpy.random.Generator or None

    Examples
    --------
    >>> from deviation import load_thyroid
    >>> X, y = load_thyroid(return_X_y=True)
    >>> FSNet(epochs=2, random_state=0).fit(X, y).decision_function(X).shape
    (7200,)
    """

    def __init__(self, n_hidden: int = 20, *, epochs: int = 50, batches_per_epoch: int = 20,
                 batch_size: int = 256, learning_rate: float = 1e-3, l2: float = 0.01,
                 random_state: Any = None) -> None:
        self.n_hidden = n_hidden
        self.epochs = epochs
        self.batches_per_epoch = batches_per_epoch
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "FSNet":
        """Episodic training, then the two prototypes from the training data."""
        X, y = check_Xy(X, y)
        rng, gen = make_generators(self.random_state)
        unlabeled, anomalies = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
        net = Encoder(X.shape[1], self.n_hidden, generator=gen)
        opt = keras_rmsprop(net.parameters(), self.learning_rate)
        rows, _ = balanced_batches(rng, unlabeled, anomalies,
                                   self.epochs * self.batches_per_epoch, self.batch_size)
        half = self.batch_size // 2
        n_support = half // 2
        target = torch.cat([torch.zeros(half - n_support), torch.ones(half - n_support)]).long()
        self.loss_curve_ = []
        for epoch in range(self.epochs):
            total = 0.0
            for b in range(self.batches_per_epoch):
                episode = rows[epoch * self.batches_per_epoch + b]
                normal, anomal = episode[0::2], episode[1::2]
                z_n = net(batch_tensor(X, normal))  # (half, H)
                z_a = net(batch_tensor(X, anomal))
                protos = torch.stack([z_n[:n_support].mean(0), z_a[:n_support].mean(0)])  # (2, H)
                query = torch.cat([z_n[n_support:], z_a[n_support:]])  # (Q, H)
                logits = -torch.cdist(query, protos) ** 2  # (Q, 2)
                loss = torch.nn.functional.cross_entropy(logits, target) + l2_penalty(net, self.l2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
            self.loss_curve_.append(total / self.batches_per_epoch)
        net.eval()
        ref = unlabeled if len(unlabeled) <= _PROTOTYPE_ROWS else rng.choice(unlabeled, _PROTOTYPE_ROWS, replace=False)
        self.prototypes_ = np.stack([embed(net, X[ref]).mean(0), embed(net, X[anomalies]).mean(0)])
        self.network_ = net
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Logit of P(anomaly): ``d_normal^2 - d_anomaly^2``; higher is more anomalous."""
        Z = embed(self.network_, check_X(X))
        d2 = ((Z[:, None, :] - self.prototypes_[None]) ** 2).sum(axis=2)  # (n, 2)
        return d2[:, 0] - d2[:, 1]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax over negative squared distances: columns P(normal), P(anomaly)."""
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])
