"""The quantile-to-normal map of the default preset's input view, precomputed per column.

For one column with training quantiles ``q`` (nondecreasing) at probability
levels ``r``, scikit-learn's ``QuantileTransformer(output_distribution="normal")``
maps a value ``x`` to ``clip(norm.ppf(u(x)), z_min, z_max)`` where ``u(x)`` is
the piecewise-linear interpolation of ``r`` over ``q`` (averaged forwards and
backwards, so a value equal to repeated quantiles gets the middle of their
levels), ``u = 0`` below ``q[0] + 1e-7`` and ``u = 1`` above ``q[-1] - 1e-7``,
and ``z_min, z_max = norm.ppf(1e-7 - eps), norm.ppf(1 - (1e-7 - eps))``
(scikit-learn's ``_transform_col``). :func:`reference_map` is that formula.

:class:`NormalQuantileMap` computes the same map faster, for every column of a
batch: between two consecutive distinct quantiles ``u`` is linear in ``x``, so
``norm.ppf(u(x))`` is a smooth function of the position ``t`` in ``[0, 1)``
within the interval, replaced by its cubic Hermite interpolant (exact values
and slopes ``du / phi(z)`` at both ends). Each interval's cubic is checked at
build time against the exact map at interior points; the intervals where it is
off by more than :data:`TOLERANCE` (the extreme tails, where ``norm.ppf`` has a
log singularity), those touching the ``1e-7`` bounds, values outside the
quantiles and values equal to repeated quantiles are computed with
:func:`reference_map` itself. So every output is within :data:`TOLERANCE` of
scikit-learn's, and each depends on its own input value only.

Finding the interval of a value is the costly part (a binary search over up to
1,000 quantiles). It goes through a lookup table: the value is centred and
scaled per column, pushed away from zero by one (``y + sign(y)``), and the top
bits of its float32 pattern (read as an order-preserving integer) index a table
that says how many quantiles lie in lower buckets; the few quantiles in the
value's own bucket are compared directly. The float32 pattern is close to a
logarithmic scale away from the centre, so heavy-tailed columns get few
quantiles per bucket too.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

__all__ = ["NormalQuantileMap", "reference_map"]

#: scikit-learn's ``BOUNDS_THRESHOLD``: values within it of the extreme quantiles map to the bounds.
BOUNDS = 1e-7
Z_MIN = float(ndtri(BOUNDS - np.spacing(1)))
Z_MAX = float(ndtri(1 - (BOUNDS - np.spacing(1))))
#: Largest difference allowed between an interval's cubic and the exact map (normal scale).
TOLERANCE = 2e-6
#: Largest lookup table per column, and largest number of quantiles compared per value.
LUT_MAX = 1 << 13
MAX_COMPARE = 6
# relative positions within an interval where the cubic is checked against the exact map
_CHECK_T = np.array([0.03, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97])
_SIGN_MASK = np.int32(0x7FFFFFFF)
_ONE_BITS = np.int32(np.float32(1.0).view(np.int32))


def reference_map(x: np.ndarray, quantiles: np.ndarray, references: np.ndarray) -> np.ndarray:
    """scikit-learn's forward normal-quantile map of one column (float64, unchanged formula).

    Parameters
    ----------
    x : ndarray of shape (n,)
        Finite values.
    quantiles : ndarray of shape (n_quantiles,)
        Nondecreasing training quantiles of the column.
    references : ndarray of shape (n_quantiles,)
        Their probability levels, increasing from 0 to 1.

    Returns
    -------
    ndarray of shape (n,), float64
        ``QuantileTransformer(output_distribution="normal")._transform_col`` of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    lower = x - BOUNDS < quantiles[0]
    upper = x + BOUNDS > quantiles[-1]
    u = 0.5 * (np.interp(x, quantiles, references) - np.interp(-x, -quantiles[::-1], -references[::-1]))
    u[upper] = 1.0
    u[lower] = 0.0
    with np.errstate(divide="ignore"):
        return np.clip(ndtri(u), Z_MIN, Z_MAX)


