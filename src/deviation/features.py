"""The input view of the default preset: min-max columns plus a quantile view of every column.

``DevNet(preset="default")`` trains two deviation networks on two views of the
same rows and averages their scores: one on the min-max scaled columns (the
paper's view, which keeps the magnitude of extreme values) and one on the same
columns with every continuous column mapped to a normal distribution by its
training quantiles (which spreads out values that min-max squeezes into a
corner). Binary columns (all training values 0 or 1) are left as they are in
both views. :class:`InputView` computes the concatenation ``[minmax(X),
quantile(X[:, continuous]), minmax(X)[:, binary]]`` that the merged network
reads; it is fitted on the training rows and saved in the model file as plain
arrays (:mod:`deviation.persistence.view`).

The quantile network reads the binary columns too (``binary``): when it read
the continuous columns alone, a table of informative binary columns and a few
irrelevant continuous ones (celeba plus one uniform column) gave half of the
averaged score to a network that could only learn noise. Model files written
before that change have no ``binary`` columns and score as they did.

Every output value depends on its own input value only, so a row's view (and
score) does not depend on the other rows scored with it.
"""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import QuantileTransformer

from ._limits import MAX_ABS_VALUE as MAX_VIEW_VALUE

__all__ = ["InputView"]

#: Quantiles kept per continuous column, and rows used to estimate them.
N_QUANTILES = 1000
QUANTILE_SUBSAMPLE = 100_000

# MAX_VIEW_VALUE (imported above, ``_limits.MAX_ABS_VALUE``) bounds the min-max view's values:
# a row far outside a column's (tiny) training range would otherwise overflow float32 and
# make the score NaN. It is the bound DevNet puts on its inputs, so the network never reads
# a larger value than the paper's model may.

def _quantiles(X: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Quantiles of each column at the probability levels ``references``, shape (len(references), n_columns).

    NumPy's default (linear) definition, as ``QuantileTransformer.fit`` computes them, but
    from one sort per column: ``np.percentile`` with 1,000 levels partitions the column
    1,000 times, which made the view's fit slower than training a network.
    """
    ordered = np.sort(np.asarray(X, dtype=np.float64), axis=0)
    position = references * (len(ordered) - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, len(ordered) - 1)
    weight = (position - below)[:, None]
    quantiles = ordered[below] + weight * (ordered[above] - ordered[below])
    # rounding must not make them decrease (QuantileTransformer.fit does the same)
    return np.maximum.accumulate(quantiles, axis=0)


class InputView:
    """Min-max scaling of every column plus a normal-quantile copy of the continuous columns.

    Parameters
    ----------
    data_min, data_range : ndarray of shape (n_features,)
        Training minimum and range (max - min, 1 where the column is constant).
    continuous : ndarray of int
        Indices of the columns that get a quantile copy.
    quantiles : ndarray of shape (n_quantiles, len(continuous))
        Training quantiles of those columns.
    references : ndarray of shape (n_quantiles,)
        Probability levels of the quantiles, in [0, 1].
    binary : ndarray of int, optional
        Indices of the binary columns that the quantile network also reads (min-max
        scaled, which leaves 0/1 columns as they are). Empty by default, as in model
        files written before the quantile network read them.
    """

    def __init__(
        self,
        data_min: np.ndarray,
        data_range: np.ndarray,
        continuous: np.ndarray,
        quantiles: np.ndarray,
        references: np.ndarray,
        binary: np.ndarray | None = None,
    ) -> None:
        self.data_min = np.asarray(data_min, dtype=np.float64)
        self.data_range = np.asarray(data_range, dtype=np.float64)
        self.continuous = np.asarray(continuous, dtype=np.int64)
        self.quantiles = np.asarray(quantiles, dtype=np.float64)
        self.references = np.asarray(references, dtype=np.float64)
        self.binary = np.zeros(0, dtype=np.int64) if binary is None else np.asarray(binary, dtype=np.int64)
        self._transformer = self._build_transformer()

    # ------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, X: np.ndarray, rng: np.random.Generator, with_binary: bool = True) -> "InputView":
        """Fit on dense training rows ``X`` (finite values).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        rng : numpy.random.Generator
            Seeds the row subsample used to estimate the quantiles.
        with_binary : bool, default=True
            Whether the quantile network also reads the binary columns (when there
            is a continuous column). ``False`` is the view of model files written
            before it did, kept for comparisons (benchmarks/robustness.py).

        Returns
        -------
        InputView
        """
        data_min = np.min(X, axis=0).astype(np.float64)
        data_range = np.max(X, axis=0).astype(np.float64) - data_min
        data_range[data_range == 0] = 1.0
        binary = np.all((X == 0) | (X == 1), axis=0)
        continuous = np.flatnonzero(~binary)
        if continuous.size == 0:
            empty = np.zeros((2, 0))
            return cls(data_min, data_range, continuous, empty, np.array([0.0, 1.0]))
        n_quantiles = min(N_QUANTILES, X.shape[0])
        rows = np.arange(X.shape[0])
        if X.shape[0] > QUANTILE_SUBSAMPLE:
            rows = np.sort(rng.choice(X.shape[0], size=QUANTILE_SUBSAMPLE, replace=False))
        references = np.linspace(0.0, 1.0, n_quantiles)
        quantiles = _quantiles(X[np.ix_(rows, continuous)], references)
        binary_read = np.flatnonzero(binary) if with_binary else None
        return cls(data_min, data_range, continuous, quantiles, references, binary_read)

    def _build_transformer(self) -> QuantileTransformer | None:
        # A fitted QuantileTransformer rebuilt from its arrays: transform() only reads these.
        if self.continuous.size == 0:
            return None
        qt = QuantileTransformer(n_quantiles=len(self.references), output_distribution="normal")
        qt.quantiles_ = self.quantiles
        qt.references_ = self.references
        qt.n_quantiles_ = len(self.references)
        qt.n_features_in_ = len(self.continuous)
        return qt

    # ------------------------------------------------------------ use
    @property
    def n_features_in(self) -> int:
        return len(self.data_min)

    @property
    def n_continuous(self) -> int:
        return len(self.continuous)

    @property
    def n_binary(self) -> int:
        return len(self.binary)

    @property
    def n_features_out(self) -> int:
        return self.n_features_in + self.n_continuous + self.n_binary

    def minmax(self, X: np.ndarray) -> np.ndarray:
        """Min-max scaled columns (training range to [0, 1]; only clipped to +-MAX_VIEW_VALUE), float32."""
        with np.errstate(over="ignore"):  # an overflow to inf is clipped below
            scaled = (np.asarray(X, dtype=np.float64) - self.data_min) / self.data_range
        return np.clip(scaled, -MAX_VIEW_VALUE, MAX_VIEW_VALUE).astype(np.float32)

    def quantile(self, X: np.ndarray) -> np.ndarray:
        """Normal-quantile copy of the continuous columns, float32 of shape (n, n_continuous)."""
        if self._transformer is None:
            return np.zeros((X.shape[0], 0), dtype=np.float32)
        return self._transformer.transform(np.asarray(X, dtype=np.float64)[:, self.continuous]).astype(np.float32)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``[minmax(X), quantile(X[:, continuous]), minmax(X)[:, binary]]``, float32 of shape (n, n_features_out).

        The first ``n_features_in`` columns are what the min-max network reads, the
        others what the quantile network reads.
        """
        scaled = self.minmax(X)
        return np.hstack([scaled, self.quantile(X), scaled[:, self.binary]])

    def source_columns(self) -> np.ndarray:
        """For each output column, the input column it comes from."""
        return np.r_[np.arange(self.n_features_in), self.continuous, self.binary]
