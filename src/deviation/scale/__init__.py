"""Data bigger than memory: streaming scoring and sampled training on one machine; Dask beyond.

:func:`score_file` and :func:`sample_file` stream CSV/TSV (optionally gzip)
and Parquet files in record batches with pyarrow, so memory stays flat
whatever the file size. :mod:`deviation.scale.numeric` scores all-numeric
models on Parquet files without scikit-learn or pandas (what ``deviation
score`` tries first). The Dask adapter lives in :mod:`deviation.scale.dask`
(install ``deviation[dask]``); it is imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)
