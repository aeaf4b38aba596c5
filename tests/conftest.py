from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from deviation import load_thyroid

# reproduction/ (the paper's experiments) is not installed: it is imported from the checkout.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

SHARED_DATA = Path(os.environ.get("DEVIATION_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def thyroid():
    """The bundled real thyroid data: X (7200, 21) float64, y with 534 anomalies."""
    return load_thyroid(return_X_y=True)


@pytest.fixture(scope="session")
def thyroid_split(thyroid):
    """One split of the paper's protocol (80/20, 2% contamination, 30 labeled anomalies)."""
    from deviation.protocol import paper_split

    X, y = thyroid
    s = paper_split(X, y, np.random.default_rng(1))
    return s.X_train, s.y_train, s.X_test, s.y_test


# Hypothesis profiles for the property tests (tests/test_properties.py):
# "ci" (default) keeps the suite fast, "long" is the fuzz run of scripts/fuzz.sh.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass
else:
    _health = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    settings.register_profile("ci", max_examples=30, deadline=None, suppress_health_check=_health, database=None,
                              derandomize=True, print_blob=True)
    settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=_health)
    settings.register_profile("long", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "3000")), deadline=None,
                              suppress_health_check=_health, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def true_vs_shuffled_pr(split, seeds, preset: str = "default") -> tuple[list[float], list[float]]:
    """AUC-PR on the test part of DevNet trained with the true and with shuffled labels, per seed."""
    from sklearn.metrics import average_precision_score

    from deviation import DevNet

    X_train, y_train, X_test, y_test = split
    true_pr, shuffled_pr = [], []
    for seed in seeds:
        model = DevNet(random_state=seed, preset=preset).fit(X_train, y_train)
        true_pr.append(average_precision_score(y_test, model.decision_function(X_test)))
        y_shuffled = np.random.default_rng(seed).permutation(y_train)
        model = DevNet(random_state=seed, preset=preset).fit(X_train, y_shuffled)
        shuffled_pr.append(average_precision_score(y_test, model.decision_function(X_test)))
    return true_pr, shuffled_pr
