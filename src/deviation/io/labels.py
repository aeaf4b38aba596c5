"""Label columns: which rows are labeled anomalies, and finding a column by name."""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError
from .sources import fail

logger = logging.getLogger(__name__)



BINARY_STRINGS = {"": 0, "0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}


def as_binary(value: Any) -> int | None:
    """Map one distinct label value to 0/1, or None when it is not binary."""
    if value is None or value is pd.NA or value is pd.NaT:
        return 0
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value) if value in (0, 1) else None
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return 0
        return int(value) if value in (0.0, 1.0) else None
    if isinstance(value, str):
        return BINARY_STRINGS.get(value.strip().lower())
    return None


def label_key(value: Any) -> str:
    """Canonical text of a label value so that 1, 1.0, '1' and ' 1 ' compare equal."""
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            return text
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return repr(number)


def to_binary_labels(values: Any, anomaly_value: Any, where: str, column: str) -> np.ndarray:
    """Turn a label column into int8 0/1 (1 = anomaly); missing values give 0."""
    codes, uniques = pd.factorize(pd.Series(values), use_na_sentinel=True)
    uniques = list(uniques)
    if anomaly_value is None:
        mapped = [as_binary(u) for u in uniques]
        bad = [u for u, m in zip(uniques, mapped) if m is None]
        if bad:
            listed = ", ".join(repr(plain(b)) for b in bad[:5])
            more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
            raise fail(
                where,
                f"has label column {column!r} with values other than 0/1 (empty = unlabeled): {listed}{more}",
                f"pass anomaly_value= naming the anomaly class, e.g. anomaly_value={plain(bad[0])!r}",
            )
        lookup = np.array([m for m in mapped] + [0], dtype=np.int8)
    else:
        target = label_key(anomaly_value)
        lookup = np.array([label_key(u) == target for u in uniques] + [False], dtype=np.int8)
        if not lookup.any() and len(codes):
            seen = ", ".join(repr(plain(u)) for u in uniques[:10])
            logger.warning(
                "%s: anomaly_value=%r matches no row of label column %r (values seen: %s); all rows are labeled 0",
                where, anomaly_value, column, seen,
            )
    # code -1 (missing) indexes the trailing 0 of the lookup table
    return lookup[np.asarray(codes)]


def plain(value: Any) -> Any:
    """numpy scalars as Python scalars, for readable messages."""
    return value.item() if isinstance(value, np.generic) else value


def column_key(columns: Sequence[Any], key: str | int, what: str, where: str) -> Any:
    """Find a column by name or integer position among ``columns`` (the file's header)."""
    columns = list(columns)
    if isinstance(key, bool) or not isinstance(key, (str, int, np.integer)):
        raise DataError(
            f"{what} must be a column name (str) or an integer position, got {key!r}; pass e.g. {what}='class'",
        )
    if isinstance(key, (int, np.integer)):
        if -len(columns) <= int(key) < len(columns):
            return columns[int(key)]
        raise fail(
            where,
            f"has {len(columns)} columns, so {what} position {int(key)} is out of range",
            f"pass a position in [-{len(columns)}, {len(columns) - 1}] or a column name",
        )
    if key in columns:
        return key
    text_columns = [str(c) for c in columns]
    if key in text_columns:
        return columns[text_columns.index(key)]
    listed = ", ".join(repr(c) for c in text_columns[:10])
    if len(columns) > 10:
        listed += f", ... ({len(columns)} in total)"
    close = difflib.get_close_matches(key, text_columns, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise fail(
        where,
        f"has no {what} column {key!r} (columns: {listed})",
        f"{hint}pass {'id_column' if what == 'id' else what}= one of the existing columns",
    )
