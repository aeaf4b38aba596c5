"""Optional dependencies (extras): one import helper with one install hint wording."""

from __future__ import annotations

import importlib
from types import ModuleType

from .exceptions import MissingDependencyError


def import_optional(module: str, extra: str, what: str, alternative: str = "") -> ModuleType:
    """Import an optional module, or raise one clear error naming the extra that installs it.

    Parameters
    ----------
    module : str
        The module to import (``"torch"``, ``"catboost"``, ``"dask.dataframe"``).
    extra : str
        The ``deviation`` extra that installs it (``pip install 'deviation[extra]'``).
    what : str
        What needs it, for the message (e.g. ``"DevNet(engine='torch')"``).
    alternative : str, optional
        What works without it, appended to the message.

    Returns
    -------
    module

    Raises
    ------
    MissingDependencyError
        When the module cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        tail = f" ({alternative})" if alternative else ""
        raise MissingDependencyError(
            f"{what} needs {top}, which is not installed; install it with pip install 'deviation[{extra}]'{tail}."
        ) from None
