"""CSV and TSV: read in batches with pyarrow, every cell as the exact text of the file.

No type is guessed here: :mod:`deviation.io.schema` types the columns, so that
the whole file and each streamed batch are read by the same rules.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv

from ..exceptions import DataError
from .sources import Source, check_unique_names, fail, not_utf8, short_message

logger = logging.getLogger(__name__)

#: Rows per batch when a file is streamed (every format; :mod:`deviation.io` exports it).
DEFAULT_BATCH_ROWS = 262_144
#: Bytes pyarrow parses at a time (one row must fit in a block).
BLOCK_BYTES = 1 << 24
#: The separators the sniffer chooses from, in order of preference on a tie.
SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")
#: How much of a file the sniffer looks at: the first lines, at most this many bytes.
SNIFF_BYTES = 1 << 16
SNIFF_LINES = 50
#: Spellings of the tab accepted by ``sep=`` (a shell passes ``'\t'`` as two characters).
_TAB_NAMES = ("\\t", "tab", "TAB", "Tab")
_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_COMMA_DECIMAL = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")
_POINT_DECIMAL = re.compile(r"^[+-]?\d*\.\d+(?:[eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Dialect:
    """How a delimited file is written: its field separator and decimal mark.

    Attributes
    ----------
    sep : str
        The field separator (one character).
    decimal : str
        ``"."`` or ``","``: the decimal mark of numbers written in the cells.
    sniffed : bool
        True when the separator was worked out from the file, not given.
    """

    sep: str
    decimal: str = "."
    sniffed: bool = False


def separator_name(sep: str) -> str:
    """How a separator is named in messages: ``';' (semicolon)``."""
    name = _NAMES.get(sep)
    shown = "'\\t'" if sep == "\t" else repr(sep)
    return f"{shown} ({name})" if name else shown


def check_sep(sep: object) -> str | None:
    """Check a ``sep=`` argument: None (sniff) or one character; ``'\\t'`` and ``'tab'`` mean a tab.

    Raises
    ------
    DataError
        For anything else (an empty string, several characters, a quote or
        a line break).
    """
    if sep is None:
        return None
    if isinstance(sep, str) and sep in _TAB_NAMES:
        return "\t"
    if not isinstance(sep, str) or len(sep) != 1 or sep in "\"\r\n":
        raise DataError(
            f"sep={sep!r} is not a field separator; pass one character such as ',', ';', '|' or '\\t' (tab), "
            "or leave sep=None to detect it from the file"
        )
    return sep


def sniff_lines(src: Source) -> list[str]:
    """The first non-blank lines of a file as text (BOM removed), at most :data:`SNIFF_LINES` + 1."""
    with src.open() as fh:
        head = fh.read(SNIFF_BYTES + 1)
    complete = len(head) <= SNIFF_BYTES
    text = head[:SNIFF_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = text.splitlines()
    if not complete and lines:
        lines = lines[:-1]  # the last line may be cut short
    lines = [line for line in lines if line.strip()]
    return lines[: SNIFF_LINES + 1]


def _field_counts(lines: list[str], sep: str) -> list[int]:
    """Fields per record of ``lines`` split at ``sep`` (quotes honoured)."""
    try:
        return [len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=sep) if row]
    except csv.Error:
        return []


def sniff_separator(lines: list[str], default: str = ",") -> str:
    """Pick the separator of a delimited file from its first lines.

    The rule, over the candidates ``,`` ``;`` tab ``|``: a candidate that
    splits the header into two fields or more and every sampled line into
    as many fields as the header is *consistent*; the consistent candidate
    with the most fields wins (ties: the order above). When none is
    consistent (a malformed line among the first ones), the candidate that
    splits the header into the most fields wins; when none splits it at all
    (a one-column file), ``default``.

    Parameters
    ----------
    lines : list of str
        The first lines of the file (header first).
    default : str
        The separator of a file with one column.

    Returns
    -------
    str
    """
    if not lines:
        return default
    consistent: list[tuple[int, str]] = []
    header_fields: list[tuple[int, str]] = []
    for sep in SEPARATORS:
        counts = _field_counts(lines, sep)
        if not counts or counts[0] < 2:
            continue
        header_fields.append((counts[0], sep))
        if all(c == counts[0] for c in counts):
            consistent.append((counts[0], sep))
    for found in (consistent, header_fields):
        if found:
            best = max(n for n, _ in found)
            return next(sep for n, sep in found if n == best)
    return default


def sniff_decimal(lines: list[str], sep: str) -> str:
    """The decimal mark of a file: ``","`` for ``;``-separated files unless the cells show points.

    European spreadsheets write ``3,14`` and separate fields with ``;``. In a
    ``;`` file, the mark is ``"."`` when more data cells look like ``3.14``
    than like ``3,14``, else ``","``. Any other separator: ``"."``.
    """
    if sep != ";":
        return "."
    commas = points = 0
    for row in csv.reader(io.StringIO("\n".join(lines[1:])), delimiter=sep):
        for cell in row:
            cell = cell.strip()
            if _COMMA_DECIMAL.match(cell):
                commas += 1
            elif _POINT_DECIMAL.match(cell):
                points += 1
    return "." if points > commas else ","


def detect_dialect(src: Source, sep: str | None = None, decimal: str | None = None) -> Dialect:
    """The separator and decimal mark of a CSV/TSV file.

    Parameters
    ----------
    src : Source
        A CSV or TSV file.
    sep : str or None
        The separator if known (given by the user, or the model's); None: a
        ``.tsv`` file is tab-separated, a ``.csv`` file is sniffed
        (:func:`sniff_separator`).
    decimal : str or None
        The decimal mark if known (the model's); None: :func:`sniff_decimal`.

    Returns
    -------
    Dialect
    """
    sep = check_sep(sep)
    sniffed = False
    lines: list[str] | None = None
    if sep is None:
        if src.fmt == "tsv":
            sep = "\t"
        else:
            lines = sniff_lines(src)
            sep = sniff_separator(lines, ",")
            sniffed = True
    if decimal is None:
        if sep == ";":
            lines = lines if lines is not None else sniff_lines(src)
            decimal = sniff_decimal(lines, sep)
        else:
            decimal = "."
    if sniffed and sep != ",":
        logger.info("%s: fields separated by %s (detected), decimal mark %r", src.where, separator_name(sep), decimal)
    return Dialect(sep, decimal, sniffed)


def _header(src: Source, sep: str) -> tuple[list[str], int]:
    """The column names of the header row (pandas' ``Unnamed: i`` for empty names) and its physical lines.

    A quoted name may hold a line break, so the header can span more than one line;
    the parser must skip all of them.
    """
    with src.open() as fh, io.TextIOWrapper(fh, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, delimiter=sep)
        try:
            first = next(reader, None)
        except UnicodeDecodeError:
            raise not_utf8(src) from None
        header_lines = max(reader.line_num, 1)
    if not first or all(not name.strip() for name in first) and len(first) <= 1:
        raise fail(src.where, "contains no data (not even a header row)", "pass a file with a header row and data rows")
    names = [name if name != "" else f"Unnamed: {i}" for i, name in enumerate(first)]
    check_unique_names(src, names)
    return names, header_lines


def _short_row(src: Source, sep: str, n_columns: int) -> tuple[int, int] | None:
    """(line, fields) of the first row with fewer fields than the header, if any."""
    with src.open() as fh, io.TextIOWrapper(fh, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, delimiter=sep)
        for row in reader:
            if row and len(row) < n_columns:
                return reader.line_num, len(row)
    return None


def _parse_error(src: Source, sep: str, names: list[str], exc: Exception) -> Exception:
    message = short_message(exc)
    if "invalid UTF8" in message or "invalid utf8" in message.lower():
        return not_utf8(src)
    if "Expected" in message and "columns, got" in message:
        got = message.split("columns, got", 1)[1].split(":", 1)[0].strip()
        if got.isdigit() and int(got) > len(names):
            return fail(
                src.where,
                f"has rows with more fields than the header has column names (fields separated by "
                f"{separator_name(sep)})",
                "remove trailing separators or add the missing column names to the header"
                + _other_sep_hint(src, sep),
            )
        short = _short_row(src, sep, len(names))
        if short is not None:
            return fail(
                src.where,
                f"has a row with {short[1]} of {len(names)} fields (line {short[0]}: an incomplete or truncated "
                f"line; fields separated by {separator_name(sep)})",
                f"fix or remove the incomplete line (write empty fields as separators, e.g. '1{sep}{sep}0')"
                + _other_sep_hint(src, sep),
            )
    title = "TSV" if sep == "\t" else "CSV"
    return fail(
        src.where,
        f"could not be parsed as {title} with fields separated by {separator_name(sep)} ({message})",
        "fix the malformed line (every row needs as many fields as the header), pass the right sep= "
        "or the right format=",
    )


def _other_sep_hint(src: Source, sep: str) -> str:
    """`` or pass sep=';'`` when the file's first lines look separated by another character."""
    try:
        found = sniff_separator(sniff_lines(src), sep)
    except Exception:  # noqa: BLE001 - only a hint for a message
        return ""
    return f", or pass sep={found!r} if the fields are separated by {separator_name(found)}" if found != sep else ""


def iter_delimited(src: Source, sep: str | None = None, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.Table]:
    """Yield the rows of a CSV/TSV file as Arrow tables of text columns.

    Parameters
    ----------
    src : Source
        The file (plain, compressed or an archive member).
    sep : str or None, default=None
        The field separator; None: tab for a ``.tsv`` file, else sniffed
        from the first lines (:func:`detect_dialect`).
    batch_rows : int
        At most this many rows per table.

    Yields
    ------
    pyarrow.Table
        One string column per header name, cells verbatim (quotes removed,
        blanks kept, empty cells as empty strings).

    Raises
    ------
    DataError
        For duplicate or missing header names, rows with more or fewer fields
        than the header, and text that is not UTF-8.
    """
    sep = check_sep(sep)
    if sep is None:
        sep = detect_dialect(src).sep
    names, header_lines = _header(src, sep)
    read = pacsv.ReadOptions(column_names=names, skip_rows=header_lines, block_size=BLOCK_BYTES)
    parse = pacsv.ParseOptions(delimiter=sep, newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[],
    )
    with src.open() as fh:
        stream = pa.PythonFile(fh, mode="r") if not src.is_plain else pa.OSFile(str(src.path))
        try:
            reader = pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
            pending: list[pa.RecordBatch] = []
            n = 0
            for batch in reader:
                while batch.num_rows:
                    take = batch.slice(0, batch_rows - n)
                    batch = batch.slice(take.num_rows)
                    pending.append(take)
                    n += take.num_rows
                    if n == batch_rows:
                        yield pa.Table.from_batches(pending)
                        pending, n = [], 0
            if pending:
                yield pa.Table.from_batches(pending)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise _parse_error(src, sep, names, exc) from None
        finally:
            stream.close()
