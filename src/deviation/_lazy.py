"""Names of a package imported on first use (PEP 562), shared by the packages that do it.

``deviation``, ``deviation.io`` and ``deviation.scale`` export names whose
modules import pandas or scikit-learn (seconds of start-up): a command that
needs none of them (``deviation score`` of an all-numeric model,
:mod:`deviation.scale.numeric`) must not pay for them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, sources: Mapping[str, str],
                 public: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``: each name from its module on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    sources : mapping of str to str
        Each exported name's module, relative to the package (``".reader"``).
    public : sequence of str
        The package's ``__all__``.

    Returns
    -------
    (__getattr__, __dir__)
    """

    def __getattr__(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source, package), name)
        vars(sys.modules[package])[name] = value  # the next lookups find it without this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
