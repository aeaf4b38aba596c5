"""Compiled loops (numba) for the default preset's scoring: its input view and its two networks.

The same arithmetic as the NumPy code they replace (:meth:`deviation.quantile_map.NormalQuantileMap.transform_into`,
the min-max view of :class:`deviation.features.InputView` and :func:`deviation.mlp.forward_columns`),
operation for operation in the same precision and order, so their results are the same
bits; they only do it in one pass over each value instead of a few dozen NumPy passes
over temporaries. Each row's values still depend on that row only: every loop over rows
applies the same operations to every row (no fused multiply-add, no reassociation:
numba leaves ``fastmath`` off).

Importing numba and loading the compiled functions from its disk cache (``cache=True``: the
first process that compiles a loop for a kind of input, dtype and memory layout, caches it;
later ones load it) takes most of a second and over 100 MB, as long as the NumPy code takes
for one or two million rows. So nothing waits for them: a call of at least :data:`MIN_ROWS`
rows starts loading them in the background and runs the NumPy code; the calls after it
use them (:func:`for_rows`). Scoring a small file or training on a small table never imports
numba; ``deviation score`` of a file of about two million rows or more starts loading them
while it reads the first rows (:func:`preload`). :func:`available` is
False when numba is missing or ``DEVIATION_JIT=0`` is set; the callers then run their NumPy
code, which gives the same values (tests/test_kernels.py checks both against each other).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from typing import Any

__all__ = ["MIN_ROWS", "available", "compile_errors", "disable", "for_rows", "kernels", "preload"]

logger = logging.getLogger(__name__)
# set when a compiled loop failed in this process (deviation.kernels.disable)
_STATE = {"disabled": False, "loading": False}
_LOCK = threading.Lock()

#: Rows a network pass keeps in its tile buffers (they stay in the L1 cache).
TILE_ROWS = 128
#: Rows of a call from which the compiled functions start loading (in the background) for the next calls.
MIN_ROWS = 500_000


@functools.lru_cache(maxsize=1)
def kernels() -> Any:
    """The compiled functions (a namespace), or None when numba is missing or disabled."""
    if _STATE["disabled"] or os.environ.get("DEVIATION_JIT", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        from . import jit
    except ImportError:  # numba missing (or its llvmlite)
        return None
    except Exception as exc:  # noqa: BLE001 - e.g. no writable cache directory: score with NumPy instead
        logger.warning("the compiled scoring loops could not be loaded (%s: %s); scoring with NumPy, same "
                       "results, slower (set DEVIATION_JIT=0 to skip this attempt)", type(exc).__name__, exc)
        return None
    return jit


def disable(exc: BaseException) -> None:
    """Stop using the compiled loops after ``exc`` (numba failed to compile one), with one warning."""
    logger.warning("a compiled scoring loop failed (%s: %s); scoring with NumPy from now on, same results, slower "
                   "(set DEVIATION_JIT=0 to skip it)", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    _STATE["disabled"] = True
    kernels.cache_clear()


def compile_errors() -> tuple[type[BaseException], ...]:
    """The exceptions of a failed compilation (numba's), to fall back to NumPy on; empty when not loaded."""
    numba_errors = sys.modules.get("numba.core.errors")
    return (numba_errors.NumbaError,) if numba_errors is not None else ()


def available() -> bool:
    """Whether the compiled kernels are used (numba importable and ``DEVIATION_JIT`` not 0)."""
    return kernels() is not None


def for_rows(n_rows: int, *, load: bool = True) -> Any:
    """The compiled functions for a call on ``n_rows`` rows, or None to run the NumPy code.

    They are used once loaded. A call of at least :data:`MIN_ROWS` rows with ``load`` True
    starts loading them in the background (:func:`preload`) and runs the NumPy code itself,
    so that no call waits for numba; the calls after it get them. Training's exact view
    passes ``load=False``: there they save less than loading them costs.
    """
    if kernels.cache_info().currsize:
        return kernels()
    if load and n_rows >= MIN_ROWS:
        preload()
    return None


def preload() -> None:
    """Start loading the compiled functions in a background thread (once), for a caller about to score many rows."""
    with _LOCK:
        if _STATE["loading"] or kernels.cache_info().currsize:
            return
        _STATE["loading"] = True
    threading.Thread(target=_load_and_warm_up, name="deviation-jit-load", daemon=True).start()


def _load_and_warm_up() -> None:
    """Load the compiled functions, then run each on a few rows of the kinds of input scoring passes.

    numba compiles (or loads from its cache) a loop for each kind of input at its first call:
    doing it here, in the background, keeps that pause out of the first calls that score.
    """
    if kernels() is None:
        return
    try:
        import numpy as np

        from ._limits import MAX_ABS_VALUE
        from .features import InputView
        from .mlp import forward_columns, split_members

        rng = np.random.default_rng(0)
        X = np.c_[rng.normal(size=(64, 3)), rng.random(64) < 0.5]
        view = InputView.fit(X, rng)
        for rows in (X, np.asfortranarray(X.astype(np.float32))):  # arrays; a DataFrame's values
            columns = view.transform_columns(rows, float32_rows=True)
        hidden = [rng.normal(size=(4, 4)).astype(np.float32), rng.normal(size=(4, 4)).astype(np.float32)]
        coefs = [np.zeros((8, 4), np.float32), np.zeros((4, 4), np.float32), np.ones((4, 1), np.float32)]
        coefs[0][:4, :2], coefs[0][4:, 2:] = hidden[0][:, :2], hidden[1][:, 2:]
        coefs[1][:2, :2], coefs[1][2:, 2:] = hidden[0][:2, :2], hidden[1][2:, 2:]
        intercepts = [np.zeros(4, np.float32), np.zeros(4, np.float32), np.zeros(1, np.float32)]
        members = split_members(coefs, intercepts, [4, 4])
        if members is not None:
            forward_columns(columns[:8], members, coefs[-1], intercepts[-1])
        # p-values, and the numeric score path's columns (deviation.scale.numeric)
        jit = kernels()
        jit.conformal_p_values(np.sort(X[:, 0]), X[:, 1].astype(np.float32), np.empty(64))
        rows = np.empty((64, 1), np.float32, order="F")
        for values in (X[:, 0], X[:, 0].astype(np.float32)):
            jit.numeric_column(values, 0, 64, 0.0, True, 1.0, 0.0, MAX_ABS_VALUE, rows, 0, 0)
    except Exception as exc:  # noqa: BLE001 - a loop numba cannot compile: score with NumPy
        disable(exc)
