"""What each column of a table is: the rules that decide, at fit, how a column becomes features.

Every DataFrame column is given one kind, by rules a user can read
(``docs/preprocessing.md`` lists them with examples):

=============  ==========================================================  ========================
kind           rule (non-missing cells; the reader has already read         becomes
               empty, ``?``, ``NA``, ``null``, ... as missing)
=============  ==========================================================  ========================
constant       at most one distinct value                                  left out
binary         numbers, all 0 or 1 (true/false columns are read as 1/0)    one feature, as is
numeric        numbers; or text that is numbers once currency symbols      one feature, scaled
               (``$ € £ ¥``), thousands separators (``1,234``), percent
               signs (``45%`` = 0.45) and accounting negatives
               (``(1,234)``) are read
datetime       text that is dates (ISO ``2024-03-01``, ``2024-03-01 12:30``  hour (when the data has
               or ``T12:30:00``; ``dd/mm/yyyy`` or ``mm/dd/yyyy``, the      times), day of week,
               order inferred from values above 12), or a datetime column   day of month, month
identifier     text or integers nearly all distinct (>= 95% of >= 50 rows  left out, with a warning
               for text; integers also sequential, >= 10 digits, or
               named like an id); integers beyond 2^53 (16+ digits)
text           free text: mostly distinct, long strings with spaces        left out, with a warning
categorical    any other text                                              one-hot, rare values
                                                                           pooled, width capped
=============  ==========================================================  ========================

Identifiers, free text and constant columns are left out with a warning
rather than refused, so that ``deviation fit`` on a table with an undeclared
transaction id finishes (declare it with ``--id-column`` to copy it to the
outputs). Dates become features that generalise to dates never seen,
instead of one category per date. The kinds and what each needs at scoring
(date format, number format, kept categories) are saved with the model and
applied to every file it scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError
from .columns import is_numeric_dtype, to_category_column

KINDS = ("numeric", "binary", "categorical", "datetime", "identifier", "text", "constant")
#: Kinds whose column is left out of the features.
LEFT_OUT = ("identifier", "text", "constant")
#: The level rare and unseen values of a categorical column are pooled into.
INFREQUENT_LABEL = "<infrequent>"
#: Date parts a datetime column becomes (hour only when the training data has times of day).
DATE_PARTS = ("hour", "day_of_week", "day_of_month", "month")

_ID_SHARE = 0.95
_ID_MIN_ROWS = 50
_TEXT_MEAN_LENGTH = 30
_ID_NAME = re.compile(r"(^|[^a-z])(id|ids|key|uuid|guid|ref|code|number|no|num|nr)([^a-z]|$)", re.IGNORECASE)
_CURRENCY = "$€£¥₹"
_SLASH_DATE = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


@dataclass
class ColumnKind:
    """The kind of one input column and what reading it needs.

    Attributes
    ----------
    name : str
        The input column.
    kind : str
        One of :data:`KINDS`.
    reason : str
        Why, in a few words, when it is not the obvious choice (shown by
        ``deviation fit`` and ``deviation info``).
    spec : dict
        What transform needs: ``{"currency": ..., "percent": ..., ...}`` for
        numbers written as text, ``{"format": "dd/mm/yyyy", "parts": [...]}``
        for dates, ``{"levels": [...], "infrequent": bool}`` for categories.
    """

    name: str
    kind: str
    reason: str = ""
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        """The names of the features this column becomes (empty when left out)."""
        if self.kind in LEFT_OUT:
            return []
        if self.kind == "datetime":
            return [f"{self.name}.{part}" for part in self.spec.get("parts", DATE_PARTS[1:])]
        return [self.name]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, for the model file."""
        return {"name": self.name, "kind": self.kind, "reason": self.reason, "spec": dict(self.spec)}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> ColumnKind:
        """Rebuild from :meth:`to_dict` (checked: an unknown kind raises ValueError)."""
        kind = str(state["kind"])
        if kind not in KINDS:
            raise ValueError(f"unknown column kind {kind!r}")
        return cls(str(state["name"]), kind, str(state.get("reason", "")), dict(state.get("spec", {})))


