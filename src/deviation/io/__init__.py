"""Read and write tabular data files: one reader for every command.

:func:`read_table` turns a data file into a :class:`Table` (features, binary
labels, feature names, verbatim row ids and the :class:`InputSchema` that says
how the file was read); :func:`iter_tables` reads the same file in batches by
the same rules; :func:`write_table` and :class:`BatchWriter` write CSV or
Parquet atomically.

Supported inputs (picked by file extension, or by ``format=``):

=========  ==========================================  =============================
format     extensions                                  ``Table.X``
=========  ==========================================  =============================
csv        ``.csv``                                    ``pandas.DataFrame``
tsv        ``.tsv``                                    ``pandas.DataFrame``
parquet    ``.parquet``, ``.pq``                       ``pandas.DataFrame``
arff       ``.arff``                                   ``pandas.DataFrame``
npz        ``.npz`` (arrays ``X``, optional ``y``)     ``numpy.ndarray`` (float64)
mat        ``.mat`` (MATLAB <= v7, keys ``X``, ``y``)  ``numpy.ndarray`` (float64)
libsvm     ``.libsvm``, ``.svm``, ``.svmlight``        ``scipy.sparse.csr_matrix``
=========  ==========================================  =============================

Any of them may be compressed as a single file (``.gz``, ``.bz2``, ``.xz``) or
be the only data file of an archive (``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``,
``.tar.xz``, ``.txz``, ``.tar.bz2``); archive members are streamed, never
extracted to disk. Every problem with a file or a label raises
:class:`deviation.exceptions.DataError` with a one-line message naming the
problem, the file and the fix.

Modules: ``sources`` (paths, compression, archives, error translation),
``delimited`` (CSV/TSV), ``arff``, ``arrays`` (NPZ, MATLAB, libsvm),
``labels``, ``schema`` (column typing and the saved input schema), ``reader``
(the one reader), ``writer``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .labels import to_binary_labels
    from .reader import DEFAULT_BATCH_ROWS, Table, iter_tables, raw_batches, read_table
    from .schema import MISSING_MARKERS, InputSchema, KindTracker, typed_frame
    from .sources import FORMATS, Source, resolve_source
    from .writer import BatchWriter, write_table

# Imported on first use (PEP 562): the reader needs pandas, which takes most of a second to
# import, and the all-numeric path of `deviation score` (deviation.scale.numeric) writes with
# BatchWriter but reads without it.
_SOURCES = {
    "to_binary_labels": ".labels",
    "DEFAULT_BATCH_ROWS": ".reader",
    "Table": ".reader",
    "iter_tables": ".reader",
    "raw_batches": ".reader",
    "read_table": ".reader",
    "MISSING_MARKERS": ".schema",
    "InputSchema": ".schema",
    "KindTracker": ".schema",
    "typed_frame": ".schema",
    "FORMATS": ".sources",
    "Source": ".sources",
    "resolve_source": ".sources",
    "BatchWriter": ".writer",
    "write_table": ".writer",
}



__all__ = [
    "DEFAULT_BATCH_ROWS",
    "FORMATS",
    "MISSING_MARKERS",
    "BatchWriter",
    "InputSchema",
    "KindTracker",
    "Source",
    "Table",
    "iter_tables",
    "raw_batches",
    "read_table",
    "resolve_source",
    "to_binary_labels",
    "typed_frame",
    "write_table",
]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)
