"""Compiled loops (numba) for the default preset's scoring: its input view and its two networks.

The same arithmetic as the NumPy code they replace (:meth:`deviation.quantile_map.NormalQuantileMap.transform_into`,
the min-max view of :class:`deviation.features.InputView` and :func:`deviation.mlp.forward_columns`),
operation for operation in the same precision and order, so their results are the same
bits; they only do it in one pass over each value instead of a few dozen NumPy passes
over temporaries. Each row's values still depend on that row only: every loop over rows
applies the same operations to every row (no fused multiply-add, no reassociation:
numba leaves ``fastmath`` off).

numba is imported when a default-preset model first scores (not at ``import deviation``),
and the compiled functions are cached on disk (``cache=True``: the first process that
scores compiles them, later ones load them). :func:`available` is False when numba is
missing or ``DEVIATION_JIT=0`` is set; the callers then run their NumPy code, which gives
the same values (tests/test_kernels.py checks both against each other).
"""

from __future__ import annotations

import functools
import os
from typing import Any

__all__ = ["available", "kernels"]

#: Rows a network pass keeps in its tile buffers (they stay in the L1 cache).
TILE_ROWS = 128


@functools.lru_cache(maxsize=1)
def kernels() -> Any:
    """The compiled functions (a namespace), or None when numba is missing or disabled."""
    if os.environ.get("DEVIATION_JIT", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        from . import jit
    except ImportError:  # numba missing (or its llvmlite)
        return None
    return jit


def available() -> bool:
    """Whether the compiled kernels are used (numba importable and ``DEVIATION_JIT`` not 0)."""
    return kernels() is not None