# ------------------------------------------------------------------ numbers written as text
def parse_number_text(values: pd.Series, decimal: str = ".") -> tuple[np.ndarray, np.ndarray, dict[str, bool]]:
    """Numbers written as text: currency symbols, thousands separators, percent signs, (negatives).

    Parameters
    ----------
    values : pandas.Series of str (None = missing)
    decimal : {".", ","}
        The decimal mark; the other one is taken as the thousands separator.

    Returns
    -------
    numbers : numpy.ndarray of float64
        NaN where the cell is missing or is not a number.
    bad : numpy.ndarray of bool
        True where a non-missing cell is not a number.
    seen : dict of str to bool
        Which decorations occurred (``currency``, ``thousands``, ``percent``,
        ``parentheses``), for the column report.
    """
    text = values.astype("object").where(values.notna(), None)
    s = pd.Series(text, dtype="object").str.strip()
    present = s.notna().to_numpy()
    paren = s.str.match(r"^\(.*\)$").fillna(False).to_numpy(dtype=bool)
    s = s.str.replace(r"^\((.*)\)$", r"\1", regex=True)
    pct = s.str.endswith("%").fillna(False).to_numpy(dtype=bool)
    s = s.str.rstrip("%").str.strip()
    currency = s.str.contains(f"[{_CURRENCY}]", regex=True).fillna(False).to_numpy(dtype=bool)
    s = s.str.replace(f"[{_CURRENCY}]", "", regex=True).str.strip()
    # a sign may sit before or after the currency symbol ("-$12", "$-12")
    thousands_mark = "," if decimal == "." else "."
    grouped = s.str.match(rf"^[-+]?\d{{1,3}}(\{thousands_mark}\d{{3}})+(\{decimal}\d*)?$").fillna(False).to_numpy(dtype=bool)
    s = s.where(~grouped, s.str.replace(thousands_mark, "", regex=False))
    if decimal == ",":
        s = s.str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = present & np.isnan(numbers) & ~s.str.lower().isin(["nan"]).to_numpy(dtype=bool)
    numbers = np.where(paren, -np.abs(numbers), numbers)
    numbers = np.where(pct, numbers / 100.0, numbers)
    ok = present & ~bad
    seen = {
        "currency": bool((currency & ok).any()),
        "thousands": bool((grouped & ok).any()),
        "percent": bool((pct & ok).any()),
        "parentheses": bool((paren & ok).any()),
    }
    return numbers, bad, seen


def _describe_numbers(seen: dict[str, bool]) -> str:
    words = {"currency": "currency symbols", "thousands": "thousands separators", "percent": "percent signs (45% = 0.45)",
             "parentheses": "(negatives)"}
    return "numbers written as text: " + ", ".join(words[k] for k, v in seen.items() if v) + " read"


# ------------------------------------------------------------------ dates
def _date_format(sample: pd.Series) -> tuple[str | None, str]:
    """The date format of a sample of text cells, or None; and a note when the order was ambiguous."""
    cells = sample.str.strip()
    matches = cells.str.extract(_SLASH_DATE.pattern)
    if matches[0].notna().all():
        first = matches[0].astype(int)
        second = matches[2].astype(int)
        if (first > 12).any() and (second > 12).any():
            return None, ""
        if (second > 12).any():
            return "mm/dd/yyyy", ""
        note = "" if (first > 12).any() else " (day and month both <= 12 in every row: read day first)"
        return "dd/mm/yyyy", note
    if cells.str.match(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$").all():
        return "iso", ""
    return None, ""


def parse_dates(values: pd.Series, fmt: str) -> tuple[pd.Series, np.ndarray]:
    """Text cells as datetimes by a format of :func:`_date_format` (``iso``, ``dd/mm/yyyy``, ``mm/dd/yyyy``).

    Returns
    -------
    dates : pandas.Series of datetime64 (NaT = missing or unreadable)
    bad : numpy.ndarray of bool
        True where a non-missing cell is not a date of that format.
    """
    text = pd.Series(values.astype("object").where(values.notna(), None), dtype="object").str.strip()
    present = text.notna().to_numpy()
    if fmt == "iso":
        dates = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True).dt.tz_localize(None)
    else:
        parts = text.str.extract(_SLASH_DATE.pattern)
        day, month = (parts[0], parts[2]) if fmt == "dd/mm/yyyy" else (parts[2], parts[0])
        # two-digit years as strptime's %y reads them: 69-99 are 1969-1999, 00-68 are 2000-2068
        short = pd.to_numeric(parts[3], errors="coerce")
        year = short.where(parts[3].str.len() != 2, np.where(short >= 69, 1900 + short, 2000 + short))
        frame = pd.DataFrame({
            "year": year, "month": pd.to_numeric(month, errors="coerce"),
            "day": pd.to_numeric(day, errors="coerce"), "hour": pd.to_numeric(parts[4], errors="coerce").fillna(0),
            "minute": pd.to_numeric(parts[5], errors="coerce").fillna(0),
            "second": pd.to_numeric(parts[6], errors="coerce").fillna(0),
        })
        dates = pd.to_datetime(frame, errors="coerce")
    bad = present & dates.isna().to_numpy()
    return dates, bad


