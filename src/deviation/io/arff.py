"""ARFF (Weka) files: the header's attribute declarations give the columns and their kinds."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd

from ..exceptions import DataError
from .sources import Source, duplicates, fail


@contextlib.contextmanager
def strict_field_counts(src: Source, ignore: tuple[str, ...] = ()) -> Iterator[None]:
    """Raise DataError when pandas warns that rows are longer than the header.

    Other warnings are re-emitted, except those whose message contains one of
    the ``ignore`` fragments (problems the caller detects itself).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if any(fragment in str(w.message) for fragment in ignore):
            continue
        if issubclass(w.category, pd.errors.ParserWarning) and "Length of header" in str(w.message):
            raise fail(
                src.where,
                "has rows with more fields than the header has column names",
                "remove trailing separators or add the missing column names to the header",
            )
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


@dataclass(frozen=True)
class _ArffAttribute:
    name: str
    kind: str  # "numeric", "nominal" or "string"
    levels: tuple[str, ...] = ()


_BLANKS_AROUND_COMMA = re.compile(r"\s*,\s*")


def clean_data_line(line: str) -> str:
    """A data line as Weka reads it: ``%`` comments cut off, blanks around unquoted values removed.

    Outside quotes, ``%`` starts a comment that runs to the end of the line,
    and the blanks before and after each separator and at both ends of the
    line are not part of the values. Quoted values are kept as written.

    Parameters
    ----------
    line : str
        One line of the ``@data`` section (with or without its line break).

    Returns
    -------
    str
        The line without its comment and those blanks, ending in ``\\n``
        (empty lines stay empty and are skipped by the parser).
    """
    body = line.rstrip("\r\n")
    if "'" not in body and '"' not in body:
        cut = body.find("%")
        if cut >= 0:
            body = body[:cut]
        return _BLANKS_AROUND_COMMA.sub(",", body).strip() + "\n"
    out: list[str] = []
    field: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(body):
        ch = body[i]
        if quote:
            field.append(ch)
            if ch == "\\" and i + 1 < len(body):
                field.append(body[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            field.append(ch)
        elif ch == "%":
            break
        elif ch == ",":
            out.append("".join(field).strip())
            field = []
        else:
            field.append(ch)
        i += 1
    out.append("".join(field).strip())
    return ",".join(out) + "\n"


_COMMENTS = re.compile(r"%[^\r\n]*")
_LINE_ENDS = re.compile(r"^[ \t]+|[ \t]+(?=\r?$)", re.MULTILINE)
_BLANKS_BEFORE_COMMA = re.compile(r"[ \t]+,")
_BLANKS_AFTER_COMMA = re.compile(r",[ \t]+")
#: Bytes of data lines cleaned at a time.
_CHUNK_BYTES = 1 << 20


def clean_data_text(text: str) -> str:
    """Whole lines of the ``@data`` section cleaned as :func:`clean_data_line` does, faster when unquoted."""
    if "'" in text or '"' in text:
        return "".join(clean_data_line(line) for line in text.splitlines())
    if "%" in text:
        text = _COMMENTS.sub("", text)
    if " " in text or "\t" in text:
        text = _BLANKS_AFTER_COMMA.sub(",", _BLANKS_BEFORE_COMMA.sub(",", text))
        text = _LINE_ENDS.sub("", text)
    return text


class _CleanLines(io.RawIOBase):
    """A read-only stream of the data lines (``first`` then the rest of ``stream``), cleaned.

    Whole lines are cleaned a chunk at a time (:func:`clean_data_text`).
    """

    def __init__(self, first: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self._first: bytes | None = first
        self._stream = stream
        self._carry = b""
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bytes | None:
        if self._first is not None:
            block, self._first = self._first, None
        else:
            block = self._stream.read(_CHUNK_BYTES)
            if not block:
                rest, self._carry = self._carry, b""
                return rest if rest else None
        block = self._carry + block
        cut = block.rfind(b"\n") + 1
        self._carry = block[cut:]
        return block[:cut]

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not len(self._pending):
            block = self._next_chunk()
            if block is None:
                return 0
            if block:
                self._pending = memoryview(clean_data_text(block.decode("utf-8")).encode("utf-8"))
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _unquote_token(token: str) -> tuple[str, bool]:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", token[1:-1]), True
    return token, False


def _split_arff_list(text: str) -> tuple[list[str], bool]:
    """Split ``a, 'b c', "d"`` at commas outside quotes; report double quotes."""
    items: list[str] = []
    current: list[str] = []
    quote: str | None = None
    double = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            double = double or ch == '"'
            current.append(ch)
        elif ch == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    items.append("".join(current))
    return [_unquote_token(t)[0] for t in items], double


def _parse_arff_attribute(rest: str, where: str, lineno: int) -> tuple[_ArffAttribute, bool]:
    text = rest.strip()
    if not text:
        raise fail(
            where,
            f"has an @attribute without a name on line {lineno}",
            "give every attribute a name and a type",
        )
    if text[0] in "'\"":
        quote = text[0]
        i = 1
        while i < len(text) and text[i] != quote:
            i += 2 if text[i] == "\\" else 1
        if i >= len(text):
            raise fail(
                where,
                f"has an unterminated quoted attribute name on line {lineno}",
                "close the quote",
            )
        name = _unquote_token(text[: i + 1])[0]
        text = text[i + 1 :].strip()
    else:
        match = re.match(r"[^\s{]+", text)
        assert match is not None
        name = match.group(0)
        text = text[match.end() :].strip()
    if text.startswith("{"):
        end = _closing_brace(text)
        if end < 0:
            raise fail(
                where,
                f"has an unterminated {{...}} list for attribute {name!r} on line {lineno}",
                "close the brace",
            )
        levels, double = _split_arff_list(text[1:end])
        return _ArffAttribute(name, "nominal", tuple(levels)), double
    kind = text.split(None, 1)[0].lower() if text else ""
    if kind in ("numeric", "real", "integer"):
        return _ArffAttribute(name, "numeric"), False
    if kind in ("string", "date"):
        return _ArffAttribute(name, "string"), False
    if kind == "relational":
        raise fail(
            where,
            f"uses a relational attribute ({name!r}, line {lineno})",
            "flatten the relational attribute before reading",
        )
    raise fail(
        where,
        f"has attribute {name!r} with unknown type {kind or '(none)'!r} on line {lineno}",
        "use numeric, real, integer, string, date or a {...} list of nominal values",
    )


def _closing_brace(text: str) -> int:
    quote: str | None = None
    i = 1
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "}":
            return i
        i += 1
    return -1


def _read_arff_header(fh: IO[bytes], where: str) -> tuple[list[_ArffAttribute], str, bytes]:
    """Read up to the first data line; return attributes, quote char, first data line."""
    attributes: list[_ArffAttribute] = []
    double_quotes = False
    in_data = False
    lineno = 0
    for raw in fh:
        lineno += 1
        line = raw.decode("utf-8")
        if lineno == 1:
            line = line.lstrip("\ufeff")
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            continue
        if in_data:
            if stripped.startswith("{"):
                raise fail(
                    where,
                    "is a sparse ARFF file ({index value, ...} rows)",
                    "convert it to dense ARFF or to libsvm format first",
                )
            quotechar = '"' if double_quotes else "'"
            return attributes, quotechar, raw
        keyword = stripped.split(None, 1)[0].lower()
        if keyword == "@relation":
            continue
        if keyword.startswith("@attribute"):
            attribute, double = _parse_arff_attribute(stripped[len("@attribute") :], where, lineno)
            attributes.append(attribute)
            double_quotes = double_quotes or double
        elif keyword == "@data":
            if not attributes:
                raise fail(
                    where,
                    "has an @data section but no @attribute lines",
                    "declare the attributes before @data",
                )
            in_data = True
        else:
            raise fail(
                where,
                f"does not look like ARFF (line {lineno} starts with {stripped[:30]!r})",
                "check the file or pass the right format=",
            )
    if not in_data:
        raise fail(where, "has no @data section", "add an @data line followed by the data rows")
    raise fail(where, "has an ARFF header but no data rows", "add data rows after the @data line")


def read_arff(src: Source) -> pd.DataFrame:
    with src.open() as fh:
        attributes, quotechar, first_line = _read_arff_header(fh, src.where)
        names = [a.name for a in attributes]
        dups = duplicates(names)
        if dups:
            raise fail(
                src.where,
                f"has duplicate attribute names: {', '.join(repr(d) for d in dups[:5])}",
                "rename the attributes so that every name is unique",
            )
        dtype: dict[str, Any] = {}
        na_values: dict[str, list[str]] = {}
        for a in attributes:
            if a.kind == "numeric":
                dtype[a.name] = "float64"
                na_values[a.name] = ["?"]
            elif a.kind == "nominal":
                # Explicit text categories: pandas would otherwise turn levels such
                # as '007' into the integer 7.  '?' stays a level of its own.
                dtype[a.name] = pd.CategoricalDtype(list(dict.fromkeys([*a.levels, "?"])))
            else:
                dtype[a.name] = str
                na_values[a.name] = ["?"]
        stream = io.BufferedReader(_CleanLines(first_line, fh), buffer_size=1 << 20)
        options: dict[str, Any] = dict(
            sep=",", header=None, names=names, keep_default_na=False,
            quotechar=quotechar, skipinitialspace=True, index_col=False,
            encoding="utf-8", engine="c",
        )
        try:
            with strict_field_counts(src, ignore=("values containing non-null entries not in",)):
                df = pd.read_csv(stream, dtype=dtype, na_values=na_values, **options)
        except ValueError as exc:
            if isinstance(exc, (DataError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError)):
                raise
            raise _arff_value_error(src, attributes, options) or exc
    if len(df) == 0:
        raise fail(src.where, "has an ARFF header but no data rows", "add data rows after the @data line")
    nominal = [a for a in attributes if a.kind == "nominal"]
    # With keep_default_na=False a nominal cell is NaN only if its value is undeclared.
    if nominal and df[[a.name for a in nominal]].isna().to_numpy().any():
        raise _arff_value_error(src, attributes, options) or fail(
            src.where, "has undeclared nominal values", "fix the rows or the @attribute declarations"
        )
    for a in nominal:
        if "?" not in a.levels and not (df[a.name] == "?").any():
            # set_categories keeps the declared order (remove_categories may sort)
            df[a.name] = df[a.name].cat.set_categories(list(dict.fromkeys(a.levels)))
    return df


def _arff_value_error(src: Source, attributes: list[_ArffAttribute], options: dict[str, Any]) -> DataError | None:
    """Re-read the data as text to find and describe the first invalid value."""
    with src.open() as fh:
        _, _, first_line = _read_arff_header(fh, src.where)
        stream = io.BufferedReader(_CleanLines(first_line, fh), buffer_size=1 << 20)
        df = pd.read_csv(stream, dtype=str, **options)
    short_row = " (a row may have fewer values than attributes)"
    first: tuple[int, DataError] | None = None
    for a in attributes:
        column = df[a.name]
        if a.kind == "numeric":
            bad = column.ne("?") & pd.to_numeric(column, errors="coerce").isna()
        elif a.kind == "nominal":
            bad = ~column.isin([*a.levels, "?"])
        else:
            continue
        if not bad.any():
            continue
        row = int(np.flatnonzero(bad.to_numpy())[0])
        if first is not None and first[0] <= row:
            continue
        value = column.iloc[row]
        hint = short_row if value == "" else ""
        if a.kind == "numeric":
            error = fail(
                src.where,
                f"has a non-numeric value {value!r} for numeric attribute {a.name!r} in data row {row + 1}{hint}",
                "fix the value, write '?' for a missing value, or declare the attribute as a {...} nominal list",
            )
        else:
            error = fail(
                src.where,
                f"has a value {value!r} of nominal attribute {a.name!r} in data row {row + 1} that is not in "
                f"its declared {{...}} list{hint}",
                "add the value to the @attribute declaration or fix the row",
            )
        first = (row, error)
    return None if first is None else first[1]


