"""The compiled functions behind :mod:`deviation.kernels` (imported only when numba is installed).

See :mod:`deviation.kernels` for what they compute and why their results are the
NumPy code's bits. Module-level functions, so that numba can cache them on disk.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from llvmlite import ir
from numba.extending import intrinsic

from .quantile_map import BOUNDS  # scikit-learn's BOUNDS_THRESHOLD, a constant of the compiled code

__all__ = ["conformal_p_values", "exact_levels", "numeric_column", "two_networks", "view_block"]

jit = functools.partial(numba.njit, nogil=True, cache=True, boundscheck=False)
#: Rows of a tile of the quantile map (their values of one column and its tables stay in cache).
VIEW_TILE_ROWS = 512
ONE_BITS = np.int64(np.float32(1.0).view(np.int32))


@intrinsic
def float32_bits(typingctx, x):  # noqa: ARG001 - numba's signature for intrinsics
    # the bit pattern of a float32 as an int32 (what ndarray.view(np.int32) reads)
    def codegen(context, builder, signature, args):  # noqa: ARG001
        return builder.bitcast(args[0], ir.IntType(32))

    return numba.types.int32(numba.types.float32), codegen


@jit
def locate_tile(X, float32_rows, i0, m, col, c, tables, xs, entries):
    """Rows i0 .. i0 + m - 1 of column col of X into xs[:m] (float64, of the value rounded to float32
    if float32_rows), and their NormalQuantileMap.locate (the map's column c) into entries[:m].

    Called once per tile, not per value: numba counts the references of its array
    arguments at every call. The column's parameters are read once into locals, so
    that the loops hold no load the compiler must repeat (entries might alias them).
    ``tables``: the map's lookup arrays in the order of ``NormalQuantileMap.kernel_tables``.
    """
    (centre, inv_scale, shift, key_offset, lut_first, lut_last, lut, bounds, n_compare, searched, region_start, region_size) = (
        tables
    )
    if float32_rows:
        for r in range(m):
            xs[r] = np.float64(np.float32(X[i0 + r, col]))
    else:
        for r in range(m):
            xs[r] = np.float64(X[i0 + r, col])
    if searched[c]:
        start, size = region_start[c], region_size[c]
        for r in range(m):
            x = xs[r]
            lo = start
            hi = start + size
            while lo < hi:  # np.searchsorted(values, x, side="right")
                mid = (lo + hi) >> 1
                if bounds[mid + 1] <= x:
                    lo = mid + 1
                else:
                    hi = mid
            entries[r] = lo
        return
    first, last = np.int64(lut_first[c]), np.int64(lut_last[c])
    centre_c, inv_scale_c = centre[c], inv_scale[c]
    shift_c, offset_c = np.int64(shift[c]), np.int64(key_offset[c]) - first
    for r in range(m):
        x = xs[r]
        y = x - centre_c
        y *= inv_scale_c
        y += math.copysign(1.0, y)  # np.copysign is a call to libm here
        bits = np.int64(float32_bits(np.float32(y)))
        sign = bits >> 63
        bits &= 0x7FFFFFFF
        bits -= ONE_BITS
        bits ^= sign
        entries[r] = lut[min(max((bits >> shift_c) - offset_c, first), last)]
    if n_compare <= 2:
        # at most two quantiles per bucket, and the table's padding holds two values above each
        # column's: comparing both is right and needs no loop
        for r in range(m):
            base = entries[r]
            x = xs[r]
            entries[r] = base + (bounds[base + 1] <= x) + (bounds[base + 2] <= x)
    else:
        for r in range(m):
            base = entries[r]
            k = base
            for q in range(n_compare):
                k += bounds[base + 1 + q] <= xs[r]
            entries[r] = k


@jit
def view_block(
    X,
    float32_rows,
    data_min,
    data_range,
    max_value,
    continuous,
    binary,
    tables,
    records,
    out,
    nan_pos,
    nan_entry,
):
    """InputView's columns of rows X (n, d) into out (F, n) float32 (of X rounded to float32 if float32_rows).

    Returns the number of quantile cells left NaN (the map's exact path): the first
    ``len(nan_pos)`` of them get their flat position in ``out`` and their table entry.
    Helper functions get whole tiles: numba counts the references of array arguments
    at every call, which would cost more than the map of one value.
    """
    n, d = X.shape
    n_cont = continuous.shape[0]
    cap = nan_pos.shape[0]
    bounds = tables[7]  # the entries' starts (NormalQuantileMap.kernel_tables)
    n_nan = 0
    if n > 1 and X.strides[0] < X.strides[1]:
        # column-major rows (a DataFrame's values, the numeric score path's batches): a column at a
        # time, reading and writing memory in order
        for j in range(d):
            low, width = data_min[j], data_range[j]
            for i in range(n):
                x = np.float64(np.float32(X[i, j])) if float32_rows else np.float64(X[i, j])
                scaled = (x - low) / width
                if scaled < -max_value:
                    scaled = -max_value
                elif scaled > max_value:
                    scaled = max_value
                out[j, i] = np.float32(scaled)
    else:
        for i in range(n):
            for j in range(d):
                x = np.float64(np.float32(X[i, j])) if float32_rows else np.float64(X[i, j])
                scaled = (x - data_min[j]) / data_range[j]
                if scaled < -max_value:
                    scaled = -max_value
                elif scaled > max_value:
                    scaled = max_value
                out[j, i] = np.float32(scaled)
    for c in range(binary.shape[0]):
        for i in range(n):
            out[d + n_cont + c, i] = out[binary[c], i]
    # the quantile map column by column, a tile of rows at a time: one column's tables stay in
    # cache, and each loop below is free of unpredictable branches
    entries = np.empty(VIEW_TILE_ROWS, np.int64)
    xs = np.empty(VIEW_TILE_ROWS, np.float64)
    for i0 in range(0, n, VIEW_TILE_ROWS):
        m = min(n, i0 + VIEW_TILE_ROWS) - i0
        for c in range(n_cont):
            col = continuous[c]
            row = d + c
            # NormalQuantileMap.locate: each value's table entry (distinct quantiles at or below it)
            locate_tile(X, float32_rows, i0, m, col, c, tables, xs, entries)
            # NormalQuantileMap.transform_into: the interval's cubic in float32
            for r in range(m):
                x = xs[r]
                k = entries[r]
                origin = bounds[k]
                t = np.float32(x - origin) * records[k, 0]
                v = records[k, 4] * t
                v += records[k, 3]
                v *= t
                v += records[k, 2]
                v *= t
                v += records[k, 1]
                out[row, i0 + r] = records[k, 5] if x == origin else v
            for r in range(m):
                if out[row, i0 + r] != out[row, i0 + r]:
                    if n_nan < cap:
                        nan_pos[n_nan] = row * n + i0 + r
                        nan_entry[n_nan] = entries[r]
                    n_nan += 1
    return n_nan


@jit
def exact_levels(X, tables, continuous, start, slope, r_lo, q_hi, r_hi, u_tie, lowest, highest, u):
    """NormalQuantileMap.exact_into up to norm.ppf: the level u (n_cont, n) float64 of each continuous value.

    Its float64 arithmetic in NumPy's order (no fused multiply-add), so the same bits.
    """
    n = X.shape[0]
    entries = np.empty(VIEW_TILE_ROWS, np.int64)
    xs = np.empty(VIEW_TILE_ROWS, np.float64)
    for i0 in range(0, n, VIEW_TILE_ROWS):
        m = min(n, i0 + VIEW_TILE_ROWS) - i0
        for c in range(continuous.shape[0]):
            col = continuous[c]
            locate_tile(X, False, i0, m, col, c, tables, xs, entries)
            for r in range(m):
                x = xs[r]
                g = entries[r]
                forwards = x - start[g]
                forwards *= slope[g]
                forwards += r_lo[g]
                backwards = q_hi[g] - x
                backwards *= slope[g]
                backwards -= r_hi[g]
                forwards -= backwards
                forwards *= 0.5
                if x == start[g]:
                    forwards = u_tie[g]
                if x + BOUNDS > highest[g]:
                    forwards = 1.0
                if x - BOUNDS < lowest[g]:
                    forwards = 0.0
                u[c, i0 + r] = forwards


@jit
def hidden_tile(h_in, n_in, W, b, h_out, m):
    # h_out[:H, :m] = relu(W.T @ h_in[:n_in, :m] + b): per unit, the sum over inputs in their order
    # from 0 (einsum "dh,dn->hn"), then the bias, then the ReLU
    H = W.shape[1]
    for k in range(H):
        for r in range(m):
            h_out[k, r] = 0.0
    for q in range(n_in):
        for k in range(H):
            w = W[q, k]
            for r in range(m):
                h_out[k, r] += w * h_in[q, r]
    for k in range(H):
        bk = b[k]
        for r in range(m):
            v = h_out[k, r] + bk
            h_out[k, r] = v if v > 0 else np.float32(0.0)
    return H


@jit
def two_networks(XT, lo_a, hi_a, kernels_a, biases_a, lo_b, hi_b, kernels_b, biases_b, w_out, b_out, tile, width, out):
    """forward_columns of two member networks: the mean score's output layer over both last layers."""
    n = XT.shape[1]
    bufs = np.empty((3, width, tile), np.float32)  # the tile's inputs, then alternating layer outputs
    for i0 in range(0, n, tile):
        m = min(tile, n - i0)
        for r in range(m):
            out[i0 + r] = 0.0
        offset = 0
        for member in range(2):
            lo = lo_a if member == 0 else lo_b
            hi = hi_a if member == 0 else hi_b
            for q in range(hi - lo):
                for r in range(m):
                    bufs[0, q, r] = XT[lo + q, i0 + r]
            n_in = hi - lo
            ks = kernels_a if member == 0 else kernels_b
            bs = biases_a if member == 0 else biases_b
            s = 0
            for layer in range(len(ks)):
                d = 1 if s != 1 else 2
                n_in = hidden_tile(bufs[s], n_in, ks[layer], bs[layer], bufs[d], m)
                s = d
            src = bufs[s]
            # the output unit, summed over member a's last units then member b's (einsum "dh,dn->hn")
            for k in range(n_in):
                w = w_out[offset + k]
                for r in range(m):
                    out[i0 + r] += w * src[k, r]
            offset += n_in
        for r in range(m):
            out[i0 + r] += b_out
    return out


#: Buckets of the calibration scores' range that conformal_p_values indexes (each holds a few scores).
P_VALUE_BUCKETS = 4096


@jit
def _below(calibration, s):
    # np.searchsorted(calibration, s, side="left") for a number s, without unpredictable branches
    base = 0
    length = calibration.shape[0]
    while length > 1:
        half = length >> 1
        base = base + half if calibration[base + half - 1] < s else base
        length -= half
    return base + (1 if calibration[base] < s else 0)


@jit
def conformal_p_values(calibration, scores, out):
    """calibration.conformal_p_values into out: ``(1 + #{calibration >= s}) / (n + 1)`` for each score.

    The count is ``n - np.searchsorted(calibration, s, side="left")``: found from a table of
    where each of :data:`P_VALUE_BUCKETS` equal parts of the calibration range starts, then
    corrected by stepping (a few scores per part), which is exact whatever the rounding of
    the part's index. The same float64 division as NumPy's, so the same bits.
    """
    n = calibration.shape[0]
    denominator = n + 1.0
    if n == 0:
        out[:] = 1.0
        return
    low, high = calibration[0], calibration[n - 1]
    width = (high - low) / P_VALUE_BUCKETS
    indexed = width > 0.0 and width < np.inf
    table = np.empty(P_VALUE_BUCKETS + 1, np.int64)
    if indexed:
        for b in range(P_VALUE_BUCKETS + 1):
            table[b] = _below(calibration, low + b * width)
    for i in range(scores.shape[0]):
        s = np.float64(scores[i])
        if s != s or s > high:
            below = n  # NaN sorts after every number, as in np.searchsorted
        elif s <= low:
            below = 0
        elif indexed:
            b = min(int((s - low) / width), P_VALUE_BUCKETS)
            below = table[b]
            while below > 0 and calibration[below - 1] >= s:
                below -= 1
            while below < n and calibration[below] < s:
                below += 1
        else:
            below = _below(calibration, s)
        out[i] = (1.0 + (n - below)) / denominator


@jit
def numeric_column(values, start, stop, fill, scaled, scale, offset, max_value, out, row, j):
    """NumericModel.features for one column: rows start:stop of values into out[row:, j] (float32).

    A missing value (NaN) takes ``fill``; then ``x * scale + offset`` in float64, two
    roundings as NumPy's ``v *= scale; v += offset`` (no fused multiply-add), rounded
    to float32. Returns how many results are not finite or beyond ``max_value``.
    """
    bad = 0
    for i in range(stop - start):
        x = np.float64(values[start + i])
        if x != x:
            x = fill
        if scaled:
            x = x * scale
            x = x + offset
        f = np.float32(x)
        out[row + i, j] = f
        if not abs(f) <= max_value:
            bad += 1
    return bad
