"""Data bigger than memory: streaming scoring and sampled training on one machine; Dask beyond.

:func:`score_file` and :func:`sample_file` stream CSV/TSV (optionally gzip)
and Parquet files in record batches with pyarrow, so memory stays flat
whatever the file size. The Dask adapter lives in :mod:`deviation.scale.dask`
(install ``deviation[dask]``); it is imported only when used.
"""

from .stream import ScoreSummary, iter_batches, sample_file, score_file

__all__ = ["ScoreSummary", "iter_batches", "sample_file", "score_file"]
