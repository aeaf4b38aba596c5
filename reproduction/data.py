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

from deviation import DataError

__all__ = [
    "DATASETS",
    "EXTRA_DATASETS",
    "QUALIFYING_EXTRA",
    "Dataset",
    "load_dataset",
    "resolve_data_dir",
    "subsample",
]

# Table 1's order (largest first); the paper's fraud, URL and news20 are absent.
DATASETS = ("donors", "census", "celeba", "backdoor", "campaign", "thyroid")

#: Other real numeric sets in ``extra/`` (ADBench's Classical files and ODDS
#: arrhythmia), by short name. ``odds_thyroid`` is ODDS "thyroid" (3,772 x 6),
#: a different data set from the paper's thyroid.
EXTRA_DATASETS: dict[str, str] = {
    "aloi": "adbench_aloi.npz",
    "arrhythmia": "odds_arrhythmia.mat",
    "breastw": "adbench_breastw.npz",
    "cardiotocography": "adbench_cardiotocography.npz",
    "cover": "adbench_cover.npz",
    "glass": "adbench_glass.npz",
    "hepatitis": "adbench_hepatitis.npz",
    "http": "adbench_http.npz",
    "ionosphere": "adbench_ionosphere.npz",
    "lymphography": "adbench_lymphography.npz",
    "magic_gamma": "adbench_magic_gamma.npz",
    "mnist": "adbench_mnist.npz",
    "odds_thyroid": "adbench_thyroid.npz",
    "pageblocks": "adbench_pageblocks.npz",
    "pima": "adbench_pima.npz",
    "satellite": "adbench_satellite.npz",
    "skin": "adbench_skin.npz",
    "smtp": "adbench_smtp.npz",
    "spambase": "adbench_spambase.npz",
    "stamps": "adbench_stamps.npz",
    "vertebral": "adbench_vertebral.npz",
    "wbc": "adbench_wbc.npz",
    "wdbc": "adbench_wdbc.npz",
    "wine": "adbench_wine.npz",
    "wpbc": "adbench_wpbc.npz",
    "yeast": "adbench_yeast.npz",
}

#: The 16 ``extra/`` sets with at least 60 anomalies (enough for 30 labeled
#: ones, the contamination and a test part).
QUALIFYING_EXTRA = (
    "aloi", "arrhythmia", "breastw", "cardiotocography", "cover", "http",
    "ionosphere", "magic_gamma", "mnist", "odds_thyroid", "pageblocks", "pima",
    "satellite", "skin", "spambase", "yeast",
)

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
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
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


def _load_extra(name: str, data_dir: Path | None) -> Dataset:
    filename = EXTRA_DATASETS[name]
    path = None
    if data_dir is not None:
        for candidate in (data_dir / "extra" / filename, data_dir / filename):
            if candidate.is_file():
                path = candidate
                break
    if path is None:
        where = f"in {data_dir}/extra" if data_dir is not None else "(no data folder: pass --data-dir or set DEVIATION_DATA_DIR)"
        raise DataError(f"data set {name!r} ({filename}) not found {where}")
    if path.suffix == ".mat":
        from scipy.io import loadmat

        raw = loadmat(path)
    else:
        with np.load(path, allow_pickle=False) as npz:
            raw = {key: npz[key] for key in ("X", "y")}
    X = np.asarray(raw["X"], dtype=np.float32)
    y = np.asarray(raw["y"]).ravel().astype(np.int64)
    return Dataset(name, X, y, str(path))


def load_dataset(name: str, data_dir: Path | None) -> Dataset:
    """Load one of :data:`DATASETS` or :data:`EXTRA_DATASETS` as numeric features and 0/1 labels.

    Without a data folder only ``thyroid`` can be loaded (the bundled copy).
    The ``extra/`` sets are returned unscaled, as stored.
    """
    if name in EXTRA_DATASETS:
        return _load_extra(name, data_dir)
    if name not in _FILES:
        raise DataError(
            f"unknown data set {name!r}; choose from {', '.join(DATASETS)} "
            f"or the extra sets {', '.join(EXTRA_DATASETS)}"
        )
    filename, kwargs = _FILES[name]
    path = _find(data_dir, filename) if data_dir is not None else None
    if path is None:
        if name == "thyroid":
            from deviation import load_thyroid

            X, y = load_thyroid(return_X_y=True)
            return Dataset(name, np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64), "bundled thyroid")
        where = f"in {data_dir}" if data_dir is not None else "(no data folder: pass --data-dir or set DEVIATION_DATA_DIR)"
        raise DataError(f"data set {name!r} ({filename}) not found {where}")
    from deviation import read_table

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
