"""deviation: Deviation Networks (DevNet) for anomaly detection with a few labeled anomalies."""

from __future__ import annotations

from .datasets import load_thyroid
from .estimator import DevNet
from .exceptions import (
    DataError,
    DeviationError,
    FeatureMismatchError,
    InvalidParameterError,
    MemoryLimitError,
    MissingDependencyError,
    ModelFileError,
    NotFittedError,
    ParameterError,
)
from .export import export_onnx
from .io import InputSchema, Table, iter_tables, read_table, write_table
from .persistence import load, read_model_info, save
from .preprocess import Preprocessor

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DevNet",
    "DeviationError",
    "FeatureMismatchError",
    "InputSchema",
    "InvalidParameterError",
    "MemoryLimitError",
    "MissingDependencyError",
    "ModelFileError",
    "NotFittedError",
    "ParameterError",
    "Preprocessor",
    "Table",
    "__version__",
    "export_onnx",
    "iter_tables",
    "load",
    "load_thyroid",
    "read_model_info",
    "read_table",
    "save",
    "write_table",
]
