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

The quantile copy is scikit-learn's ``QuantileTransformer(output_distribution=
"normal")`` on the stored ``quantiles`` and ``references``, computed by
:class:`deviation.quantile_map.NormalQuantileMap` (precomputed per column when
the view is built, so model files store the same arrays as before): within 2e-6
of scikit-learn's values, then rounded to float32. :meth:`InputView.transform_columns`
writes the view column by column, the layout the scoring path's network reads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._limits import MAX_ABS_VALUE as MAX_VIEW_VALUE
from .kernels import compile_errors, disable, for_rows
from .quantile_map import NormalQuantileMap

__all__ = ["InputView", "column_extremes"]

#: Values mapped at a time by the view (rows times columns: its temporaries stay in cache),
#: and threads mapping blocks.
_BLOCK_VALUES = 163_840  # 8,192 rows of 20 columns
_THREADS = min(4, os.cpu_count() or 1)
# the compiled view's arguments for a view without continuous columns (never read)
_NO_TABLES = (np.zeros(0), np.zeros(0), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32),
              np.zeros(0, np.int32), np.zeros(0, np.int32), np.full(1, np.inf), 0, np.zeros(0, np.uint8),
              np.zeros(0, np.int64), np.zeros(0, np.int64))
_NO_RECORDS = np.zeros((0, 8), np.float32)
#: Quantiles kept per continuous column, and rows used to estimate them.
N_QUANTILES = 1000
QUANTILE_SUBSAMPLE = 100_000

# MAX_VIEW_VALUE (imported above, ``_limits.MAX_ABS_VALUE``) bounds the min-max view's values:
# a row far outside a column's (tiny) training range would otherwise overflow float32 and
# make the score NaN. It is the bound DevNet puts on its inputs, so the network never reads
# a larger value than the paper's model may.

