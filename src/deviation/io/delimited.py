"""CSV and TSV: read in batches with pyarrow, every cell as the exact text of the file.

No type is guessed here: :mod:`deviation.io.schema` types the columns, so that
the whole file and each streamed batch are read by the same rules.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from .sources import Source, duplicates, fail, first_non_utf8_line, short_message

#: Bytes pyarrow parses at a time (one row must fit in a block).
BLOCK_BYTES = 1 << 24


def _header(src: Source, sep: str) -> list[str]:
    """The column names of the first line (pandas' ``Unnamed: i`` for empty names)."""
    with src.open() as fh, io.TextIOWrapper(fh, encoding="utf-8-sig", newline="") as text:
        try:
            first = next(csv.reader(text, delimiter=sep), None)
        except UnicodeDecodeError:
            first = None
            found = first_non_utf8_line(src)
            at = f" (line {found[0]}: {found[1]!r})" if found else ""
            fix = "re-encode it as UTF-8, e.g. iconv -f latin1 -t utf-8 in > out"
            raise fail(src.where, f"is not UTF-8 text{at}", fix) from None
    if not first or all(not name.strip() for name in first) and len(first) <= 1:
        raise fail(src.where, "contains no data (not even a header row)", "pass a file with a header row and data rows")
    names = [name if name != "" else f"Unnamed: {i}" for i, name in enumerate(first)]
    dups = duplicates(names)
    if dups:
        raise fail(
            src.where,
            f"has duplicate column names: {', '.join(repr(d) for d in dups[:5])}",
            "rename the columns so that every name is unique",
        )
    return names


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
        found = first_non_utf8_line(src)
        at = f" (line {found[0]}: {found[1]!r})" if found else ""
        if src.is_plain:
            fix = f"re-encode it as UTF-8, e.g. iconv -f latin1 -t utf-8 '{src.path.name}' > fixed{src.path.suffix}"
        else:
            fix = "extract/decompress it, re-encode it as UTF-8 (e.g. iconv -f latin1 -t utf-8 in > out) and read the result"
        return fail(src.where, f"is not UTF-8 text{at}", fix)
    if "Expected" in message and "columns, got" in message:
        got = message.split("columns, got", 1)[1].split(":", 1)[0].strip()
        if got.isdigit() and int(got) > len(names):
            return fail(
                src.where,
                "has rows with more fields than the header has column names",
                "remove trailing separators or add the missing column names to the header",
            )
        short = _short_row(src, sep, len(names))
        if short is not None:
            return fail(
                src.where,
                f"has a row with {short[1]} of {len(names)} fields (line {short[0]}: an incomplete or truncated line)",
                "fix or remove the incomplete line (write empty fields as separators, e.g. '1,,0')",
            )
    title = "TSV" if sep == "\t" else "CSV"
    return fail(
        src.where,
        f"could not be parsed as {title} ({message})",
        "fix the malformed line (every row needs as many fields as the header) or pass the right format=",
    )


def iter_delimited(src: Source, sep: str, batch_rows: int) -> Iterator[pa.Table]:
    """Yield the rows of a CSV/TSV file as Arrow tables of text columns.

    Parameters
    ----------
    src : Source
        The file (plain, compressed or an archive member).
    sep : str
        The field separator.
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
    names = _header(src, sep)
    read = pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES)
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
