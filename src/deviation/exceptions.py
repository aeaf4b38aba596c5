"""Exceptions raised by deviation.

The tree::

    DeviationError (Exception)
     +-- DataError (DeviationError, ValueError)         bad features, labels or files
     |    +-- FeatureMismatchError (DataError)          wrong columns at scoring time
     |    +-- MemoryLimitError (DataError, MemoryError) the input would need more memory than is available
     +-- ParameterError (DeviationError, ValueError)    an estimator parameter out of range
     |    +-- InvalidParameterError (ParameterError, TypeError)  a parameter outside its declared constraints
     +-- ModelFileError (DeviationError, ValueError)    a model file that cannot be trusted or read
     +-- NotFittedError (DeviationError, sklearn.exceptions.NotFittedError)
     +-- MissingDependencyError (DeviationError, ImportError)  an optional extra is not installed

Every exception subclasses the built-in type a Python user would catch
(``ValueError``, ``ImportError``), and the scikit-learn one where it exists, so
code written for scikit-learn keeps working. ``MemoryLimitError`` is raised
before an allocation sized by the input (see ``deviation._memory``): as a
``DataError`` the command line prints it as one line, and ``except
MemoryError`` still catches it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

__all__ = [
    "DataError",
    "DeviationError",
    "FeatureMismatchError",
    "InvalidParameterError",
    "MemoryLimitError",
    "MissingDependencyError",
    "ModelFileError",
    "NotFittedError",
    "ParameterError",
]


class DeviationError(Exception):
    """Base class of every error raised on purpose by deviation."""


class DataError(DeviationError, ValueError):
    """Input data (features, labels or a data file) cannot be used as given."""


class FeatureMismatchError(DataError):
    """The data to score does not have the features the model was trained on."""


class MemoryLimitError(DataError, MemoryError):
    """The input would need more memory than is available, found before allocating it.

    The message names what is too big (a column, a width, a file), the memory
    it would need, the memory available and what to do instead. ``nbytes``
    and ``available`` hold the two sizes in bytes (None when not given).
    """

    def __init__(self, message: str, *, nbytes: int | None = None, available: int | None = None) -> None:
        super().__init__(message)
        self.nbytes = nbytes
        self.available = available


class ParameterError(DeviationError, ValueError):
    """An estimator parameter has an invalid type or value."""


class InvalidParameterError(ParameterError, TypeError):
    """A parameter satisfies none of the constraints its class declares.

    Raised by the shared parameter check (``deviation._params.validate_params``)
    with one wording for every class: "The 'margin' parameter of DevNet must be
    a float > 0. Got -1 instead." Like scikit-learn's error of the same name, it
    is both a ``ValueError`` and a ``TypeError`` (a wrong value or a wrong type).
    """


class ModelFileError(DeviationError, ValueError):
    """A model file is truncated, tampered with, foreign or from a newer format."""


if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(DeviationError, _SklearnNotFittedError):
        """The estimator is used before ``fit`` was called (made on first use, see ``__getattr__`` below)."""


class MissingDependencyError(DeviationError, ImportError):
    """An optional dependency (an extra such as ``deviation[plot]``) is missing."""


def __getattr__(name: str) -> Any:
    # NotFittedError subclasses scikit-learn's, and importing scikit-learn takes about two seconds:
    # the class is made on first use, so that commands which never need scikit-learn (the all-numeric
    # path of `deviation score`, deviation.scale.numeric) start without it
    if name != "NotFittedError":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _MAKING:
        made = globals().get("NotFittedError")
        if made is not None:  # another thread made it first
            return made
        from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

        class NotFittedError(DeviationError, _SklearnNotFittedError):
            """The estimator is used before ``fit`` was called."""

        NotFittedError.__module__ = __name__
        NotFittedError.__qualname__ = "NotFittedError"
        globals()["NotFittedError"] = NotFittedError
        return NotFittedError


_MAKING = threading.Lock()