def _float_keys(y: np.ndarray) -> np.ndarray:
    """Order-preserving int32 of float32 values of magnitude at least 1.

    A larger value gives a larger or equal integer: the magnitude's bit pattern (which
    grows with the magnitude) counted from that of 1.0, bit-flipped for negative values
    (``~m == -m - 1``), so -1 and 1 are neighbours.
    """
    bits = y.view(np.int32)
    sign = bits >> 31  # 0 or -1
    bits &= _SIGN_MASK
    bits -= _ONE_BITS
    bits ^= sign
    return bits


class _Column:
    """The precomputed map of one column: lookup table, interval cubics and the exact fallback."""

    def __init__(self, quantiles: np.ndarray, references: np.ndarray) -> None:
        self.quantiles, self.references = quantiles, references
        values, first = np.unique(quantiles, return_index=True)
        last = np.r_[first[1:] - 1, len(quantiles) - 1]
        m = len(values)
        self.values = values
        # interval k = [values[k], values[k+1]); index 0 of the tables is "below values[0]", so
        # the tables are indexed by k + 1, and the last entry is "at or above values[-1]"
        u0 = references[last[:-1]]
        u1 = references[last[:-1] + 1]
        width = np.diff(values)
        with np.errstate(divide="ignore", over="ignore"):
            inv_width = 1.0 / width
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z0, z1 = ndtri(u0), ndtri(u1)
            # dz/dt = (u1 - u0) / phi(z): the slopes at the ends in units of the interval
            s0 = (u1 - u0) * np.sqrt(2 * np.pi) * np.exp(0.5 * z0 * z0)
            s1 = (u1 - u0) * np.sqrt(2 * np.pi) * np.exp(0.5 * z1 * z1)
            c2 = 3 * (z1 - z0) - 2 * s0 - s1
            c3 = 2 * (z0 - z1) + s0 + s1
        exact = ~np.isfinite(inv_width) | ~np.isfinite(z0) | ~np.isfinite(z1) | ~np.isfinite(s0) | ~np.isfinite(s1)
        # intervals touching the bounds zones follow sklearn's masks exactly
        exact |= values[:-1] - BOUNDS < quantiles[0]
        exact |= values[1:] + BOUNDS > quantiles[-1]
        coefs = np.zeros((4, m + 1))
        ok = ~exact
        coefs[:, 1:m][:, ok] = np.vstack([z0, s0, c2, c3])[:, ok]
        # check the cubics against the exact map inside each interval
        t = _CHECK_T[:, None]
        x_check = values[:-1] + t * width  # (n_check, m - 1)
        with np.errstate(invalid="ignore", over="ignore"):
            cubic = coefs[0, 1:m] + t * (coefs[1, 1:m] + t * (coefs[2, 1:m] + t * coefs[3, 1:m]))
        truth = reference_map(np.where(np.isfinite(x_check), x_check, 0.0).ravel(), quantiles, references)
        err = np.abs(cubic - truth.reshape(x_check.shape)).max(axis=0)
        exact |= ~(err <= TOLERANCE)
        coefs[:, 1:m][:, exact] = 0.0
        self.coefs = coefs.astype(np.float32)  # (4, m + 1): z0, s0, c2, c3 per interval
        self.start = np.r_[values[0], values].astype(np.float64)  # interval start, per table index
        self.inv_width = np.r_[0.0, np.where(exact, 0.0, inv_width), 0.0]
        # 1: the exact map; 2: exact when the value equals the interval's start (repeated quantiles)
        flag = np.zeros(m + 1, dtype=np.int8)
        flag[0] = flag[m] = 1
        flag[1:m][exact] = 1
        tied = (last - first) > 0
        flag[1:][tied & (flag[1:] == 0)] = 2
        self.flag = flag
        self.any_tied = bool((flag == 2).any())
        # the exact map at each quantile value: what a value equal to repeated quantiles gets
        self.at_start = np.r_[0.0, reference_map(values, quantiles, references)].astype(np.float32)
        self._build_lookup()

    # ------------------------------------------------------------- locating
    def _keys(self, x: np.ndarray, centre: float, inv_scale: float) -> np.ndarray:
        y = x - centre
        y *= inv_scale
        y += np.copysign(1.0, y)
        return _float_keys(y.astype(np.float32))

    def _build_lookup(self) -> None:
        values = self.values
        centre = float(values[len(values) // 2])
        spread = float(values[-1] - values[0])
        best = None
        for e in range(-2, 24, 2):
            # scales from the whole range down to a tiny fraction of it: the float32 pattern
            # is linear near +-1 (within a scale of the centre) and logarithmic beyond
            inv_scale = 2.0**e / spread if spread > 0 else 1.0
            keys = self._keys(values, centre, inv_scale).astype(np.int64)
            for shift in range(8, 28):
                b = keys >> shift
                size = int(b[-1] - b[0]) + 1
                if size > LUT_MAX:
                    continue
                occupancy = int(np.bincount(b - b[0]).max())
                if best is None or (occupancy, size) < best[0]:
                    best = ((occupancy, size), inv_scale, shift, int(b[0]))
                break  # coarser shifts only put more quantiles in a bucket
        (occupancy, size), inv_scale, shift, offset = best  # type: ignore[misc]
        self.centre, self.inv_scale, self.shift, self.offset = centre, inv_scale, shift, offset
        self.n_compare = occupancy
        b = (self._keys(values, centre, inv_scale).astype(np.int64) >> shift) - offset
        # lut[j] = quantile values in buckets below j
        self.lut = np.searchsorted(b, np.arange(size), side="left").astype(np.int32)
        self.size = size
        # candidates past the last value compare as "above"
        self.padded = np.r_[values, np.full(occupancy, np.inf)]

    def locate(self, x: np.ndarray) -> np.ndarray:
        """Table index (interval + 1) of each value: the number of distinct quantiles <= x."""
        if self.n_compare > MAX_COMPARE:
            return np.searchsorted(self.values, x, side="right").astype(np.int32)
        b = self._keys(x, self.centre, self.inv_scale) >> self.shift
        b -= self.offset
        np.clip(b, 0, self.size - 1, out=b)
        base = self.lut.take(b)
        index = base.copy()
        for i in range(self.n_compare):
            index += self.padded.take(base + i) <= x
        return index

    # ------------------------------------------------------------- mapping
    def map(self, x: np.ndarray, out: np.ndarray) -> None:
        """Write the normal-scale values of ``x`` (float64, shape (n,)) into ``out`` (float32)."""
        k = self.locate(x)
        t = x - self.start.take(k)
        t *= self.inv_width.take(k)
        t = t.astype(np.float32)
        c = self.coefs
        z = c[3].take(k)
        z *= t
        z += c[2].take(k)
        z *= t
        z += c[1].take(k)
        z *= t
        z += c[0].take(k)
        flag = self.flag.take(k)
        if self.any_tied:
            tie = (flag == 2) & (t == 0)
            if tie.any():
                z[tie] = self.at_start.take(k[tie])
        slow = flag == 1
        if slow.any():
            z[slow] = reference_map(x[slow], self.quantiles, self.references)
        out[...] = z


class NormalQuantileMap:
    """``QuantileTransformer(output_distribution="normal").transform`` for fixed quantiles, fast.

    Parameters
    ----------
    quantiles : ndarray of shape (n_quantiles, n_columns)
        Nondecreasing training quantiles of each column.
    references : ndarray of shape (n_quantiles,)
        Their probability levels, from 0 to 1.

    Notes
    -----
    Every output is within :data:`TOLERANCE` (2e-6) of scikit-learn's
    ``QuantileTransformer`` with these ``quantiles_`` and ``references_``
    (scikit-learn's ``_transform_col``, which this reproduces; see the module
    docstring for how), before the float32 rounding of the result.
    """

    def __init__(self, quantiles: np.ndarray, references: np.ndarray) -> None:
        quantiles = np.asarray(quantiles, dtype=np.float64)
        references = np.asarray(references, dtype=np.float64)
        self.columns = [_Column(np.ascontiguousarray(quantiles[:, j]), references) for j in range(quantiles.shape[1])]

    def transform_into(self, X: np.ndarray, out: np.ndarray) -> None:
        """Map the columns of ``X`` into the rows of ``out``.

        Parameters
        ----------
        X : ndarray of shape (n_columns, n), float64
            One row per column (column-major values, each row contiguous).
        out : ndarray of shape (n_columns, n), float32
            Receives the normal-scale values.
        """
        for j, column in enumerate(self.columns):
            column.map(X[j], out[j])
