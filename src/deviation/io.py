"""Read and write tabular data files.

:func:`read_table` turns a data file into a :class:`Table` (features, binary
labels, feature names and optional row ids); :func:`write_table` writes a
DataFrame to CSV or Parquet atomically.

Supported inputs (picked by file extension, or by ``format=``):

=========  ==========================================  =============================
format     extensions                                  ``Table.X``
=========  ==========================================  =============================
csv        ``.csv``                                    ``pandas.DataFrame``
tsv        ``.tsv``                                    ``pandas.DataFrame``
parquet    ``.parquet``, ``.pq``                       ``pandas.DataFrame``
arff       ``.arff``                                   ``pandas.DataFrame``
npz        ``.npz`` (arrays ``X``, optional ``y``)     ``numpy.ndarray`` (float64)
mat        ``.mat`` (MATLAB <= v7, keys ``X``, ``y``)  ``numpy.ndarray`` (float64)
libsvm     ``.libsvm``, ``.svm``, ``.svmlight``        ``scipy.sparse.csr_matrix``
=========  ==========================================  =============================

Any of them may be compressed as a single file (``.gz``, ``.bz2``, ``.xz``) or
be the only data file of an archive (``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``,
``.tar.xz``, ``.txz``, ``.tar.bz2``); archive members are streamed, never
extracted to disk.  Every problem with a file or a label raises
:class:`deviation.exceptions.DataError` with a one-line message naming the
problem, the file and the fix.
"""

from __future__ import annotations

import bz2
import contextlib
import difflib
import gzip
import io
import logging
import lzma
import math
import os
import re
import tarfile
import warnings
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp

from deviation._atomic import atomic_target
from deviation.exceptions import DataError

__all__ = ["FORMATS", "Table", "read_table", "write_table"]

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

#: Names accepted by the ``format=`` argument of :func:`read_table`.
FORMATS: tuple[str, ...] = ("csv", "tsv", "parquet", "arff", "npz", "mat", "libsvm")

_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arff": "arff",
    ".npz": "npz",
    ".mat": "mat",
    ".libsvm": "libsvm",
    ".svm": "libsvm",
    ".svmlight": "libsvm",
}
_FORMAT_ALIASES: dict[str, str] = {
    **{ext.lstrip("."): fmt for ext, fmt in _EXTENSIONS.items()},
    "svmlight": "libsvm",
}
# Longest suffixes first so that ".tar.gz" wins over ".gz".
_ARCHIVES: tuple[tuple[str, str], ...] = (
    (".tar.gz", "tar"),
    (".tar.xz", "tar"),
    (".tar.bz2", "tar"),
    (".tgz", "tar"),
    (".txz", "tar"),
    (".tbz2", "tar"),
    (".tar", "tar"),
    (".zip", "zip"),
)
_COMPRESSIONS: dict[str, str] = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
_TABULAR = frozenset({"csv", "tsv", "parquet", "arff"})
_INTRINSIC_LABEL = frozenset({"npz", "mat", "libsvm"})
_FORMAT_TITLES = {
    "csv": "CSV",
    "tsv": "TSV",
    "parquet": "Parquet",
    "arff": "ARFF",
    "npz": "NPZ",
    "mat": "MATLAB",
    "libsvm": "libsvm/svmlight",
}
_SUPPORTED_TEXT = (
    ".csv, .tsv, .parquet/.pq, .arff, .npz, .mat, .libsvm/.svm/.svmlight "
    "(optionally .gz/.bz2/.xz), or one of them inside .zip/.tar/.tar.gz/.tgz/.tar.xz"
)


@dataclass(frozen=True, eq=False)  # eq=False: comparing DataFrames field by field is ambiguous
class Table:
    """A data set read from a file.

    Attributes
    ----------
    X : pandas.DataFrame or numpy.ndarray or scipy.sparse.csr_matrix
        The features only: the label and id columns are removed.  CSV, TSV,
        Parquet and ARFF give a DataFrame whose columns may be numeric, string
        (``str``/``object``) or, for ARFF nominal attributes, ``category``;
        NPZ and MAT give a float64 array; libsvm gives a float64 CSR matrix.
    y : numpy.ndarray of int8 or None
        ``1`` for a labeled anomaly, ``0`` otherwise (normal or unlabeled), or
        ``None`` when no label was requested and the file has no intrinsic one.
    feature_names : list of str
        One name per column of ``X``.
    ids : pandas.Series or None
        The id column when ``id_column`` was given, else ``None``.
    """

    X: pd.DataFrame | np.ndarray | sp.csr_matrix
    y: np.ndarray | None
    feature_names: list[str]
    ids: pd.Series | None

    @property
    def n_anomalies(self) -> int:
        """Number of rows labeled as anomalies (0 when there are no labels)."""
        return 0 if self.y is None else int(np.count_nonzero(self.y))


