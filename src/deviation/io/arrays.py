"""Array formats: NPZ, MATLAB and libsvm/svmlight (labels are part of the file)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._memory import check_allocation
from ..exceptions import DataError
from .sources import Source, fail, short_message

#: Bytes each feature column of a file costs once read, whatever its values: its
#: name (``"x123456"``, a Python str of about 64 bytes, and the list slot holding it).
_BYTES_PER_COLUMN_NAME = 72


def _numeric_matrix(value: Any, src: Source, key: str) -> np.ndarray | sp.csr_matrix:
    if sp.issparse(value):
        matrix = sp.csr_matrix(value, dtype=np.float64)
    else:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise fail(
                src.where,
                f"has a non-numeric array {key!r} (dtype {array.dtype})",
                "store the features as a numeric array",
            )
        if array.ndim == 1:
            raise fail(
                src.where,
                f"has a 1-D array {key!r}",
                "store the features as a 2-D array (rows x features)",
            )
        if array.ndim != 2:
            raise fail(
                src.where,
                f"has a {array.ndim}-D array {key!r}",
                "store the features as a 2-D array (rows x features)",
            )
        matrix = np.asarray(array, dtype=np.float64)
    if matrix.shape[0] == 0:
        raise fail(
            src.where,
            f"has no data rows (array {key!r} has 0 rows)",
            "pass a file with at least one row",
        )
    return matrix


def _label_vector(value: Any, n_rows: int, src: Source, key: str) -> np.ndarray:
    if sp.issparse(value):
        value = value.toarray()
    array = np.asarray(value)
    if array.ndim == 2 and 1 in array.shape:
        array = array.ravel()
    if array.ndim != 1 or array.shape[0] != n_rows:
        raise fail(
            src.where,
            f"has a label array {key!r} of shape {array.shape} that does not match the {n_rows} rows of X",
            "store one label per row",
        )
    return array


def read_npz(src: Source) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray | None, list[str] | None]:
    data: Any = src.path if src.is_plain else io.BytesIO(src.read_bytes())
    if src.is_plain:
        with open(src.path, "rb") as fh:
            magic = fh.read(6)
    else:
        magic = data.getvalue()[:6]
    if not magic.startswith(b"PK") and magic != b"\x93NUMPY":
        raise fail(
            src.where,
            "is not an NPZ file (no zip signature)",
            "save the data with numpy.savez(path, X=..., y=...)",
        )
    try:
        npz = np.load(data, allow_pickle=False)
    except ValueError as exc:
        raise fail(
            src.where,
            f"is not a readable NPZ file ({short_message(exc)})",
            "re-save it with numpy.savez(path, X=..., y=...)",
        ) from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise fail(
            src.where,
            "holds a single .npy array, not an NPZ archive",
            "save it with numpy.savez(path, X=..., y=...)",
        )
    with npz:
        keys = list(npz.files)
        if "X" not in keys:
            raise fail(
                src.where,
                f"has no array 'X' (arrays: {', '.join(keys) or 'none'})",
                "save the features under the name X",
            )
        try:
            X = _numeric_matrix(npz["X"], src, "X")
            y = _label_vector(npz["y"], X.shape[0], src, "y") if "y" in keys else None
            names = [str(n) for n in np.asarray(npz["feature_names"]).ravel()] if "feature_names" in keys else None
        except ValueError as exc:
            if isinstance(exc, DataError):
                raise
            raise fail(
                src.where,
                f"has an array that cannot be loaded ({short_message(exc)})",
                "store X, y and feature_names as plain numeric / string arrays (no pickled objects)",
            ) from exc
    return X, y, names


def read_mat(src: Source) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray | None, list[str] | None]:
    import scipy.io

    data: Any = src.path if src.is_plain else io.BytesIO(src.read_bytes())
    try:
        content = scipy.io.loadmat(data)
    except NotImplementedError as exc:
        raise fail(
            src.where,
            "is a MATLAB v7.3 (HDF5) file, which is not supported",
            "re-save it in MATLAB with save(path, 'X', 'y', '-v7')",
        ) from exc
    keys = [k for k in content if not k.startswith("__")]
    if "X" not in keys:
        raise fail(
            src.where,
            f"has no variable 'X' (variables: {', '.join(keys) or 'none'})",
            "save the features under the name X",
        )
    X = _numeric_matrix(content["X"], src, "X")
    y = _label_vector(content["y"], X.shape[0], src, "y") if "y" in keys else None
    names = None
    if "feature_names" in keys:
        # loadmat gives a cell array as an object array of 1-element arrays
        cells = [np.asarray(n).ravel() for n in np.asarray(content["feature_names"]).ravel()]
        names = [str(cell[0]).rstrip() if cell.size else "" for cell in cells]  # char matrices are padded
    return X, y, names


def read_libsvm(
    src: Source, n_features: int | None = None, index_base: int | None = None
) -> tuple[sp.csr_matrix, np.ndarray, None, int]:
    """Read a libsvm/svmlight file, optionally with a model's width and index base.

    Parameters
    ----------
    src : Source
    n_features : int or None
        Number of features the model was trained on. None: the largest index
        in the file (trailing features that never occur are lost).
    index_base : {0, 1} or None
        How feature indices are numbered. None: 0-based if index 0 occurs,
        else 1-based (scikit-learn's ``zero_based="auto"``).

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_rows, n_features)
    y : numpy.ndarray of float64
        The label field of each line, as written (not checked here).
    names : None
    index_base : int
        The index base used.

    Raises
    ------
    DataError
        For an empty file, or, with a model's width and base, a feature index
        outside them.
    MemoryLimitError
        Without a model's width, when the largest feature index makes more
        columns than memory holds (each column gets a name, and a model one
        weight per hidden unit).
    """
    from sklearn.datasets import load_svmlight_file

    with src.open() as fh:
        # indices as written in the file; the base is decided below
        X, y = load_svmlight_file(fh, dtype=np.float64, zero_based=True)
    X = sp.csr_matrix(X)
    if X.shape[0] == 0:
        raise fail(
            src.where,
            "has no data rows",
            "pass a file with at least one 'label index:value ...' line",
        )
    X.sort_indices()
    has_zero = bool(X.nnz) and int(X.indices.min()) == 0
    if index_base is None:
        index_base = 0 if has_zero or X.nnz == 0 else 1
    elif index_base == 1 and has_zero:
        raise fail(
            src.where,
            "uses feature index 0, but the model's training file numbered its features from 1",
            "write this file with the training file's 1-based indices (or refit on 0-based files)",
        )
    width = X.shape[1] - index_base if n_features is None else n_features
    widest = X.shape[1] - index_base
    if n_features is None:
        # the CSR matrix is cheap (12 bytes per stored value); what grows with the largest index
        # is one name per column here, then the model's weights (checked again by DevNet.fit)
        check_allocation(
            width * _BYTES_PER_COLUMN_NAME,
            f"feature index {widest - 1 + index_base} makes {width:,} feature columns, whose names alone",
            "drop the rare features or rebuild the file with compact indices (numbered from 0 or 1 over the "
            "features that occur)",
            where=src.where,
        )
    if widest > width:
        raise fail(
            src.where,
            f"has feature index {widest - 1 + index_base}, beyond the {width} features the model was trained on "
            f"(indices {index_base}..{width - 1 + index_base})",
            "score files with the training file's features only",
        )
    # absent trailing features are zeros: widen to the model's width
    X = sp.csr_matrix((X.data, X.indices - index_base, X.indptr), shape=(X.shape[0], max(width, 0)))
    return X, np.asarray(y), None, index_base
