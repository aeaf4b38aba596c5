from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from deviation import load_thyroid

SHARED_DATA = Path(os.environ.get("DEVIATION_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def thyroid():
    """The bundled real thyroid data: X (7200, 21) float64, y with 534 anomalies."""
    return load_thyroid(return_X_y=True)


@pytest.fixture(scope="session")
def thyroid_split(thyroid):
    """One split of the paper's protocol (80/20, 2% contamination, 30 labeled anomalies)."""
    from deviation.bench.protocol import paper_split

    X, y = thyroid
    s = paper_split(X, y, np.random.default_rng(1))
    return s.X_train, s.y_train, s.X_test, s.y_test
