"""Data bigger than memory: streaming scoring and sampled training on one machine; Dask beyond.

:func:`score_file` and :func:`sample_file` stream CSV/TSV (optionally gzip)
and Parquet files in record batches with pyarrow, so memory stays flat
whatever the file size. :mod:`deviation.scale.numeric` scores all-numeric
models on Parquet files without scikit-learn or pandas (what ``deviation
score`` tries first). The Dask adapter lives in :mod:`deviation.scale.dask`
(install ``deviation[dask]``); it is imported only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._pipeline import ScoreSummary
    from .stream import iter_batches, sample_file, score_file

# imported on first use (PEP 562): the general path needs pandas and scikit-learn, the numeric one neither
_SOURCES = {
    "ScoreSummary": "._pipeline",
    "iter_batches": ".stream",
    "sample_file": ".stream",
    "score_file": ".stream",
}

__all__ = ["ScoreSummary", "iter_batches", "sample_file", "score_file"]


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
