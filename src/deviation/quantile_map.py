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
    """The precomputed map of one column: lookup table, interval cubics and exact-path arrays.

    Table entry ``j`` (``0 <= j <= m`` for ``m`` distinct quantile values) is for
    the values with ``j`` distinct quantile values at or below them: entry 0 below
    all of them, entry ``j`` the interval ``[values[j-1], values[j])``, entry ``m``
    at or above the largest.
    """

    def __init__(self, quantiles: np.ndarray, references: np.ndarray) -> None:
        self.quantiles, self.references = quantiles, references
        values, first = np.unique(quantiles, return_index=True)
        last = np.r_[first[1:] - 1, len(quantiles) - 1]
        m = len(values)
        self.values = values
        u0 = references[last[:-1]]  # u at the start of each interval, and at its end
        u1 = references[last[:-1] + 1]
        width = np.diff(values)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            inv_width = 1.0 / width
            z0, z1 = ndtri(u0), ndtri(u1)
            # dz/dt = (u1 - u0) / phi(z): the slopes at the ends in units of the interval
            s0 = (u1 - u0) * np.sqrt(2 * np.pi) * np.exp(0.5 * z0 * z0)
            s1 = (u1 - u0) * np.sqrt(2 * np.pi) * np.exp(0.5 * z1 * z1)
            c2 = 3 * (z1 - z0) - 2 * s0 - s1
            c3 = 2 * (z0 - z1) + s0 + s1
        cubic = np.vstack([z0, s0, c2, c3])
        with np.errstate(over="ignore"):
            # the fast path reads 1 / width in float32
            exact = ~np.isfinite(inv_width.astype(np.float32)) | ~np.all(np.isfinite(cubic), axis=0)
        # intervals touching the bounds zones follow sklearn's masks exactly
        exact |= values[:-1] - BOUNDS < quantiles[0]
        exact |= values[1:] + BOUNDS > quantiles[-1]
        cubic[:, exact] = 0.0
        # check the cubics against the exact map inside each interval
        t = _CHECK_T[:, None]
        x_check = values[:-1] + t * np.where(exact, 0.0, width)  # (n_check, m - 1)
        approx = cubic[0] + t * (cubic[1] + t * (cubic[2] + t * cubic[3]))
        truth = reference_map(x_check.ravel(), quantiles, references).reshape(x_check.shape)
        exact |= ~(np.abs(approx - truth).max(axis=0, initial=0.0) <= TOLERANCE)
        cubic[:, exact] = 0.0

        n_tab = m + 1
        self.coefs = np.zeros((4, n_tab), dtype=np.float32)  # z0, s0, c2, c3 per entry
        self.coefs[:, 1:m] = cubic
        self.start = np.r_[values[0], values]
        self.inv_width = np.r_[0.0, np.where(exact, 0.0, inv_width), 0.0]
        # 1: the exact map; 2: exact when the value equals the entry's start (repeated quantiles)
        flag = np.zeros(n_tab, dtype=np.int8)
        flag[0] = flag[m] = 1
        flag[1:m][exact] = 1
        tied = (last - first) > 0
        flag[1:][tied & (flag[1:] == 0)] = 2
        self.flag = flag
        # the exact map at each quantile value: what a value equal to repeated quantiles gets
        self.at_start = np.r_[0.0, reference_map(values, quantiles, references)].astype(np.float32)
        # the exact path, np.interp's arithmetic bit for bit (see NormalQuantileMap.exact_u): between
        # quantiles q_lo < q_hi with levels r_lo, r_hi, forwards slope * (x - q_lo) + r_lo and
        # backwards slope * (q_hi - x) - r_hi; at a quantile value, r_last and -r_first of its run
        q, r = quantiles, references
        self.slope = np.zeros(n_tab)
        self.slope[1:m] = (r[last[:-1] + 1] - r[last[:-1]]) / (q[last[:-1] + 1] - q[last[:-1]])
        self.r_lo = np.r_[r[0], r[last[:-1]], r[-1]]
        self.q_hi = np.r_[values, values[-1]]
        self.r_hi = np.r_[r[0], r[last[:-1] + 1], r[-1]]
        self.u_tie = np.r_[0.0, 0.5 * (r[last] + r[first])]
        self._build_lookup()

    def _keys(self, x: np.ndarray) -> np.ndarray:
        y = x - self.centre
        y *= self.inv_scale
        y += np.copysign(1.0, y)
        return _float_keys(y.astype(np.float32))

    def _build_lookup(self) -> None:
        values = self.values
        self.centre = float(values[len(values) // 2])
        spread = float(values[-1] - values[0])
        best = None
        for e in range(-2, 24, 2):
            # scales from the whole range down to a tiny fraction of it: the float32 pattern
            # is linear within a scale of the centre and logarithmic beyond
            self.inv_scale = 2.0**e / spread if spread > 0 else 1.0
            keys = self._keys(values).astype(np.int64)
            first, last = int(keys[0]), int(keys[-1])
            for shift in range(0, 31):
                # the table's size from the end keys alone (Python's >> floors as NumPy's does)
                size = (last >> shift) - (first >> shift) + 1
                if size <= LUT_MAX:
                    b = keys >> shift
                    occupancy = int(np.bincount(b - b[0]).max())
                    if best is None or (occupancy, size) < best[0]:
                        best = ((occupancy, size), self.inv_scale, shift, int(b[0]))
                    break  # coarser shifts only put more quantiles in a bucket
        (self.n_compare, self.size), self.inv_scale, self.shift, self.offset = best  # type: ignore[misc]
        b = (self._keys(values).astype(np.int64) >> self.shift) - self.offset
        # lut[j]: quantile values in buckets below j
        self.lut = np.searchsorted(b, np.arange(self.size), side="left").astype(np.int32)


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
    (scikit-learn's ``_transform_col``, which :func:`reference_map` reproduces;
    see the module docstring for how), before the float32 rounding of the result.
    All columns are mapped together: the per-column tables are concatenated, so
    the cost of a batch is a few dozen NumPy calls whatever the number of columns.
    """

    def __init__(self, quantiles: np.ndarray, references: np.ndarray) -> None:
        quantiles = np.asarray(quantiles, dtype=np.float64)
        references = np.asarray(references, dtype=np.float64)
        columns = [_Column(np.ascontiguousarray(quantiles[:, j]), references) for j in range(quantiles.shape[1])]
        self.n_compare = max([c.n_compare for c in columns if c.n_compare <= MAX_COMPARE], default=0)
        self.searched = np.array([c.n_compare > MAX_COMPARE for c in columns])
        # columns whose buckets hold too many quantiles are searched (np.searchsorted) instead
        self.searched_values = {j: c.values for j, c in enumerate(columns) if c.n_compare > MAX_COMPARE}
        # each column's region of the tables: its m + 1 entries, then padding so that the
        # n_compare candidates after any entry (at least two: the compiled view always compares
        # two) stay in the region (they compare as "above")
        regions = [len(c.values) + max(self.n_compare, 2) for c in columns]
        offsets = np.r_[0, np.cumsum(regions)[:-1]].astype(np.int64)
        self.offsets = offsets[:, None]
        total = int(sum(regions))

        def table(name: str, fill: float, dtype: type) -> np.ndarray:
            out = np.full(total, fill, dtype=dtype)
            for c, off in zip(columns, offsets):
                values = getattr(c, name)
                out[off : off + len(values)] = values
            return out

        self.candidates = table("values", np.inf, np.float64)
        self.start = table("start", 0.0, np.float64)
        self.inv_width = table("inv_width", 0.0, np.float32)
        flag = table("flag", 1, np.int8)
        # (entries, 4): one gather fetches an entry's four coefficients; NaN marks the entries of
        # the exact path, so that the cubic's result says which values take it
        self.coefs = np.full((total, 4), np.nan, dtype=np.float32)
        for c, off in zip(columns, offsets):
            self.coefs[off : off + c.coefs.shape[1]] = c.coefs.T
        self.coefs[flag == 1] = np.nan
        self.at_start = table("at_start", 0.0, np.float32)
        self.slope = table("slope", 0.0, np.float64)
        self.r_lo = table("r_lo", 0.0, np.float64)
        self.q_hi = table("q_hi", 0.0, np.float64)
        self.r_hi = table("r_hi", 0.0, np.float64)
        self.u_tie = table("u_tie", 0.0, np.float64)
        # each entry's column's lowest and highest quantile, for the bounds of the exact path
        self.lowest = np.zeros(total)
        self.highest = np.zeros(total)
        for j, off in enumerate(offsets):
            self.lowest[off : off + regions[j]] = quantiles[0, j]
            self.highest[off : off + regions[j]] = quantiles[-1, j]
        self.column_lowest = quantiles[0][:, None].copy()
        self.column_highest = quantiles[-1][:, None].copy()
        luts = [off + c.lut for c, off in zip(columns, offsets)]
        lut_offsets = np.r_[0, np.cumsum([len(lut) for lut in luts])[:-1]]
        self.lut = np.concatenate(luts).astype(np.int32)
        self.lut_first = lut_offsets[:, None].astype(np.int32)
        self.lut_last = (lut_offsets + [c.size - 1 for c in columns])[:, None].astype(np.int32)
        self.centre = np.array([c.centre for c in columns])[:, None]
        self.inv_scale = np.array([c.inv_scale for c in columns])[:, None]
        self.shift = np.array([c.shift for c in columns], dtype=np.int32)[:, None]
        self.key_offset = np.array([c.offset for c in columns], dtype=np.int32)[:, None]
        # what the compiled view reads of an entry, packed so that a value touches few cache lines:
        # the candidates shifted by one (bounds[g + 1] == candidates[g], bounds[g] the start of
        # entry g for every entry after a column's first, which is always on the exact path) and
        # one 32-byte float32 record per entry: 1 / width, the cubic's 4 coefficients, the exact
        # value at the start
        self._bounds = np.r_[np.inf, self.candidates]
        self._records = np.zeros((total, 8), dtype=np.float32)
        self._records[:, 0] = self.inv_width
        self._records[:, 1:5] = self.coefs
        self._records[:, 5] = self.at_start
        # the same tables, one entry per column, as the compiled view reads them (deviation.kernels)
        self.region_start = offsets.copy()
        self.region_size = np.array([len(c.values) for c in columns], dtype=np.int64)
        self._flat_params = (
            self.centre[:, 0].copy(), self.inv_scale[:, 0].copy(), self.shift[:, 0].copy(),
            self.key_offset[:, 0].copy(), self.lut_first[:, 0].copy(), self.lut_last[:, 0].copy(), self.lut,
            self._bounds, self.n_compare, self.searched.astype(np.uint8), self.region_start, self.region_size,
        )

    def kernel_tables(self) -> tuple:
        """The arrays the compiled view reads to locate values (:func:`deviation.jit.locate`'s after ``x, col``)."""
        return self._flat_params

    def kernel_records(self) -> np.ndarray:
        """The array the compiled view reads to evaluate the map: per entry 1 / width, cubic, exact value at the start."""
        return self._records

    def exact_at(self, x: np.ndarray, entries: np.ndarray) -> np.ndarray:
        """scikit-learn's map of values ``x`` (float64) at global table entries ``entries`` (:func:`reference_map`)."""
        return self._exact(x, entries)

    def locate(self, X: np.ndarray) -> np.ndarray:
        """Global table entry of each value of ``X`` (n_columns, n): column offset + distinct quantiles <= x."""
        with np.errstate(over="ignore"):  # far-out values become +-inf: the first or last bucket
            y = X - self.centre
            y *= self.inv_scale
            y += np.copysign(1.0, y)
            b = _float_keys(y.astype(np.float32))
        b >>= self.shift
        b -= self.key_offset
        b += self.lut_first
        np.clip(b, self.lut_first, self.lut_last, out=b)
        base = self.lut.take(b)
        index = base.copy()
        for i in range(1, self.n_compare + 1):
            index += self.candidates.take(base + (i - 1)) <= X
        if self.searched.any():
            for j in np.flatnonzero(self.searched):
                index[j] = self.offsets[j, 0] + np.searchsorted(self.searched_values[j], X[j], side="right")
        return index

    def transform_into(self, X: np.ndarray, out: np.ndarray) -> None:
        """Map the columns of ``X`` into the rows of ``out``.

        Parameters
        ----------
        X : ndarray of shape (n_columns, n), float64
            One row per column (column-major values, each row contiguous).
        out : ndarray of shape (n_columns, n), float32
            Receives the normal-scale values.
        """
        k = self.locate(X)
        origin = self.start.take(k)
        t = (X - origin).astype(np.float32)  # the position within the interval: float32 is plenty
        t *= self.inv_width.take(k)
        c = np.moveaxis(self.coefs.take(k, axis=0), -1, 0)  # (4, n_columns, n)
        np.multiply(c[3], t, out=out)
        out += c[2]
        out *= t
        out += c[1]
        out *= t
        out += c[0]
        # a value equal to a quantile gets the exact map there (repeated quantiles: the middle
        # of their levels, which the interval's cubic does not give)
        at = X == origin
        if at.any():
            out[at] = self.at_start.take(k[at])
        nan = np.isnan(out)
        slow = np.flatnonzero(nan)
        if slow.size:
            exact = self._exact(X.reshape(-1).take(slow), k.reshape(-1).take(slow))
            if out.flags.c_contiguous:
                out.reshape(-1)[slow] = exact  # a view of out
            else:
                out[nan] = exact  # the same order: row-major

    def exact_into(self, X: np.ndarray, out: np.ndarray) -> None:
        """scikit-learn's values themselves, bit for bit: :func:`reference_map` of each row of ``X``.

        Same parameters as :meth:`transform_into`. Slower than it (``norm.ppf`` of every value)
        but several times faster than ``QuantileTransformer.transform``: the lookup table
        replaces the two binary searches of ``np.interp``.
        """
        k = self.locate(X)
        u = self.exact_u(X, k)
        # a value's bounds are its column's extreme quantiles: compared per row of X, no gather
        bound = X + BOUNDS
        np.copyto(u, 1.0, where=bound > self.column_highest)
        np.subtract(X, BOUNDS, out=bound)
        np.copyto(u, 0.0, where=bound < self.column_lowest)
        with np.errstate(divide="ignore"):
            ndtri(u, out=u)
        np.clip(u, Z_MIN, Z_MAX, out=out, casting="same_kind")

    @staticmethod
    def normal_of_levels(u: np.ndarray, out: np.ndarray) -> None:
        """``clip(norm.ppf(u), z_min, z_max)`` into ``out``: the last step of :meth:`exact_into`."""
        with np.errstate(divide="ignore"):
            z = ndtri(u)
        np.clip(z, Z_MIN, Z_MAX, out=out, casting="same_kind")

    def exact_tables(self) -> tuple:
        """The per-entry arrays of the exact path (starts, slopes, levels, bounds) as the compiled one reads them."""
        return self.start, self.slope, self.r_lo, self.q_hi, self.r_hi, self.u_tie, self.lowest, self.highest

    def exact_u(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        """The level ``u`` of values ``x`` at table entries ``g``, as scikit-learn computes it.

        ``0.5 * (np.interp(x, q, r) - np.interp(-x, -q[::-1], -r[::-1]))`` with
        NumPy's arithmetic (``slope * (x - x_j) + y_j``, the slope from the
        neighbouring quantiles; at a quantile value its level), so bit for bit
        the same; values outside the quantiles get 0 or 1 before the bounds.
        """
        slope = self.slope.take(g)
        start = self.start.take(g)
        forwards = x - start
        forwards *= slope
        forwards += self.r_lo.take(g)
        backwards = self.q_hi.take(g) - x
        backwards *= slope
        backwards -= self.r_hi.take(g)
        forwards -= backwards
        forwards *= 0.5
        at = x == start
        if at.any():
            forwards[at] = self.u_tie.take(g[at])
        return forwards

    def _exact(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        """scikit-learn's map of the values ``x`` at table entries ``g`` (:func:`reference_map`, bit for bit)."""
        u = self.exact_u(x, g)
        u[x + BOUNDS > self.highest.take(g)] = 1.0
        u[x - BOUNDS < self.lowest.take(g)] = 0.0
        with np.errstate(divide="ignore"):
            return np.clip(ndtri(u), Z_MIN, Z_MAX)