def column_extremes(X: np.ndarray, group: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Each column's minimum and maximum as float64, the values of ``X.min(0)`` and ``X.max(0)``.

    ``X.min(axis=0)`` of a C-ordered array runs its inner loop over one row's few
    columns; seen as rows of ``group`` rows each, the inner loop is ``group`` times
    longer, then the ``group`` partial results are reduced (3-4 times faster on
    1,000,000 x 20 rows; min and max are exact, so the values are the same).
    """
    n, d = X.shape
    m = n // group * group
    if m == 0 or not X.flags.c_contiguous:
        return np.min(X, axis=0).astype(np.float64), np.max(X, axis=0).astype(np.float64)
    wide = X[:m].reshape(-1, group * d)
    low = wide.min(axis=0).reshape(group, d).min(axis=0)
    high = wide.max(axis=0).reshape(group, d).max(axis=0)
    if m < n:
        low = np.minimum(low, X[m:].min(axis=0))
        high = np.maximum(high, X[m:].max(axis=0))
    return low.astype(np.float64), high.astype(np.float64)


def _quantiles(X: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Quantiles of each column at the probability levels ``references``, shape (len(references), n_columns).

    NumPy's default (linear) definition, as ``QuantileTransformer.fit`` computes them, but
    from one sort per column: ``np.percentile`` with 1,000 levels partitions the column
    1,000 times, which made the view's fit slower than training a network.
    """
    ordered = np.array(X, dtype=np.float64, order="F")  # a copy whose columns are contiguous: faster to sort
    ordered.sort(axis=0)
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
        # derived from the stored arrays, never saved: old files and new ones map the same
        self._map = NormalQuantileMap(self.quantiles, self.references) if self.continuous.size else None

    # ------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        rng: np.random.Generator,
        with_binary: bool = True,
        extremes: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> "InputView":
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
        extremes : (ndarray, ndarray), optional
            ``column_extremes(X)``, when the caller has them.

        Returns
        -------
        InputView
        """
        data_min, data_max = column_extremes(X) if extremes is None else extremes
        data_range = data_max - data_min
        data_range[data_range == 0] = 1.0
        # only a column whose minimum and maximum are 0 or 1 can be binary: check those alone
        binary = np.isin(data_min, (0.0, 1.0)) & np.isin(data_max, (0.0, 1.0))
        for j in np.flatnonzero(binary):
            binary[j] = bool(np.all((X[:, j] == 0) | (X[:, j] == 1)))
        continuous = np.flatnonzero(~binary)
        if continuous.size == 0:
            empty = np.zeros((2, 0))
            return cls(data_min, data_range, continuous, empty, np.array([0.0, 1.0]))
        n_quantiles = min(N_QUANTILES, X.shape[0])
        rows = np.arange(X.shape[0])
        if X.shape[0] > QUANTILE_SUBSAMPLE:
            rows = np.sort(rng.choice(X.shape[0], size=QUANTILE_SUBSAMPLE, replace=False))
        references = np.linspace(0.0, 1.0, n_quantiles)
        # np.take of whole rows, then the columns: several times faster than X[np.ix_(rows, continuous)]
        sample = np.take(X, rows, axis=0)
        if continuous.size < X.shape[1]:
            sample = sample[:, continuous]
        quantiles = _quantiles(sample, references)
        binary_read = np.flatnonzero(binary) if with_binary else None
        return cls(data_min, data_range, continuous, quantiles, references, binary_read)

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
        X = np.asarray(X, dtype=np.float64)
        out = np.empty((self.n_continuous, X.shape[0]), dtype=np.float32)
        if self._map is not None:
            self._map.transform_into(np.ascontiguousarray(X[:, self.continuous].T), out)
        return np.ascontiguousarray(out.T)

    def transform(self, X: np.ndarray, *, exact: bool = False) -> np.ndarray:
        """``[minmax(X), quantile(X[:, continuous]), minmax(X)[:, binary]]``, float32 of shape (n, n_features_out).

        The first ``n_features_in`` columns are what the min-max network reads, the
        others what the quantile network reads.

        Parameters
        ----------
        X : ndarray of shape (n, n_features_in)
        exact : bool, default=False
            Compute the quantile copy bit for bit as ``QuantileTransformer.transform``
            (:meth:`deviation.quantile_map.NormalQuantileMap.exact_into`, several times
            slower) instead of with the precomputed map (within 2e-6 of it).
            Training uses it: a fit amplifies differences in its inputs far beyond
            their size, and the same seed must train the same network as before
            the precomputed map existed.
        """
        return np.hstack(self.network_inputs(X, exact=exact)) if self.n_continuous else self.network_inputs(X)[0]

    def network_inputs(self, X: np.ndarray, *, exact: bool = False, rows: np.ndarray | None = None) -> list[np.ndarray]:
        """:meth:`transform` cut into what each network reads, each C-contiguous float32.

        Parameters
        ----------
        X : ndarray of shape (n, n_features_in)
        exact : bool, default=False
            As in :meth:`transform`.
        rows : ndarray of int, optional
            Map only these rows of ``X``, in this order: the result of ``X[rows]``
            without that copy (each block of rows is gathered where it is mapped).

        Returns
        -------
        list of ndarray
            ``[minmax(X)]`` of shape (n, n_features_in) and, when there are
            continuous columns, the quantile network's input of shape
            (n, n_continuous + n_binary). Blocks of rows are mapped in threads
            (each value on its own, so the result does not depend on them).
        """
        X = np.asarray(X)
        n = X.shape[0] if rows is None else len(rows)
        d = self.n_features_in
        parts = [np.empty((n, d), dtype=np.float32)]
        if self.n_continuous:
            parts.append(np.empty((n, self.n_features_out - d), dtype=np.float32))
        compiled = for_rows(n, load=not exact)

        def block(start: int) -> None:
            part = slice(start, start + block_rows)
            columns = self._block(X[part] if rows is None else np.take(X, rows[part], axis=0), exact,
                                  compiled=compiled)
            parts[0][part] = columns[:d].T
            if len(parts) == 2:
                parts[1][part] = columns[d:].T

        block_rows = self._block_rows()
        starts = range(0, n, block_rows)
        if len(starts) <= 1:
            for start in starts:
                block(start)
        else:
            with ThreadPoolExecutor(max_workers=min(_THREADS, len(starts))) as pool:
                list(pool.map(block, starts))
        return parts

    def transform_columns(self, X: np.ndarray, *, exact: bool = False, float32_rows: bool = False) -> np.ndarray:
        """:meth:`transform` stored column by column: float32 of shape (n_features_out, n), C-contiguous.

        Parameters
        ----------
        X : ndarray of shape (n, n_features_in)
            Finite values.
        exact : bool, default=False
            As in :meth:`transform`.
        float32_rows : bool, default=False
            Map the values of ``X`` rounded to float32 (what the scoring path reads),
            as ``transform_columns(X.astype(np.float32))`` but without that copy.

        Returns
        -------
        ndarray of shape (n_features_out, n), float32
            Row ``j`` is column ``j`` of :meth:`transform`, with the same values.
        """
        X = np.asarray(X)
        compiled = for_rows(X.shape[0], load=not exact)
        if float32_rows and (exact or compiled is None):
            X, float32_rows = np.asarray(X, dtype=np.float32), False
        if compiled is not None and not exact and X.ndim == 2 and X.dtype in (np.float32, np.float64):
            if X.shape[1] > 1 and not X.flags.f_contiguous:
                # the loop maps a column at a time: reading a column-major copy in memory order is a
                # quarter faster, copy included, than picking each column's values out of the rows
                X = np.asfortranarray(X, dtype=np.float32 if float32_rows else X.dtype)
            # the compiled loop makes no temporaries the size of the rows: all of them in one call
            try:
                return self._compiled_block(compiled, X, float32_rows)
            except compile_errors() as exc:
                disable(exc)
                compiled = None
        block_rows = self._block_rows()
        if X.shape[0] <= block_rows:
            return self._block(X, exact, float32_rows, compiled)
        out = np.empty((self.n_features_out, X.shape[0]), dtype=np.float32)
        for start in range(0, X.shape[0], block_rows):
            rows = slice(start, start + block_rows)
            out[:, rows] = self._block(X[rows], exact, float32_rows, compiled)
        return out

    def _block_rows(self) -> int:
        return max(64, _BLOCK_VALUES // max(self.n_features_in, 1))

    def _block(self, X: np.ndarray, exact: bool, float32_rows: bool = False, compiled: Any = None) -> np.ndarray:
        # compiled: the compiled functions (deviation.kernels.for_rows of the whole call) or None
        if compiled is not None and not exact and X.ndim == 2 and X.dtype in (np.float32, np.float64):
            # any memory layout: numba compiles one loop per layout (a DataFrame's values are column-major)
            try:
                return self._compiled_block(compiled, X, float32_rows)
            except compile_errors() as exc:
                disable(exc)
                compiled = None
        if float32_rows:
            X = np.asarray(X, dtype=np.float32)
        # a few thousand rows at a time: the temporaries of the quantile map stay in cache
        d = self.n_features_in
        XT = np.empty((d, X.shape[0]), dtype=np.float64)  # (n_features_in, n)
        XT[...] = X.T
        out = np.empty((self.n_features_out, XT.shape[1]), dtype=np.float32)
        with np.errstate(over="ignore"):  # an overflow to inf is clipped below
            scaled = XT - self.data_min[:, None]
            scaled /= self.data_range[:, None]
        np.clip(scaled, -MAX_VIEW_VALUE, MAX_VIEW_VALUE, out=scaled)
        out[:d] = scaled
        if self._map is not None:
            quantile = out[d : d + self.n_continuous]
            if compiled is not None and exact and X.dtype in (np.float32, np.float64):
                # the exact levels by the compiled loop (the same bits), norm.ppf by scipy
                levels = np.empty(quantile.shape, dtype=np.float64)
                try:
                    compiled.exact_levels(X, self._map.kernel_tables(), self.continuous, *self._map.exact_tables(),
                                          levels)
                except compile_errors() as exc:
                    disable(exc)
                    self._map.exact_into(XT if self.n_continuous == d else XT[self.continuous], quantile)
                else:
                    self._map.normal_of_levels(levels, quantile)
            else:
                values = XT if self.n_continuous == d else XT[self.continuous]
                (self._map.exact_into if exact else self._map.transform_into)(values, quantile)
        out[d + self.n_continuous :] = out[self.binary]
        return out

    def _compiled_block(self, compiled: Any, X: np.ndarray, float32_rows: bool) -> np.ndarray:
        """:meth:`_block` by the compiled loop (deviation.kernels): the same values, one pass over the rows."""
        d = self.n_features_in
        out = np.empty((self.n_features_out, X.shape[0]), dtype=np.float32)
        if self._map is None:
            tables: tuple = _NO_TABLES
            records = _NO_RECORDS
        else:
            tables, records = self._map.kernel_tables(), self._map.kernel_records()
        n_cont = self.continuous.size
        cap = n_cont * X.shape[0] // 64 + 64  # the exact path's cells are a small share: the tails, ties
        while True:
            positions, entries = np.empty(cap, np.int64), np.empty(cap, np.int64)
            n_nan = compiled.view_block(X, float32_rows, self.data_min, self.data_range, float(MAX_VIEW_VALUE),
                                        self.continuous, self.binary, tables, records, out, positions, entries)
            if n_nan <= cap:
                break
            cap = n_nan  # more than expected: map again with room for all of them
        if n_nan:
            # the cells of the extreme tails, ties and values beyond the quantiles: scikit-learn's formula
            positions, entries = positions[:n_nan], entries[:n_nan]
            rows, columns = positions % X.shape[0], positions // X.shape[0] - d
            values = X[rows, self.continuous[columns]]
            values = (values.astype(np.float32) if float32_rows else values).astype(np.float64)
            out.reshape(-1)[positions] = self._map.exact_at(values, entries)
        return out

    def source_columns(self) -> np.ndarray:
        """For each output column, the input column it comes from."""
        return np.r_[np.arange(self.n_features_in), self.continuous, self.binary]