def date_parts(dates: pd.Series, parts: list[str]) -> dict[str, np.ndarray]:
    """The features of a datetime column: hour, day of week (Monday = 0), day of month, month; NaN where missing."""
    accessor = dates.dt
    table = {
        "hour": accessor.hour + accessor.minute / 60.0,
        "day_of_week": accessor.day_of_week,
        "day_of_month": accessor.day,
        "month": accessor.month,
    }
    return {part: table[part].to_numpy(dtype=np.float64, na_value=np.nan) for part in parts}


# ------------------------------------------------------------------ classification
def _looks_like_id(name: str) -> bool:
    return bool(_ID_NAME.search(re.sub(r"([a-z])([A-Z])", r"\1_\2", name)))


def _classify_numbers(name: str, values: np.ndarray) -> ColumnKind:
    present = values[~np.isnan(values)]
    distinct = np.unique(present)
    n = present.size
    if n >= _ID_MIN_ROWS and np.all(np.abs(distinct) >= 2.0**53) and np.all(distinct == np.round(distinct)):
        # float64 cannot tell such integers apart (2^63 + 1 == 2^63 + 2 as floats): they are codes
        # (ids, hashes, card numbers), and as a feature they would be a few rounded values
        return ColumnKind(name, "identifier",
                          f"integers of 16 or more digits in {n:,} rows (beyond 2^53, not exact as numbers): "
                          "left out (declare it with --id-column to keep it in outputs)")
    if distinct.size <= 1 and values.size >= 2:
        shown = "no value" if distinct.size == 0 else f"one value ({distinct[0]:g})"
        return ColumnKind(name, "constant", f"{shown} in every row: left out")
    if np.isin(distinct, (0.0, 1.0)).all():
        return ColumnKind(name, "binary")
    if n >= _ID_MIN_ROWS and distinct.size >= 0.99 * n and np.all(distinct == np.round(distinct)):
        steps = np.diff(distinct)
        sequential = steps.size and np.median(steps) == 1
        long_codes = distinct.min() >= 1e9
        if sequential or long_codes or _looks_like_id(name):
            why = "sequential" if sequential else ("of 10 or more digits" if long_codes else "named like an id")
            return ColumnKind(name, "identifier",
                              f"{distinct.size:,} distinct integers in {n:,} rows, {why}: left out "
                              f"(declare it with --id-column to keep it in outputs)")
    return ColumnKind(name, "numeric")


