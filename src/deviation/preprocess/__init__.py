"""Preprocessing of tabular data for DevNet: column values (``columns``) and the fitted transformer (``transformer``).

See ``docs/preprocessing.md``.
"""

from .transformer import MISSING_CATEGORY_LABEL, Preprocessor

__all__ = ["MISSING_CATEGORY_LABEL", "Preprocessor"]
