"""Where the bytes of a data file come from: plain, compressed or inside an archive.

:func:`resolve_source` checks a path and works out its format, compression and
archive member; :meth:`Source.open` streams the decompressed bytes (archive
members are never extracted to disk); :func:`translate_errors` turns the
low-level errors of any parser into one-line :class:`~deviation.exceptions.DataError`.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import re
import shlex
import sys
import tarfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Union

from ..exceptions import DataError


class _NeverRaised(Exception):
    """Matches nothing: the error class of a library that was never imported."""


def _pandas_error(name: str) -> type[BaseException]:
    """``pandas.errors.<name>``, or a class nothing raises when pandas was never imported (then no pandas
    code ran to raise it): the readers that need pandas import it, this module does not."""
    pandas = sys.modules.get("pandas")
    return getattr(pandas.errors, name) if pandas is not None else _NeverRaised

PathLike = Union[str, "os.PathLike[str]"]

#: Names accepted by the ``format=`` argument of :func:`deviation.read_table`.
FORMATS: tuple[str, ...] = ("csv", "tsv", "parquet", "arff", "npz", "mat", "libsvm")

EXTENSIONS: dict[str, str] = {
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
FORMAT_ALIASES: dict[str, str] = {
    **{ext.lstrip("."): fmt for ext, fmt in EXTENSIONS.items()},
    "svmlight": "libsvm",
}
# Longest suffixes first so that ".tar.gz" wins over ".gz".
ARCHIVES: tuple[tuple[str, str], ...] = (
    (".tar.gz", "tar"),
    (".tar.xz", "tar"),
    (".tar.bz2", "tar"),
    (".tgz", "tar"),
    (".txz", "tar"),
    (".tbz2", "tar"),
    (".tar", "tar"),
    (".zip", "zip"),
)
COMPRESSIONS: dict[str, str] = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
TABULAR = frozenset({"csv", "tsv", "parquet", "arff"})
INTRINSIC_LABEL = frozenset({"npz", "mat", "libsvm"})
FORMAT_TITLES = {
    "csv": "CSV",
    "tsv": "TSV",
    "parquet": "Parquet",
    "arff": "ARFF",
    "npz": "NPZ",
    "mat": "MATLAB",
    "libsvm": "libsvm/svmlight",
}
SUPPORTED_TEXT = (
    ".csv, .tsv, .parquet/.pq, .arff, .npz, .mat, .libsvm/.svm/.svmlight "
    "(optionally .gz/.bz2/.xz), or one of them inside .zip/.tar/.tar.gz/.tgz/.tar.xz"
)



@dataclass(frozen=True)
class Source:
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


def fail(where: str, problem: str, fix: str) -> DataError:
    """Build a one-line DataError: ``<file> <problem>; <fix>``."""
    text = f"{where} {problem}; {fix}"
    return DataError(re.sub(r"\s*[\r\n]+\s*", " ", text))


def short_message(exc: BaseException) -> str:
    """First line of an exception message, or its type name."""
    text = str(exc).strip().splitlines()
    return text[0].strip() if text and text[0].strip() else type(exc).__name__


def _split_name(name: str) -> tuple[str | None, str | None, str]:
    """Split a file name into (archive kind, compression, data extension)."""
    lower = name.lower()
    for suffix, kind in ARCHIVES:
        if lower.endswith(suffix):
            return kind, None, suffix
    compression = None
    for suffix, method in COMPRESSIONS.items():
        if lower.endswith(suffix):
            compression = method
            lower = lower[: -len(suffix)]
            break
    ext = os.path.splitext(lower)[1]
    return None, compression, ext


def _normalize_format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    if not isinstance(fmt, str) or fmt.lower().lstrip(".") not in FORMAT_ALIASES:
        raise DataError(
            f"format={fmt!r} is not supported; pass one of {', '.join(FORMATS)} "
            "or leave format=None to pick the format from the file extension"
        )
    return FORMAT_ALIASES[fmt.lower().lstrip(".")]


def _is_hidden_member(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith(".")


def resolve_source(path: PathLike, fmt: str | None) -> Source:
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
            raise fail(where, "does not exist", f"check the path (current directory: '{Path.cwd()}')")
        if p.is_dir():
            raise fail(where, "is a directory, not a data file", "pass the path of one file inside it")
        if not p.is_file():
            raise fail(where, "is not a regular file", "pass the path of a regular data file")
        size = p.stat().st_size
    except OSError as exc:
        raise fail(
            where,
            f"cannot be accessed ({short_message(exc)})",
            "check the path and its permissions",
        ) from exc
    if size == 0:
        raise fail(where, "is empty (0 bytes)", "pass a file with a header row and at least one data row")
    fmt = _normalize_format(fmt)
    container, compression, ext = _split_name(p.name)

    if container is None:
        data_fmt = fmt or EXTENSIONS.get(ext)
        if data_fmt is None:
            raise fail(
                where,
                f"has an unknown extension {ext or '(none)'!r}",
                f"use one of {SUPPORTED_TEXT}, or pass format= (one of {', '.join(FORMATS)})",
            )
        return Source(path=p, fmt=data_fmt, compression=compression)

    # Archives: exactly one data member.
    with translate_errors(Source(path=p, fmt=fmt or "csv", container=container)):
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
        if inner_ext in EXTENSIONS:
            known.append((name, fmt or EXTENSIONS[inner_ext], inner_compression))
        elif fmt is not None:
            unknown.append((name, fmt, inner_compression))
    candidates = known or unknown
    shown = ", ".join(f"'{m}'" for m in members[:10]) or "none"
    if not candidates:
        raise fail(
            where,
            f"holds no data file (members: {shown})",
            f"put exactly one data file ({SUPPORTED_TEXT.split(' (')[0]}) in the archive",
        )
    if len(candidates) > 1:
        names = ", ".join(f"'{c[0]}'" for c in candidates[:10])
        raise fail(
            where,
            f"holds {len(candidates)} data files ({names}) but must hold exactly one",
            "extract the file you want and read it directly, or repack the archive with one data file",
        )
    member, inner_fmt, inner_compression = candidates[0]
    return Source(path=p, fmt=inner_fmt, container=container, member=member, compression=inner_compression)


# --------------------------------------------------------------------------- #
# Error translation
# --------------------------------------------------------------------------- #


def first_non_utf8_line(src: Source) -> tuple[int, bytes] | None:
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
def translate_errors(src: Source) -> Iterator[None]:
    """Turn low-level errors raised while reading ``src`` into DataError."""
    title = FORMAT_TITLES.get(src.fmt, src.fmt)
    where = src.where
    try:
        yield
    except DataError:
        raise
    except MemoryError:
        raise
    except UnicodeDecodeError as exc:
        raise not_utf8(src) from exc
    except (EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile) as exc:
        raise fail(
            where,
            f"is truncated or corrupt ({short_message(exc)})",
            "download or create the file again and check that it was copied completely",
        ) from exc
    except _pandas_error("EmptyDataError") as exc:
        raise fail(
            where,
            "contains no data (not even a header row)",
            "pass a file with a header row and data rows",
        ) from exc
    except _pandas_error("ParserError") as exc:
        raise fail(
            where,
            f"could not be parsed as {title} ({short_message(exc)})",
            "fix the malformed line (every row needs as many fields as the header) or pass the right format=",
        ) from exc
    except OSError as exc:
        raise fail(
            where,
            f"cannot be read ({short_message(exc)})",
            "check that the file is readable, complete and not corrupt",
        ) from exc
    except Exception as exc:  # pandas, pyarrow, scipy and sklearn parse errors
        raise fail(
            where,
            f"could not be read as {title} ({type(exc).__name__}: {short_message(exc)})",
            f"check that the file really is {title} or pass the right format=",
        ) from exc




def duplicates(names: list[str]) -> list[str]:
    counts = Counter(n for n in names if n != "")
    return [n for n, c in counts.items() if c > 1]


def not_utf8(src: Source) -> DataError:
    """The error for a file that is not UTF-8 text, with the first bad line and how to re-encode it."""
    encoding = _bom_encoding(src)
    if encoding is not None:
        # a byte-order mark says which encoding it is: name it rather than guess latin1
        found, at, source_encoding = None, f" (it starts with a {encoding} byte-order mark)", encoding.lower()
    else:
        found = first_non_utf8_line(src)
        at = f" (line {found[0]}: {found[1]!r})" if found else ""
        source_encoding = "latin1"
    if src.is_plain:
        fix = (f"re-encode it as UTF-8, e.g. iconv -f {source_encoding} -t utf-8 {shlex.quote(str(src.path))} "
               f"> fixed{src.path.suffix}")
    else:
        fix = (f"extract/decompress it, re-encode it as UTF-8 (e.g. iconv -f {source_encoding} -t utf-8 in > out) "
               "and read the result")
    return fail(src.where, f"is not UTF-8 text{at}", fix)


def _bom_encoding(src: Source) -> str | None:
    """``"UTF-16"`` or ``"UTF-32"`` when ``src`` starts with that encoding's byte-order mark."""
    try:
        with src.open() as fh:
            start = fh.read(4)
    except Exception:  # noqa: BLE001 - only a hint for the message
        return None
    if start[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "UTF-32"
    if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16"
    return None


def check_unique_names(src: Source, names: list[str], what: str = "column") -> None:
    """Refuse duplicate column names, naming them (pandas would rename them silently)."""
    dups = duplicates(names)
    if dups:
        raise fail(
            src.where,
            f"has duplicate {what} names: {', '.join(repr(d) for d in dups[:5])}",
            f"rename the {what}s so that every name is unique",
        )