# --------------------------------------------------------------------------- #
# Sources: where the bytes of the data file come from
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Source:
    """A data file on disk, possibly compressed or inside an archive."""

    path: Path
    fmt: str
    container: str | None = None  # "tar", "zip" or None
    member: str | None = None  # the archive member holding the data
    compression: str | None = None  # "gzip", "bz2", "xz" or None

    @property
    def where(self) -> str:
        """How the file is named in messages."""
        if self.member is None:
            return f"'{self.path}'"
        return f"'{self.path}' (member '{self.member}')"

    @property
    def is_plain(self) -> bool:
        """True for an uncompressed file that is not inside an archive."""
        return self.container is None and self.compression is None

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """Open a fresh binary stream over the (decompressed) data file."""
        with contextlib.ExitStack() as stack:
            raw: IO[bytes]
            if self.container == "tar":
                archive = stack.enter_context(tarfile.open(self.path, "r:*"))
                raw = stack.enter_context(_tar_member_stream(archive, self.member))
            elif self.container == "zip":
                archive = stack.enter_context(zipfile.ZipFile(self.path))
                raw = stack.enter_context(archive.open(str(self.member)))
            else:
                raw = stack.enter_context(open(self.path, "rb"))
            if self.compression == "gzip":
                raw = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
            elif self.compression == "bz2":
                raw = stack.enter_context(bz2.BZ2File(raw))
            elif self.compression == "xz":
                raw = stack.enter_context(lzma.LZMAFile(raw))
            yield raw

    def read_bytes(self) -> bytes:
        """The whole decompressed content (for formats that need random access)."""
        with self.open() as fh:
            return fh.read()


def _tar_member_stream(archive: tarfile.TarFile, name: str | None) -> IO[bytes]:
    for member in archive:
        if member.name == name:
            stream = archive.extractfile(member)
            if stream is not None:
                return stream
            break
    raise tarfile.ReadError(f"member {name!r} is not a readable file")


def _fail(where: str, problem: str, fix: str) -> DataError:
    """Build a one-line DataError: ``<file> <problem>; <fix>``."""
    text = f"{where} {problem}; {fix}"
    return DataError(re.sub(r"\s*[\r\n]+\s*", " ", text))


def _short(exc: BaseException) -> str:
    """First line of an exception message, or its type name."""
    text = str(exc).strip().splitlines()
    return text[0].strip() if text and text[0].strip() else type(exc).__name__


def _split_name(name: str) -> tuple[str | None, str | None, str]:
    """Split a file name into (archive kind, compression, data extension)."""
    lower = name.lower()
    for suffix, kind in _ARCHIVES:
        if lower.endswith(suffix):
            return kind, None, suffix
    compression = None
    for suffix, method in _COMPRESSIONS.items():
        if lower.endswith(suffix):
            compression = method
            lower = lower[: -len(suffix)]
            break
    ext = os.path.splitext(lower)[1]
    return None, compression, ext


def _normalize_format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    if not isinstance(fmt, str) or fmt.lower().lstrip(".") not in _FORMAT_ALIASES:
        raise DataError(
            f"format={fmt!r} is not supported; pass one of {', '.join(FORMATS)} "
            "or leave format=None to pick the format from the file extension"
        )
    return _FORMAT_ALIASES[fmt.lower().lstrip(".")]


