"""deviation: Deviation Networks (DevNet) for anomaly detection with a few labeled anomalies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
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

# The public names are imported on first use (PEP 562), so that `import deviation` and the
# `deviation` command start fast, and Ctrl-C during start-up is handled by the command
# (deviation._entry) rather than interrupting an import with a traceback.
_SOURCES = {
    "load_thyroid": ".datasets",
    "DevNet": ".estimator",
    "DataError": ".exceptions",
    "DeviationError": ".exceptions",
    "FeatureMismatchError": ".exceptions",
    "InvalidParameterError": ".exceptions",
    "MemoryLimitError": ".exceptions",
    "MissingDependencyError": ".exceptions",
    "ModelFileError": ".exceptions",
    "NotFittedError": ".exceptions",
    "ParameterError": ".exceptions",
    "export_onnx": ".export",
    "InputSchema": ".io",
    "Table": ".io",
    "iter_tables": ".io",
    "read_table": ".io",
    "write_table": ".io",
    "load": ".persistence",
    "read_model_info": ".persistence",
    "save": ".persistence",
    "Preprocessor": ".preprocess",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)
