"""deviation: Deviation Networks (DevNet) for anomaly detection with a few labeled anomalies."""

from __future__ import annotations

from .datasets import load_thyroid
from .estimator import DevNet
from .exceptions import (
    DataError,
    DeviationError,
    FeatureMismatchError,
    MissingDependencyError,
    ModelFileError,
    NotFittedError,
    ParameterError,
)
from .persistence import load, save

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DevNet",
    "DeviationError",
    "FeatureMismatchError",
    "MissingDependencyError",
    "ModelFileError",
    "NotFittedError",
    "ParameterError",
    "__version__",
    "load",
    "load_thyroid",
    "save",
]
