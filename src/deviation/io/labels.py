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
    """Canonical text of a label value, so that the spellings of one value compare equal.

    ``1``, ``1.0``, ``'1'``, ``' 1 '``, ``True``, ``'True'``, ``'true'`` and
    ``'TRUE'`` all give ``'1'``; ``False`` and its spellings give ``'0'``;
    ``-1`` and ``'-1.0'`` give ``'-1'``; other text is kept as written
    (stripped, case sensitive).
    """
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
    else:
        text = str(value).strip()
        if text.lower() in ("true", "false"):
            return "1" if text.lower() == "true" else "0"
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
            counts = np.bincount(np.asarray(codes)[np.asarray(codes) >= 0], minlength=len(uniques))
            listed = ", ".join(f"{plain(b)!r} ({_rows(counts[uniques.index(b)])})" for b in bad[:5])
            more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
            raise fail(
                where,
                f"has label column {column!r} with values other than 0/1 (empty = unlabeled): {listed}{more}",
                f"pass anomaly_value= naming the anomaly class, e.g. anomaly_value={suggest_anomaly(uniques, counts, bad)!r}",
            )
        lookup = np.array([m for m in mapped] + [0], dtype=np.int8)
    else:
        target = label_key(anomaly_value)
        lookup = np.array([label_key(u) == target for u in uniques] + [False], dtype=np.int8)
        if not lookup.any() and len(codes):
            seen = "values seen: " + ", ".join(repr(plain(u)) for u in uniques[:10]) if len(uniques) else "every cell is empty"
            texts = [str(plain(u)) for u in uniques]
            close = [t for t in texts if t.strip().lower() == str(anomaly_value).strip().lower()]
            close = close or difflib.get_close_matches(str(anomaly_value), texts, n=1)
            hint = f"; did you mean anomaly_value={close[0]!r}?" if close else ""
            logger.warning(
                "%s: anomaly_value=%r matches no row of label column %r (%s); all rows are labeled 0%s",
                where, anomaly_value, column, seen, hint,
            )
    # code -1 (missing) indexes the trailing 0 of the lookup table
    return lookup[np.asarray(codes)]


def _rows(n: int) -> str:
    return f"{int(n)} row" if n == 1 else f"{int(n)} rows"


def suggest_anomaly(uniques: list[Any], counts: np.ndarray, bad: list[Any]) -> Any:
    """The label value a hint proposes as the anomaly class: the rarer of two, else the rarest unusable one.

    Anomalies are the rare class, so of a two-valued label (``yes``/``no``,
    ``-1``/``1``) the minority value is proposed, never the majority; with
    more values, the rarest of those that are not 0/1.
    """
    if len(uniques) == 2:
        pick = uniques[int(np.argmin(counts))] if counts[0] != counts[1] else bad[0]
    else:
        pick = min(bad, key=lambda b: counts[uniques.index(b)])
    return plain(pick)


def plain(value: Any) -> Any:
    """numpy scalars as Python scalars, for readable messages."""
    return value.item() if isinstance(value, np.generic) else value


#: Columns listed in full in a message when a name is not found; longer headers show the closest names first.
LISTED_COLUMNS = 50
_NOUNS = {"label": ("label column ", ""), "id": ("id column ", ""), "drop": ("column ", " to drop")}
_OPTIONS = {"label": "label", "id": "id_column", "drop": "drop"}


def closest_columns(key: str, columns: Sequence[str], n: int = 3) -> list[str]:
    """Names of ``columns`` closest to ``key``: same name in another letter case first, then difflib's."""
    lowered = {c.lower(): c for c in reversed(list(columns))}
    exact = [lowered[key.lower()]] if key.lower() in lowered else []
    by_case = difflib.get_close_matches(key.lower(), list(lowered), n=n, cutoff=0.6)
    close = exact + [lowered[c] for c in by_case]
    return list(dict.fromkeys(close))[:n]


def columns_listing(columns: Sequence[str], key: str) -> str:
    """The columns of a file for a message: all of them up to :data:`LISTED_COLUMNS`, else the closest first."""
    columns = [str(c) for c in columns]
    if len(columns) <= LISTED_COLUMNS:
        return "columns: " + ", ".join(repr(c) for c in columns)
    close = closest_columns(key, columns, n=10)
    shown = close or columns[:10]
    kind = "closest" if close else "first"
    return f"{len(columns)} columns, the {kind}: " + ", ".join(repr(c) for c in shown) + ", ..."


def column_key(columns: Sequence[Any], key: str | int, what: str, where: str) -> Any:
    """Find a column by name or integer position among ``columns`` (the file's header).

    Parameters
    ----------
    columns : sequence
        The file's column names.
    key : str or int
        A name, or a position (negative counts from the end).
    what : {'label', 'id', 'drop'}
        What the column is for, to word the messages.
    where : str
        The file, for messages.

    Returns
    -------
    The column name as it is in ``columns``.

    Raises
    ------
    DataError
        For a name that is not a column (the message lists the columns, or
        the closest ones for a wide file, and suggests a close name) or a
        position out of range.
    """
    columns = list(columns)
    option = _OPTIONS.get(what, what)
    if isinstance(key, bool) or not isinstance(key, (str, int, np.integer)):
        raise DataError(
            f"{option}= must be a column name (str) or an integer position, got {key!r}; pass e.g. {option}='class'",
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
    close = closest_columns(key, text_columns, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    noun, suffix = _NOUNS.get(what, (f"{what} column ", ""))
    raise fail(
        where,
        f"has no {noun}{key!r}{suffix} ({columns_listing(text_columns, key)})",
        f"{hint}pass {option}= one of the existing columns",
    )
