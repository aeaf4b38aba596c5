"""The paper's data sets we have, where to find them and how to load them.

The shared data folder holds ``paper/`` with thyroid, backdoor, donors,
campaign and celeba exactly as the paper used them, and census as a
categorical-only substitute (see ``docs/REPRODUCTION.md``). fraud, URL and
news20 are not available. The folder is ``--data-dir``, else the environment
variable ``DEVIATION_DATA_DIR``, else ``<repo>/../shared/data`` when it exists.
Without any of them only the bundled thyroid copy is available.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..exceptions import DataError

__all__ = ["DATASETS", "Dataset", "load_dataset", "resolve_data_dir", "subsample"]

# Table 1's order (largest first); the paper's fraud, URL and news20 are absent.
DATASETS = ("donors", "census", "celeba", "backdoor", "campaign", "thyroid")

_FILES: dict[str, tuple[str, dict[str, Any]]] = {
    "donors": ("donors.npz", {}),
    "census": ("census_nominal.tar.xz", {"label": "class", "anomaly_value": "50000+."}),
    "celeba": ("celeba.npz", {}),
    "backdoor": ("backdoor.tar.xz", {"label": "class"}),
    "campaign": ("campaign.npz", {}),
    "thyroid": ("thyroid.csv", {"label": "class"}),
}


@dataclass
class Dataset:
    """Features (float32 ndarray or CSR matrix), true labels and provenance."""

    name: str
    X: Any
    y: np.ndarray
    source: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.X.shape


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder holding ``paper/`` (or the paper's files directly), or ``None``.

    Raises
    ------
    DataError
        When ``data_dir`` (or ``DEVIATION_DATA_DIR``) is given but does not exist.
    """
    for given, what in ((data_dir, "--data-dir"), (os.environ.get("DEVIATION_DATA_DIR"), "DEVIATION_DATA_DIR")):
        if given:
            path = Path(given).expanduser()
            if not path.is_dir():
                raise DataError(f"{what} {str(path)!r} is not a directory; point it at the folder holding paper/.")
            return path
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    return default if default.is_dir() else None


def _find(data_dir: Path, filename: str) -> Path | None:
    for candidate in (data_dir / "paper" / filename, data_dir / filename):
        if candidate.is_file():
            return candidate
    return None


def _one_hot(frame: Any) -> sp.csr_matrix:
    # Census is nominal only: every column one-hot, kept sparse (about 500 columns).
    from sklearn.preprocessing import OneHotEncoder

    enc = OneHotEncoder(handle_unknown="ignore", sparse_output=True, dtype=np.float32)
    return sp.csr_matrix(enc.fit_transform(frame.astype(str)))


def load_dataset(name: str, data_dir: Path | None) -> Dataset:
    """Load one of :data:`DATASETS` as numeric features and 0/1 labels.

    Without a data folder only ``thyroid`` can be loaded (the bundled copy).
    """
    if name not in _FILES:
        raise DataError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    filename, kwargs = _FILES[name]
    path = _find(data_dir, filename) if data_dir is not None else None
    if path is None:
        if name == "thyroid":
            from ..datasets import load_thyroid

            X, y = load_thyroid(return_X_y=True)
            return Dataset(name, np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64), "bundled thyroid")
        where = f"in {data_dir}" if data_dir is not None else "(no data folder: pass --data-dir or set DEVIATION_DATA_DIR)"
        raise DataError(f"data set {name!r} ({filename}) not found {where}")
    from ..io import read_table

    table = read_table(path, **kwargs)
    X = table.X
    if name == "census":
        X = _one_hot(X)
    elif hasattr(X, "to_numpy"):
        X = X.to_numpy(dtype=np.float32)
    else:
        X = np.asarray(X, dtype=np.float32)
    return Dataset(name, X, np.asarray(table.y, dtype=np.int64), str(path))


def subsample(data: Dataset, max_rows: int, rng: np.random.Generator) -> Dataset:
    """A stratified random subset of at most ``max_rows`` rows (``--quick``)."""
    n = data.X.shape[0]
    if n <= max_rows:
        return data
    keep = []
    for label in (0, 1):
        idx = np.flatnonzero(data.y == label)
        k = max(int(round(len(idx) * max_rows / n)), min(len(idx), 60) if label else 1)
        keep.append(rng.choice(idx, k, replace=False))
    rows = np.sort(np.concatenate(keep))
    return Dataset(data.name, data.X[rows], data.y[rows], data.source + f" (subsample of {len(rows)} rows)")
