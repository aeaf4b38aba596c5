"""Bundled real data: the paper's thyroid set (see ``data/README.md`` for its origin)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["load_thyroid", "thyroid_path"]


def thyroid_path() -> str:
    """Path of the bundled ``thyroid.csv`` (label column ``class``, 1 = anomaly)."""
    return str(resources.files("deviation") / "data" / "thyroid.csv")


def load_thyroid(*, return_X_y: bool = False, as_frame: bool = False) -> Any:
    """Load the annthyroid data exactly as the DevNet authors preprocessed it.

    7,200 patients, 21 features (15 binary, 6 continuous min-max scaled to
    [0, 1]), 534 hypothyroid patients as anomalies (label 1).

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a dict.
    as_frame : bool, default=False
        ``X`` as a pandas DataFrame (with the file's column names) and ``y``
        as a Series, instead of NumPy arrays.

    Returns
    -------
    (X, y) or dict
        The dict has keys ``data``, ``target``, ``feature_names``.

    Examples
    --------
    >>> X, y = load_thyroid(return_X_y=True)
    >>> X.shape, int(y.sum())
    ((7200, 21), 534)
    """
    frame = pd.read_csv(thyroid_path())
    y = frame.pop("class").astype(np.int64)
    X: Any = frame if as_frame else frame.to_numpy(dtype=np.float64)
    if not as_frame:
        y = y.to_numpy()
    if return_X_y:
        return X, y
    return {"data": X, "target": y, "feature_names": list(frame.columns)}