def _is_hidden_member(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith(".")


def _resolve_source(path: PathLike, fmt: str | None) -> _Source:
    """Check the path and work out container, member, compression and format."""
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(
            f"read_table needs a file path (str or os.PathLike), got {type(path).__name__}; "
            "pass the path of the data file"
        )
    p = Path(path).expanduser()
    where = f"'{p}'"
    try:
        if not p.exists():
            raise _fail(where, "does not exist", f"check the path (current directory: '{Path.cwd()}')")
        if p.is_dir():
            raise _fail(where, "is a directory, not a data file", "pass the path of one file inside it")
        if not p.is_file():
            raise _fail(where, "is not a regular file", "pass the path of a regular data file")
        size = p.stat().st_size
    except OSError as exc:
        raise _fail(
            where,
            f"cannot be accessed ({_short(exc)})",
            "check the path and its permissions",
        ) from exc
    if size == 0:
        raise _fail(where, "is empty (0 bytes)", "pass a file with a header row and at least one data row")
    fmt = _normalize_format(fmt)
    container, compression, ext = _split_name(p.name)

    if container is None:
        data_fmt = fmt or _EXTENSIONS.get(ext)
        if data_fmt is None:
            raise _fail(
                where,
                f"has an unknown extension {ext or '(none)'!r}",
                f"use one of {_SUPPORTED_TEXT}, or pass format= (one of {', '.join(FORMATS)})",
            )
        return _Source(path=p, fmt=data_fmt, compression=compression)

    # Archives: exactly one data member.
    with _translate_errors(_Source(path=p, fmt=fmt or "csv", container=container)):
        if container == "zip":
            with zipfile.ZipFile(p) as zf:
                members = [i.filename for i in zf.infolist() if not i.is_dir()]
        else:
            with tarfile.open(p, "r:*") as tf:
                members = [m.name for m in tf.getmembers() if m.isfile()]
    # Members with a data extension count; with format= and no such member,
    # every other regular member does (e.g. a lone "data.txt").
    known: list[tuple[str, str, str | None]] = []
    unknown: list[tuple[str, str, str | None]] = []
    for name in members:
        if _is_hidden_member(name):
            continue
        inner_container, inner_compression, inner_ext = _split_name(os.path.basename(name))
        if inner_container:
            continue
        if inner_ext in _EXTENSIONS:
            known.append((name, fmt or _EXTENSIONS[inner_ext], inner_compression))
        elif fmt is not None:
            unknown.append((name, fmt, inner_compression))
    candidates = known or unknown
    shown = ", ".join(f"'{m}'" for m in members[:10]) or "none"
    if not candidates:
        raise _fail(
            where,
            f"holds no data file (members: {shown})",
            f"put exactly one data file ({_SUPPORTED_TEXT.split(' (')[0]}) in the archive",
        )
    if len(candidates) > 1:
        names = ", ".join(f"'{c[0]}'" for c in candidates[:10])
        raise _fail(
            where,
            f"holds {len(candidates)} data files ({names}) but must hold exactly one",
            "extract the file you want and read it directly, or repack the archive with one data file",
        )
    member, inner_fmt, inner_compression = candidates[0]
    return _Source(path=p, fmt=inner_fmt, container=container, member=member, compression=inner_compression)


# --------------------------------------------------------------------------- #
# Error translation
# --------------------------------------------------------------------------- #


def _first_non_utf8_line(src: _Source) -> tuple[int, bytes] | None:
    """Locate the first line of ``src`` that is not valid UTF-8."""
    try:
        with src.open() as fh:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return lineno, raw[max(exc.start - 10, 0) : exc.end + 10]
    except Exception:  # noqa: BLE001 - only a hint for the message
        return None
    return None


@contextlib.contextmanager
def _translate_errors(src: _Source) -> Iterator[None]:
    """Turn low-level errors raised while reading ``src`` into DataError."""
    title = _FORMAT_TITLES.get(src.fmt, src.fmt)
    where = src.where
    try:
        yield
    except DataError:
        raise
    except MemoryError:
        raise
    except UnicodeDecodeError as exc:
        found = _first_non_utf8_line(src)
        at = f" (line {found[0]}: {found[1]!r})" if found else ""
        if src.is_plain:
            fix = f"re-encode it as UTF-8, e.g. iconv -f latin1 -t utf-8 '{src.path.name}' > fixed{src.path.suffix}"
        else:
            fix = "extract/decompress it, re-encode it as UTF-8 (e.g. iconv -f latin1 -t utf-8 in > out) and read the result"
        raise _fail(where, f"is not UTF-8 text{at}", fix) from exc
    except (EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile) as exc:
        raise _fail(
            where,
            f"is truncated or corrupt ({_short(exc)})",
            "download or create the file again and check that it was copied completely",
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise _fail(
            where,
            "contains no data (not even a header row)",
            "pass a file with a header row and data rows",
        ) from exc
    except pd.errors.ParserError as exc:
        raise _fail(
            where,
            f"could not be parsed as {title} ({_short(exc)})",
            "fix the malformed line (every row needs as many fields as the header) or pass the right format=",
        ) from exc
    except OSError as exc:
        raise _fail(
            where,
            f"cannot be read ({_short(exc)})",
            "check that the file is readable, complete and not corrupt",
        ) from exc
    except Exception as exc:  # pandas, pyarrow, scipy and sklearn parse errors
        raise _fail(
            where,
            f"could not be read as {title} ({type(exc).__name__}: {_short(exc)})",
            f"check that the file really is {title} or pass the right format=",
        ) from exc


# --------------------------------------------------------------------------- #
# Readers
# --------------------------------------------------------------------------- #


def _duplicates(names: list[str]) -> list[str]:
    counts = Counter(n for n in names if n != "")
    return [n for n, c in counts.items() if c > 1]


@contextlib.contextmanager
def _strict_field_counts(src: _Source, ignore: tuple[str, ...] = ()) -> Iterator[None]:
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
            raise _fail(
                src.where,
                "has rows with more fields than the header has column names",
                "remove trailing separators or add the missing column names to the header",
            )
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _read_delimited(src: _Source, sep: str) -> pd.DataFrame:
    # The header is read on its own first: pandas silently renames duplicate
    # names ("a", "a.1"), which would hide the problem.
    with src.open() as fh:
        head = pd.read_csv(
            fh, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False,
            encoding="utf-8-sig", index_col=False,
        )
    header = [str(v) for v in head.iloc[0].tolist()] if len(head) else []
    dups = _duplicates(header)
    if dups:
        raise _fail(
            src.where,
            f"has duplicate column names: {', '.join(repr(d) for d in dups[:5])}",
            "rename the columns so that every name is unique",
        )
    with src.open() as fh, _strict_field_counts(src):
        df = pd.read_csv(fh, sep=sep, encoding="utf-8-sig", low_memory=False, index_col=False)
    # pandas pads a row with too few fields (e.g. the cut last line of a
    # truncated file) with NaN, which imputation would then hide; such rows
    # always leave the last column missing, so only then are the rows counted.
    if df.shape[1] > 1 and len(df) and df.iloc[:, -1].isna().any():
        _check_short_rows(src, sep, df.shape[1])
    return df


def _check_short_rows(src: _Source, sep: str, n_columns: int) -> None:
    import csv

    with src.open() as fh, io.TextIOWrapper(fh, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, delimiter=sep)
        for row in reader:
            if row and len(row) < n_columns:
                raise _fail(
                    src.where,
                    f"has a row with {len(row)} of {n_columns} fields (line {reader.line_num}: an incomplete "
                    "or truncated line)",
                    "fix or remove the incomplete line (write empty fields as separators, e.g. '1,,0')",
                )


def _read_parquet(src: _Source) -> pd.DataFrame:
    if src.is_plain:
        df = pd.read_parquet(src.path)
    else:
        df = pd.read_parquet(io.BytesIO(src.read_bytes()))
    dups = _duplicates([str(c) for c in df.columns])
    if dups:
        raise _fail(
            src.where,
            f"has duplicate column names: {', '.join(repr(d) for d in dups[:5])}",
            "rename the columns so that every name is unique",
        )
    return df


# ---- ARFF ----------------------------------------------------------------- #


@dataclass(frozen=True)
class _ArffAttribute:
    name: str
    kind: str  # "numeric", "nominal" or "string"
    levels: tuple[str, ...] = ()


class _PrefixedStream(io.RawIOBase):
    """A read-only stream that yields ``prefix`` and then the rest of ``stream``."""

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self._prefix = memoryview(prefix)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if len(self._prefix):
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)


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
        raise _fail(
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
            raise _fail(
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
            raise _fail(
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
        raise _fail(
            where,
            f"uses a relational attribute ({name!r}, line {lineno})",
            "flatten the relational attribute before reading",
        )
    raise _fail(
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
                raise _fail(
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
                raise _fail(
                    where,
                    "has an @data section but no @attribute lines",
                    "declare the attributes before @data",
                )
            in_data = True
        else:
            raise _fail(
                where,
                f"does not look like ARFF (line {lineno} starts with {stripped[:30]!r})",
                "check the file or pass the right format=",
            )
    if not in_data:
        raise _fail(where, "has no @data section", "add an @data line followed by the data rows")
    raise _fail(where, "has an ARFF header but no data rows", "add data rows after the @data line")


def _read_arff(src: _Source) -> pd.DataFrame:
    with src.open() as fh:
        attributes, quotechar, first_line = _read_arff_header(fh, src.where)
        names = [a.name for a in attributes]
        dups = _duplicates(names)
        if dups:
            raise _fail(
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
        stream = io.BufferedReader(_PrefixedStream(first_line, fh), buffer_size=1 << 20)
        options: dict[str, Any] = dict(
            sep=",", header=None, names=names, keep_default_na=False,
            quotechar=quotechar, skipinitialspace=True, comment="%", index_col=False,
            encoding="utf-8", engine="c",
        )
        try:
            with _strict_field_counts(src, ignore=("values containing non-null entries not in",)):
                df = pd.read_csv(stream, dtype=dtype, na_values=na_values, **options)
        except ValueError as exc:
            if isinstance(exc, (DataError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError)):
                raise
            raise _arff_value_error(src, attributes, options) or exc
    if len(df) == 0:
        raise _fail(src.where, "has an ARFF header but no data rows", "add data rows after the @data line")
    nominal = [a for a in attributes if a.kind == "nominal"]
    # With keep_default_na=False a nominal cell is NaN only if its value is undeclared.
    if nominal and df[[a.name for a in nominal]].isna().to_numpy().any():
        raise _arff_value_error(src, attributes, options) or _fail(
            src.where, "has undeclared nominal values", "fix the rows or the @attribute declarations"
        )
    for a in nominal:
        if "?" not in a.levels and not (df[a.name] == "?").any():
            # set_categories keeps the declared order (remove_categories may sort)
            df[a.name] = df[a.name].cat.set_categories(list(dict.fromkeys(a.levels)))
    return df


def _arff_value_error(src: _Source, attributes: list[_ArffAttribute], options: dict[str, Any]) -> DataError | None:
    """Re-read the data as text to find and describe the first invalid value."""
    with src.open() as fh:
        _, _, first_line = _read_arff_header(fh, src.where)
        stream = io.BufferedReader(_PrefixedStream(first_line, fh), buffer_size=1 << 20)
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
            error = _fail(
                src.where,
                f"has a non-numeric value {value!r} for numeric attribute {a.name!r} in data row {row + 1}{hint}",
                "fix the value, write '?' for a missing value, or declare the attribute as a {...} nominal list",
            )
        else:
            error = _fail(
                src.where,
                f"has a value {value!r} of nominal attribute {a.name!r} in data row {row + 1} that is not in "
                f"its declared {{...}} list{hint}",
                "add the value to the @attribute declaration or fix the row",
            )
        first = (row, error)
    return None if first is None else first[1]


# ---- array formats ---------------------------------------------------------- #


def _numeric_matrix(value: Any, src: _Source, key: str) -> np.ndarray | sp.csr_matrix:
    if sp.issparse(value):
        matrix = sp.csr_matrix(value, dtype=np.float64)
    else:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise _fail(
                src.where,
                f"has a non-numeric array {key!r} (dtype {array.dtype})",
                "store the features as a numeric array",
            )
        if array.ndim == 1:
            raise _fail(
                src.where,
                f"has a 1-D array {key!r}",
                "store the features as a 2-D array (rows x features)",
            )
        if array.ndim != 2:
            raise _fail(
                src.where,
                f"has a {array.ndim}-D array {key!r}",
                "store the features as a 2-D array (rows x features)",
            )
        matrix = np.asarray(array, dtype=np.float64)
    if matrix.shape[0] == 0:
        raise _fail(
            src.where,
            f"has no data rows (array {key!r} has 0 rows)",
            "pass a file with at least one row",
        )
    return matrix


def _label_vector(value: Any, n_rows: int, src: _Source, key: str) -> np.ndarray:
    if sp.issparse(value):
        value = value.toarray()
    array = np.asarray(value)
    if array.ndim == 2 and 1 in array.shape:
        array = array.ravel()
    if array.ndim != 1 or array.shape[0] != n_rows:
        raise _fail(
            src.where,
            f"has a label array {key!r} of shape {array.shape} that does not match the {n_rows} rows of X",
            "store one label per row",
        )
    return array


def _read_npz(src: _Source) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray | None, list[str] | None]:
    data: Any = src.path if src.is_plain else io.BytesIO(src.read_bytes())
    if src.is_plain:
        with open(src.path, "rb") as fh:
            magic = fh.read(6)
    else:
        magic = data.getvalue()[:6]
    if not magic.startswith(b"PK") and magic != b"\x93NUMPY":
        raise _fail(
            src.where,
            "is not an NPZ file (no zip signature)",
            "save the data with numpy.savez(path, X=..., y=...)",
        )
    try:
        npz = np.load(data, allow_pickle=False)
    except ValueError as exc:
        raise _fail(
            src.where,
            f"is not a readable NPZ file ({_short(exc)})",
            "re-save it with numpy.savez(path, X=..., y=...)",
        ) from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise _fail(
            src.where,
            "holds a single .npy array, not an NPZ archive",
            "save it with numpy.savez(path, X=..., y=...)",
        )
    with npz:
        keys = list(npz.files)
        if "X" not in keys:
            raise _fail(
                src.where,
                f"has no array 'X' (arrays: {', '.join(keys) or 'none'})",
                "save the features under the name X",
            )
        try:
            X = _numeric_matrix(npz["X"], src, "X")
            y = _label_vector(npz["y"], X.shape[0], src, "y") if "y" in keys else None
            names = [str(n) for n in np.asarray(npz["feature_names"]).ravel()] if "feature_names" in keys else None
        except ValueError as exc:
            if isinstance(exc, DataError):
                raise
            raise _fail(
                src.where,
                f"has an array that cannot be loaded ({_short(exc)})",
                "store X, y and feature_names as plain numeric / string arrays (no pickled objects)",
            ) from exc
    return X, y, names


def _read_mat(src: _Source) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray | None, list[str] | None]:
    import scipy.io

    data: Any = src.path if src.is_plain else io.BytesIO(src.read_bytes())
    try:
        content = scipy.io.loadmat(data)
    except NotImplementedError as exc:
        raise _fail(
            src.where,
            "is a MATLAB v7.3 (HDF5) file, which is not supported",
            "re-save it in MATLAB with save(path, 'X', 'y', '-v7')",
        ) from exc
    keys = [k for k in content if not k.startswith("__")]
    if "X" not in keys:
        raise _fail(
            src.where,
            f"has no variable 'X' (variables: {', '.join(keys) or 'none'})",
            "save the features under the name X",
        )
    X = _numeric_matrix(content["X"], src, "X")
    y = _label_vector(content["y"], X.shape[0], src, "y") if "y" in keys else None
    names = None
    if "feature_names" in keys:
        # loadmat gives a cell array as an object array of 1-element arrays
        cells = [np.asarray(n).ravel() for n in np.asarray(content["feature_names"]).ravel()]
        names = [str(cell[0]).rstrip() if cell.size else "" for cell in cells]  # char matrices are padded
    return X, y, names


def _read_libsvm(src: _Source) -> tuple[sp.csr_matrix, np.ndarray, None]:
    from sklearn.datasets import load_svmlight_file

    with src.open() as fh:
        X, y = load_svmlight_file(fh, dtype=np.float64)
    X = sp.csr_matrix(X)
    if X.shape[0] == 0:
        raise _fail(
            src.where,
            "has no data rows",
            "pass a file with at least one 'label index:value ...' line",
        )
    return X, np.asarray(y), None


# --------------------------------------------------------------------------- #
# Labels
# --------------------------------------------------------------------------- #

_BINARY_STRINGS = {"": 0, "0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}


def _as_binary(value: Any) -> int | None:
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
        return _BINARY_STRINGS.get(value.strip().lower())
    return None


def _label_key(value: Any) -> str:
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


def _to_binary_labels(values: Any, anomaly_value: Any, where: str, column: str) -> np.ndarray:
    """Turn a label column into int8 0/1 (1 = anomaly); missing values give 0."""
    codes, uniques = pd.factorize(pd.Series(values), use_na_sentinel=True)
    uniques = list(uniques)
    if anomaly_value is None:
        mapped = [_as_binary(u) for u in uniques]
        bad = [u for u, m in zip(uniques, mapped) if m is None]
        if bad:
            listed = ", ".join(repr(_plain(b)) for b in bad[:5])
            more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
            raise _fail(
                where,
                f"has label column {column!r} with values other than 0/1 (empty = unlabeled): {listed}{more}",
                f"pass anomaly_value= naming the anomaly class, e.g. anomaly_value={_plain(bad[0])!r}",
            )
        lookup = np.array([m for m in mapped] + [0], dtype=np.int8)
    else:
        target = _label_key(anomaly_value)
        lookup = np.array([_label_key(u) == target for u in uniques] + [False], dtype=np.int8)
        if not lookup.any() and len(codes):
            seen = ", ".join(repr(_plain(u)) for u in uniques[:10])
            logger.warning(
                "%s: anomaly_value=%r matches no row of label column %r (values seen: %s); all rows are labeled 0",
                where, anomaly_value, column, seen,
            )
    # code -1 (missing) indexes the trailing 0 of the lookup table
    return lookup[np.asarray(codes)]


def _plain(value: Any) -> Any:
    """numpy scalars as Python scalars, for readable messages."""
    return value.item() if isinstance(value, np.generic) else value


def _column_key(df: pd.DataFrame, key: str | int, what: str, where: str) -> Any:
    """Find a column by name or integer position."""
    columns = list(df.columns)
    if isinstance(key, bool) or not isinstance(key, (str, int, np.integer)):
        raise DataError(
            f"{what} must be a column name (str) or an integer position, got {key!r}; pass e.g. {what}='class'",
        )
    if isinstance(key, (int, np.integer)):
        if -len(columns) <= int(key) < len(columns):
            return columns[int(key)]
        raise _fail(
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
    raise _fail(
        where,
        f"has no {what} column {key!r} (columns: {listed})",
        f"{hint}pass {'id_column' if what == 'id' else what}= one of the existing columns",
    )


def _split_dataframe(
    df: pd.DataFrame,
    label: str | int | None,
    id_column: str | None,
    anomaly_value: Any,
    src: _Source,
) -> tuple[pd.DataFrame, np.ndarray | None, pd.Series | None]:
    if len(df) == 0:
        raise _fail(src.where, "has a header but no data rows", "add data rows below the header")
    drop: list[Any] = []
    y = None
    if label is not None:
        label_col = _column_key(df, label, "label", src.where)
        y = _to_binary_labels(df[label_col], anomaly_value, src.where, str(label_col))
        drop.append(label_col)
    elif anomaly_value is not None:
        raise DataError(
            f"anomaly_value={anomaly_value!r} was given without label= for {src.where}; pass label= naming the label column",
        )
    ids = None
    if id_column is not None:
        id_col = _column_key(df, id_column, "id", src.where)
        if id_col in drop:
            raise _fail(
                src.where,
                f"uses column {id_col!r} as both label and id",
                "pass different columns for label= and id_column=",
            )
        ids = df[id_col].reset_index(drop=True)
        drop.append(id_col)
    X = df.drop(columns=drop) if drop else df
    if X.shape[1] == 0:
        raise _fail(
            src.where,
            "has no feature columns left after removing the label and id columns",
            "pass a file with at least one feature column",
        )
    if not all(isinstance(c, str) for c in X.columns):
        X = X.rename(columns=str)
        dups = _duplicates(list(X.columns))
        if dups:
            raise _fail(
                src.where,
                f"has duplicate column names once converted to text: {dups[:5]}",
                "rename the columns so that every name is unique",
            )
    return X.reset_index(drop=True), y, ids


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


def read_table(
    path: PathLike,
    label: str | int | None = None,
    *,
    id_column: str | None = None,
    anomaly_value: object | None = None,
    format: str | None = None,  # noqa: A002 - public name chosen for the API
) -> Table:
    """Read a data file into features, binary labels, feature names and ids.

    Parameters
    ----------
    path : str or os.PathLike
        The data file.  The format is picked from the extension (see the module
        docstring); ``.gz``/``.bz2``/``.xz`` are decompressed on the fly and an
        archive (``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.xz``) must
        hold exactly one data file, whose own extension picks the parser.
    label : str or int or None, default=None
        The label column of a CSV, TSV, Parquet or ARFF file, by name or by
        integer position (negative counts from the end; an ``int`` is always a
        position).  It is removed from ``X``.  Without ``anomaly_value`` it
        must hold 0/1 (or booleans); empty cells/NaN mean 0 (unlabeled).
        ``None`` keeps every column as a feature and returns ``y=None``.
        For NPZ, MAT and libsvm files the label is intrinsic (array ``y``, or
        the first field of each libsvm line): pass ``None`` or ``'y'``; ``y``
        is then returned whenever the file has it.
    id_column : str or None, default=None
        A column (CSV/TSV/Parquet/ARFF only) returned as ``Table.ids`` and
        removed from ``X``.
    anomaly_value : object or None, default=None
        The label value that marks an anomaly; every other value (and missing
        values) gives 0.  Values are compared as stripped text, with numbers
        normalized, so ``1``, ``1.0``, ``'1'`` and ``' 1 '`` all match; text is
        case sensitive (``'50000+.'``, ``'yes'``).
    format : {'csv', 'tsv', 'parquet', 'arff', 'npz', 'mat', 'libsvm'} or None
        Overrides the format inferred from the extension (of the archive member
        for archives).  Compression and archive suffixes are still honoured.

    Returns
    -------
    Table
        ``X`` is a DataFrame for CSV/TSV/Parquet/ARFF, a float64 ndarray for
        NPZ/MAT (CSR if the MAT file stores a sparse matrix) and a float64 CSR
        matrix for libsvm.  ``y`` is int8 0/1 or None.

    Raises
    ------
    deviation.exceptions.DataError
        For a missing, empty, truncated, corrupt, non-UTF-8 or malformed file,
        an archive without exactly one data file, duplicate column names, an
        unknown extension, a missing label/id column or non-binary labels.

    Notes
    -----
    * CSV/TSV are read as UTF-8 with pandas' C parser and its default missing
      markers (empty, ``NA``, ``NaN``, ``null``, ...).  A column that holds a
      non-numeric string anywhere becomes a text column as a whole (it is not
      an error here; the preprocessing step one-hot encodes text columns).
    * ARFF numeric attributes become float64 (``?`` = NaN); nominal attributes
      become ``category`` columns whose categories are the declared levels in
      order, plus ``'?'`` when it occurs (a missing nominal value is kept as a
      level of its own; ``NA`` is an ordinary value).  Sparse ARFF is refused.
    * NPZ/MAT feature names come from a ``feature_names`` array when present,
      otherwise ``x0 .. x{n-1}``; libsvm always uses ``x0 .. x{n-1}``.
    * libsvm files are read with scikit-learn's ``load_svmlight_file``: the
      number of features is the largest index seen (trailing all-zero features
      are lost) and indices are taken as 1-based unless a 0 index occurs.
    """
    src = _resolve_source(path, format)
    fmt = src.fmt
    ids: pd.Series | None = None
    with _translate_errors(src):
        if fmt in _TABULAR:
            if fmt == "csv":
                df = _read_delimited(src, ",")
            elif fmt == "tsv":
                df = _read_delimited(src, "\t")
            elif fmt == "parquet":
                df = _read_parquet(src)
            else:
                df = _read_arff(src)
            X, y, ids = _split_dataframe(df, label, id_column, anomaly_value, src)
            feature_names = [str(c) for c in X.columns]
        else:
            if id_column is not None:
                raise _fail(
                    src.where,
                    f"is {_FORMAT_TITLES[fmt]}, which has no named columns for id_column={id_column!r}",
                    "pass id_column=None or convert the file to CSV/Parquet",
                )
            if label not in (None, "y"):
                raise _fail(
                    src.where,
                    f"is {_FORMAT_TITLES[fmt]}, whose label is intrinsic (the 'y' array / libsvm label), "
                    f"so label={label!r} cannot be used",
                    "pass label=None or label='y'",
                )
            reader = {"npz": _read_npz, "mat": _read_mat, "libsvm": _read_libsvm}[fmt]
            X, raw_y, names = reader(src)
            n_features = X.shape[1]
            if names is not None and len(names) != n_features:
                raise _fail(
                    src.where,
                    f"has {len(names)} feature_names for {n_features} feature columns",
                    "store one name per column of X or drop feature_names",
                )
            feature_names = names if names is not None else [f"x{i}" for i in range(n_features)]
            if raw_y is None:
                if label == "y":
                    raise _fail(
                        src.where,
                        "has no label array 'y'",
                        "save the labels under the name y or pass label=None",
                    )
                if anomaly_value is not None:
                    raise _fail(
                        src.where,
                        f"has no label array 'y' to compare with anomaly_value={anomaly_value!r}",
                        "pass anomaly_value=None",
                    )
                y = None
            else:
                y = _to_binary_labels(raw_y, anomaly_value, src.where, "y")
    n_anomalies = "no labels" if y is None else f"{int(np.count_nonzero(y))} labeled anomalies"
    logger.info("read %s: %d rows x %d features, %s", src.where, X.shape[0], X.shape[1], n_anomalies)
    return Table(X=X, y=y, feature_names=feature_names, ids=ids)


_WRITE_FORMATS: tuple[tuple[str, str, str | None], ...] = (
    (".csv.gz", ",", "gzip"),
    (".tsv.gz", "\t", "gzip"),
    (".csv", ",", None),
    (".tsv", "\t", None),
    (".parquet", "parquet", None),
    (".pq", "parquet", None),
)


def write_table(df: pd.DataFrame, path: PathLike) -> Path:
    """Write a DataFrame to CSV, TSV (optionally ``.gz``) or Parquet atomically.

    The data go to a hidden temporary file in the target directory, which is
    flushed to disk and then renamed over ``path`` with :func:`os.replace`, so
    readers never see a half-written file.  On any error the temporary file is
    removed and an existing ``path`` is left untouched.

    Parameters
    ----------
    df : pandas.DataFrame
        The table to write; the index is not written.
    path : str or os.PathLike
        Target file: ``.csv``, ``.csv.gz``, ``.tsv``, ``.tsv.gz``, ``.parquet``
        or ``.pq``.  Its directory must exist.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    deviation.exceptions.DataError
        For a non-DataFrame, duplicate column names, an unknown extension, a
        missing directory or any failure while writing.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(
            f"write_table needs a file path (str or os.PathLike), got {type(path).__name__}; pass a path",
        )
    p = Path(path).expanduser()
    where = f"'{p}'"
    if not isinstance(df, pd.DataFrame):
        raise DataError(
            f"write_table needs a pandas DataFrame for {where}, got {type(df).__name__}; wrap it with pd.DataFrame(...)",
        )
    lower = p.name.lower()
    spec = next((s for s in _WRITE_FORMATS if lower.endswith(s[0])), None)
    if spec is None:
        raise _fail(
            where,
            "has an extension write_table cannot write",
            "use .csv, .csv.gz, .tsv, .tsv.gz, .parquet or .pq",
        )
    dups = _duplicates([str(c) for c in df.columns])
    if dups:
        raise _fail(
            where,
            f"cannot be written: duplicate column names {dups[:5]}",
            "rename the columns so that every name is unique",
        )
    parent = p.parent
    if not parent.is_dir():
        raise _fail(
            where,
            f"cannot be written: the directory '{parent}' does not exist",
            f"create it first (mkdir -p '{parent}')",
        )
    if p.is_dir():
        raise _fail(where, "is a directory", "pass a file path")
    _, sep, compression = spec
    try:
        with atomic_target(p) as tmp:
            if sep == "parquet":
                df.to_parquet(tmp, index=False)
            elif compression:
                # GzipFile by hand so that the header records the final name (not the
                # temporary one) and mtime 0: the same table gives the same bytes.
                with open(tmp, "wb") as raw, gzip.GzipFile(filename=p.name, mode="wb", fileobj=raw, mtime=0) as gz:
                    with io.TextIOWrapper(gz, encoding="utf-8", newline="") as text:
                        df.to_csv(text, sep=sep, index=False, lineterminator="\n")
            else:
                df.to_csv(tmp, sep=sep, index=False, encoding="utf-8", lineterminator="\n")
    except Exception as exc:
        if isinstance(exc, DataError):
            raise
        raise _fail(
            where,
            f"could not be written ({type(exc).__name__}: {_short(exc)})",
            "check the disk space, permissions and column types",
        ) from exc
    logger.info("wrote %s: %d rows x %d columns", where, df.shape[0], df.shape[1])
    return p