def classify_column(
    name: str, column: pd.Series, *, categorical: bool = False, decimal: str = ".",
    max_categories: int | None = 100, min_frequency: int | None = 5,
) -> ColumnKind:
    """Decide the kind of one column by the rules of this module's docstring.

    Parameters
    ----------
    name : str
    column : pandas.Series
        The column as read (numbers as float64; text as str, None = missing).
    categorical : bool
        The user declared it categorical (``--categorical`` / ``categorical=[...]``).
    decimal : str
        The decimal mark of numbers written as text.
    max_categories, min_frequency : int or None
        The categorical pooling (see :func:`pooled_levels`).

    Returns
    -------
    ColumnKind

    Raises
    ------
    DataError
        For a column of nearly all numbers with a few words in it (a typo,
        not a category), naming the column and the first word.
    """
    dtype = column.dtype
    if categorical:
        return _categorical(name, column, max_categories, min_frequency, "declared categorical")
    if pd.api.types.is_datetime64_any_dtype(dtype):
        dates = pd.to_datetime(column, errors="coerce", utc=True).dt.tz_localize(None)
        return _datetime_kind(name, dates, "datetime64", "")
    if is_numeric_dtype(dtype):
        with np.errstate(invalid="ignore", over="ignore"):
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return _classify_numbers(name, values)
    if isinstance(dtype, pd.CategoricalDtype):
        if column.nunique(dropna=True) <= 1 and len(column) >= 2:
            return ColumnKind(name, "constant", "one level in every row: left out")
        return _categorical(name, column, max_categories, min_frequency, "")
    text = pd.Series(to_category_column(column), index=column.index, dtype="object")
    present = text.dropna()
    # the rules look at each distinct value once (a categorical column of 1M rows has a few dozen)
    counts = present.value_counts(sort=False)
    distinct = counts.index.to_numpy(dtype=object)
    if len(distinct) <= 1 and len(text) >= 2:
        shown = "no value" if len(distinct) == 0 else f"one value ({distinct[0]!r})"
        return ColumnKind(name, "constant", f"{shown} in every row: left out")
    uniques = pd.Series(distinct, dtype="object")
    numbers_u, bad_u, seen = parse_number_text(uniques, decimal)
    n_bad = int(counts.to_numpy()[bad_u].sum())
    if n_bad == 0:
        with_pct = uniques.str.strip().str.endswith("%").to_numpy(dtype=bool)
        if seen["percent"] and not with_pct.all():
            plain = uniques[~with_pct].iloc[0]
            raise DataError(
                f"Column {name!r} mixes percentages (e.g. {uniques[with_pct].iloc[0]!r}) with plain numbers "
                f"(e.g. {plain!r}), which would be read 100 times apart; write every cell one way"
            )
        if any(seen.values()):
            return ColumnKind(name, "numeric", _describe_numbers(seen), {"decimal": decimal, **seen})
        numbers, _, _ = parse_number_text(text, decimal)
        return _classify_numbers(name, numbers)
    if n_bad <= 0.1 * len(present) and len(present) >= 10:
        bad_values = set(distinct[bad_u])
        row = int(np.flatnonzero(text.isin(bad_values).to_numpy())[0])
        raise DataError(
            f"Column {name!r} is numeric but holds non-numeric values such as {text.iloc[row]!r} "
            f"(data row {row + 1}); fix or blank them, or list the column as categorical "
            "(--categorical on the command line; Preprocessor(categorical=[...]) in Python)."
        )
    fmt, note = _date_format(uniques.iloc[:2000])
    if fmt is not None:
        dates_u, bad_dates = parse_dates(uniques, fmt)
        if not bad_dates.any():
            return _datetime_kind(name, dates_u, fmt, note)
    n = len(present)
    share = len(distinct) / n
    lengths = present.str.len()
    if n >= _ID_MIN_ROWS and share >= _ID_SHARE:
        spaced = present.str.contains(" ", regex=False).mean()
        if lengths.mean() >= _TEXT_MEAN_LENGTH or spaced > 0.5:
            return ColumnKind(name, "text", f"free text ({len(distinct):,} distinct values, {lengths.mean():.0f} "
                                            "characters on average): left out")
        return ColumnKind(name, "identifier", f"{len(distinct):,} distinct values in {n:,} rows: left out "
                                              "(declare it with --id-column to keep it in outputs)")
    if share >= 0.5 and lengths.mean() >= _TEXT_MEAN_LENGTH and present.str.contains(" ", regex=False).mean() > 0.5:
        return ColumnKind(name, "text", f"free text ({len(distinct):,} distinct values, {lengths.mean():.0f} "
                                        "characters on average): left out")
    return _categorical(name, text, max_categories, min_frequency, "")


def _datetime_kind(name: str, dates: pd.Series, fmt: str, note: str) -> ColumnKind:
    present = dates.dropna()
    if present.nunique() <= 1:
        return ColumnKind(name, "constant", "one date in every row: left out")
    has_time = bool(((present.dt.hour != 0) | (present.dt.minute != 0)).any())
    parts = list(DATE_PARTS) if has_time else list(DATE_PARTS[1:])
    shown = {"iso": "ISO dates" + (" with times" if has_time else ""), "datetime64": "a date/time column"}.get(fmt, fmt)
    reason = f"{shown}{note}; features: {', '.join(p.replace('_', ' ') for p in parts)}"
    return ColumnKind(name, "datetime", reason, {"format": fmt, "parts": parts})


#: Up to this many values pooled into the infrequent level are listed in the model file, so that
#: scoring tells values seen at fit from new ones.
MAX_POOLED_LISTED = 10_000


def pooled_levels(column: pd.Series, max_categories: int | None, min_frequency: int | None) -> tuple[list[str], bool]:
    """The levels of a categorical column kept as their own feature, and whether others are pooled.

    Values seen fewer than ``min_frequency`` times are pooled into one
    infrequent level (on columns of at least ``20 * min_frequency`` values:
    on smaller tables every value is rare), and at most ``max_categories`` levels are kept in all
    (the infrequent one included): the most frequent ones, ties by value.
    This is what scikit-learn's ``OneHotEncoder(min_frequency=...,
    max_categories=...)`` does, done here so that the kept levels are plain
    data in the model file.
    """
    labels = pd.Series(to_category_column(column), dtype="object").dropna()
    counts = labels.value_counts()
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    # on small tables every value is rare: pool only with at least 20 * min_frequency values
    pool_rare = min_frequency is not None and len(labels) >= 20 * min_frequency
    keep = counts[counts >= min_frequency] if pool_rare else counts
    pooled = len(keep) < len(counts)
    if max_categories is not None and len(keep) + int(pooled) > max_categories:
        keep = keep.iloc[: max(max_categories - 1, 1)]
        pooled = True
    return sorted(str(v) for v in keep.index), pooled


def _categorical(name: str, column: pd.Series, max_categories: int | None, min_frequency: int | None,
                 reason: str) -> ColumnKind:
    levels, pooled = pooled_levels(column, max_categories, min_frequency)
    distinct = pd.Series(to_category_column(column), dtype="object").dropna().unique()
    n_all = len(distinct)
    spec: dict[str, Any] = {"levels": levels, "infrequent": pooled}
    if pooled:
        note = f"{n_all:,} values: {len(levels)} kept, the rest pooled into {INFREQUENT_LABEL}"
        reason = f"{reason}; {note}" if reason else note
        if n_all - len(levels) <= MAX_POOLED_LISTED:
            # the values seen at fit but pooled: scoring counts only values never seen as new
            kept = set(levels)
            spec["pooled"] = sorted(str(v) for v in distinct if str(v) not in kept)
    return ColumnKind(name, "categorical", reason, spec)


# ------------------------------------------------------------------ applying the kinds
def _numbers_like_fit(values: pd.Series, decimal: str, percent: bool) -> tuple[np.ndarray, np.ndarray]:
    """Numbers written as text, read as at fit: in a column of percentages every cell needs its %."""
    numbers, bad, _ = parse_number_text(values, decimal)
    if percent:
        bad = bad | (values.notna().to_numpy() & ~values.astype("object").str.strip().str.endswith("%").fillna(False)
                     .to_numpy(dtype=bool))
    return numbers, bad


def _dates_array(values: pd.Series, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    dates, bad = parse_dates(values, fmt)
    return dates.to_numpy(dtype="datetime64[ns]"), bad


def _by_distinct(text: pd.Series, parse: Any) -> tuple[Any, np.ndarray]:
    """Apply ``parse`` (values -> (parsed, bad)) to each distinct value once and expand to the rows."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    parsed, bad = parse(pd.Series(uniques, dtype="object"))
    parsed = np.asarray(parsed)
    missing = codes < 0
    rows = np.where(missing, 0, codes)
    if len(uniques) == 0:
        fill = np.datetime64("NaT") if parsed.dtype.kind == "M" else np.nan
        return np.full(len(text), fill, dtype=parsed.dtype if parsed.dtype.kind == "M" else np.float64), \
            np.zeros(len(text), dtype=bool)
    values = parsed[rows]
    if values.dtype.kind == "M":
        values = values.copy()
        values[missing] = np.datetime64("NaT")
    else:
        values = np.where(missing, np.nan, values)
    return values, np.where(missing, False, np.asarray(bad)[rows])


def working_columns(
    X: pd.DataFrame, kinds: list[ColumnKind], where: str = "",
) -> tuple[dict[str, Any], dict[str, int], dict[str, int]]:
    """The feature columns of ``X`` after typing: numbers as float64, categories as str.

    Parameters
    ----------
    X : pandas.DataFrame
        Holds every column of ``kinds`` that is not left out.
    kinds : list of ColumnKind
    where : str
        What ``X`` is, for messages (e.g. a file name); empty: not said.

    Returns
    -------
    columns : dict of str to numpy.ndarray
        One entry per feature (see :attr:`ColumnKind.features`), in order.
    source : dict of str to int
        For each feature, the position of its column in ``kinds``.
    unseen : dict of str to int
        For each categorical column, how many cells held a value never seen
        at fit (scored as the infrequent level, or as no level). Values seen
        at fit but pooled into the infrequent level are not counted, except
        by models whose file does not list them.

    Raises
    ------
    DataError
        When a cell of a numeric or date column cannot be read as one.
    """
    out: dict[str, Any] = {}
    source: dict[str, int] = {}
    unseen: dict[str, int] = {}
    prefix = f"{where} " if where else ""
    for position, ck in enumerate(kinds):
        if ck.kind in LEFT_OUT:
            continue
        column = X[ck.name]
        if ck.kind in ("numeric", "binary"):
            if is_numeric_dtype(column.dtype):
                with np.errstate(invalid="ignore", over="ignore"):
                    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                text = pd.Series(to_category_column(column), dtype="object")
                decimal = ck.spec.get("decimal", ".")
                values, bad = _by_distinct(text, lambda u: _numbers_like_fit(u, decimal, ck.spec.get("percent", False)))
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    pct = " written as a percentage (with %)" if ck.spec.get("percent") else ""
                    raise DataError(
                        f"{prefix}column {ck.name!r} holds {text.iloc[row]!r} (data row {row + 1}), which is not a number"
                        f"{pct}, but {ck.name!r} was numeric{pct} at fit; fix or blank the cell (empty, ?, NA and "
                        "null are missing)"
                    )
            out[ck.name] = values
        elif ck.kind == "datetime":
            if pd.api.types.is_datetime64_any_dtype(column.dtype) or ck.spec.get("format") == "datetime64":
                dates = pd.to_datetime(column, errors="coerce", utc=True).dt.tz_localize(None)
            else:
                text = pd.Series(to_category_column(column), dtype="object")
                fmt = ck.spec["format"]
                parsed, bad = _by_distinct(text, lambda u: _dates_array(u, fmt))
                dates = pd.Series(parsed)
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    raise DataError(
                        f"{prefix}column {ck.name!r} holds {text.iloc[row]!r} (data row {row + 1}), which is not a date "
                        f"written as {ck.spec['format']} as at fit; fix or blank the cell"
                    )
            for part, values in date_parts(pd.Series(dates), ck.spec["parts"]).items():
                out[f"{ck.name}.{part}"] = values
        else:
            labels = to_category_column(column)
            kept = set(ck.spec.get("levels", []))
            present = pd.notna(labels)
            as_series = pd.Series(labels, dtype="object")
            known = as_series.isin(kept).to_numpy()
            other = present & ~known
            if other.any():
                labels = labels.copy()
                labels[other] = INFREQUENT_LABEL
                # values pooled at fit are not new (model files without the list count them too)
                new_values = other & ~as_series.isin(set(ck.spec.get("pooled", []))).to_numpy()
                if new_values.any():
                    unseen[ck.name] = int(new_values.sum())
            out[ck.name] = labels
        for feature in ck.features:
            source[feature] = position
    return out, source, unseen
