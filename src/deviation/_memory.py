"""The memory guard: estimate an allocation sized by the input before making it.

Whatever grows with the input (the width of a libsvm file, the cells of a
whole file read at once, a dense copy of sparse rows, one-hot columns) is
estimated in bytes first; :func:`check_allocation` compares the estimate with
the memory this process can still use and raises a one-line
:class:`~deviation.exceptions.MemoryLimitError` naming what is too big, how
much it would need and what to do instead, rather than letting the operating
system kill the process or a ``MemoryError`` escape as a traceback.

Available memory (:func:`available_bytes`) is, on Linux, ``MemAvailable`` of
``/proc/meminfo``, lowered to what is left under the process's cgroup limit
(``memory.max`` of cgroup v2, ``memory.limit_in_bytes`` of v1) when that is
smaller; elsewhere the physical memory ``os.sysconf`` reports. The environment
variable ``DEVIATION_MEMORY_LIMIT`` overrides it: a number of bytes, or with a
``K``, ``M``, ``G`` or ``T`` suffix (powers of 1024; ``8G``, ``512M``,
``1.5G``). Allocations are refused above :data:`SAFETY_FRACTION` (80 %) of it:
the estimates leave out the interpreter, the libraries and short-lived copies.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from .exceptions import MemoryLimitError, ParameterError

logger = logging.getLogger(__name__)

__all__ = [
    "ENV_VAR",
    "SAFETY_FRACTION",
    "available_bytes",
    "cgroup_available",
    "check_allocation",
    "format_bytes",
    "meminfo_available",
    "parse_size",
    "reuse_freed_memory",
]

#: Environment variable that sets the available memory (bytes, or with a K/M/G/T suffix).
ENV_VAR = "DEVIATION_MEMORY_LIMIT"

#: Share of the available memory one estimated allocation may take.
SAFETY_FRACTION = 0.8

#: cgroup limits at or above this mean "no limit" (v1 writes 2**63 rounded down to a page).
_UNLIMITED = 1 << 60

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Parse a memory size: bytes, or a number with a K, M, G or T suffix (powers of 1024).

    Parameters
    ----------
    text : str
        ``"4096"``, ``"512M"``, ``"8G"``, ``"1.5g"``, ``"2GiB"``, ``"100KB"``.

    Returns
    -------
    int
        The size in bytes.

    Raises
    ------
    ParameterError
        When ``text`` is not such a size (the message names ``DEVIATION_MEMORY_LIMIT``).
    """
    match = _SIZE.match(str(text))
    if match is None:
        raise ParameterError(
            f"{ENV_VAR}={text!r} is not a memory size; set it to a number of bytes, optionally with a "
            f"K, M, G or T suffix (e.g. {ENV_VAR}=8G), or unset it"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def meminfo_available(text: str) -> int | None:
    """``MemAvailable`` of a ``/proc/meminfo`` text, in bytes (None when absent).

    Parameters
    ----------
    text : str
        The content of ``/proc/meminfo`` (``"MemAvailable:  3145728 kB"`` lines).

    Returns
    -------
    int or None
    """
    match = re.search(r"^MemAvailable:\s*(\d+)\s*(kB)?\s*$", text, re.MULTILINE)
    if match is None:
        return None
    return int(match.group(1)) * (1024 if match.group(2) else 1)


def cgroup_available(limit: str, usage: str | None = None, stat: str | None = None) -> int | None:
    """Bytes left under a cgroup memory limit (None when there is no limit).

    Parameters
    ----------
    limit : str
        ``memory.max`` (cgroup v2: bytes or ``"max"``) or ``memory.limit_in_bytes``
        (v1: bytes, about ``2**63`` when unlimited).
    usage : str or None
        ``memory.current`` (v2) or ``memory.usage_in_bytes`` (v1); None: nothing used.
    stat : str or None
        ``memory.stat``: its ``inactive_file`` (page cache the kernel reclaims
        first) is not counted as used.

    Returns
    -------
    int or None
        ``limit - (usage - inactive_file)``, at least 0; None without a limit.
    """
    text = limit.strip()
    if not text.isdigit() or int(text) >= _UNLIMITED:
        return None  # "max" (v2) or the v1 "unlimited" value
    used = int(usage.strip()) if usage is not None and usage.strip().isdigit() else 0
    if stat is not None:
        match = re.search(r"^(?:total_)?inactive_file\s+(\d+)\s*$", stat, re.MULTILINE)
        if match is not None:
            used = max(used - int(match.group(1)), 0)
    return max(int(text) - used, 0)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _own_cgroup_dirs(root: Path) -> list[Path]:
    """The process's own cgroup directories under ``root`` (v2 and v1 memory), then the root ones."""
    dirs: list[Path] = []
    for line in (_read(Path("/proc/self/cgroup")) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":
            dirs.append(root / rel.lstrip("/"))
        elif "memory" in controllers.split(","):
            dirs.append(root / "memory" / rel.lstrip("/"))
    return [*dirs, root, root / "memory"]


def _cgroup_available(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    for directory in _own_cgroup_dirs(root):
        for limit, usage in (("memory.max", "memory.current"), ("memory.limit_in_bytes", "memory.usage_in_bytes")):
            text = _read(directory / limit)
            if text is not None:
                left = cgroup_available(text, _read(directory / usage), _read(directory / "memory.stat"))
                if left is not None:
                    return left
    return None


def available_bytes() -> int | None:
    """Memory this process can still allocate, in bytes (None when it cannot be told).

    ``DEVIATION_MEMORY_LIMIT`` when set (bytes, or with a K/M/G/T suffix);
    else on Linux ``MemAvailable`` from ``/proc/meminfo``, or what is left
    under the cgroup memory limit when that is smaller; else the physical
    memory from ``os.sysconf``.

    Returns
    -------
    int or None

    Raises
    ------
    ParameterError
        When ``DEVIATION_MEMORY_LIMIT`` is set but is not a size.
    """
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return parse_size(override)
    candidates = []
    meminfo = _read(Path("/proc/meminfo"))
    if meminfo is not None:
        candidates.append(meminfo_available(meminfo))
    candidates.append(_cgroup_available())
    known = [c for c in candidates if c is not None]
    if known:
        return min(known)
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") if "SC_AVPHYS_PAGES" in os.sysconf_names else os.sysconf("SC_PHYS_PAGES")
        return int(pages) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(nbytes: float) -> str:
    """A size for people: ``"512 bytes"``, ``"3.1 GiB"``, ``"16.0 GiB"``.

    Parameters
    ----------
    nbytes : float

    Returns
    -------
    str
    """
    if nbytes < 1024:
        return f"{int(nbytes)} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        nbytes /= 1024
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:,.1f} {unit}"
    raise AssertionError("unreachable")


#: Allocations below this size (bytes) are not checked unless ``DEVIATION_MEMORY_LIMIT`` is set.
ALWAYS_FITS = 64 * 2**20


def check_allocation(nbytes: float, what: str, fix: str, *, where: str | None = None) -> None:
    """Refuse an allocation of about ``nbytes`` that would not fit in memory.

    The allocation is refused when it is above :data:`SAFETY_FRACTION` (80 %)
    of :func:`available_bytes` (``DEVIATION_MEMORY_LIMIT`` when set): the
    estimate leaves out the interpreter, the libraries and short-lived copies.
    Nothing is checked when the available memory cannot be told, nor for
    allocations under :data:`ALWAYS_FITS` (64 MiB) when ``DEVIATION_MEMORY_LIMIT``
    is not set.

    Parameters
    ----------
    nbytes : float
        Estimated size of the allocation.
    what : str
        What would be allocated, for the message: ``"one-hot encoding of column
        'city' (20,000 categories)"``.
    fix : str
        What the user can do instead, for the message.
    where : str or None
        The file or column concerned, put first in the message (``"'big.libsvm'"``).

    Raises
    ------
    MemoryLimitError
        ``"<where>: <what> would need 16.0 GiB, more than the 3.1 GiB available; <fix>"``.

    Examples
    --------
    The guard another module calls before one-hot encoding a column::

        check_allocation(n_rows * width * 8, f"one-hot encoding of column {name!r} ({width:,} categories)",
                         "declare it with --id-column or leave it out with --drop")
    """
    if nbytes < ALWAYS_FITS and not os.environ.get(ENV_VAR, "").strip():
        # reading /proc and the cgroup files costs about a millisecond: too much for every small
        # batch a service scores, and no machine that runs Python lacks this much
        return
    available = available_bytes()
    if available is None:
        return
    logger.debug("memory check: %s needs %s of %s available", what, format_bytes(nbytes), format_bytes(available))
    if nbytes <= SAFETY_FRACTION * available:
        return
    if nbytes > available:
        over = f"more than the {format_bytes(available)} available"
    else:
        over = f"over {SAFETY_FRACTION:.0%} of the {format_bytes(available)} available"
    prefix = f"{where}: " if where else ""
    raise MemoryLimitError(
        f"{prefix}{what} would need {format_bytes(nbytes)}, {over}; {fix}", nbytes=int(nbytes), available=available
    )


#: Assumed decompression ratio of a compressed file or archive member whose size is not
#: recorded cheaply (gzip, bz2, xz, compressed tar): text data compresses 3 to 10 times,
#: so 3 under-estimates the content and only a file clearly too big is refused.
COMPRESSION_RATIO = 3

#: Bytes in memory per byte of content while a whole file is read: tabular files (CSV, TSV,
#: Parquet, ARFF) hold every cell as read and once more concatenated before the columns are
#: typed (text cells then grow further, as Python strings); array formats at least their size.
READ_FACTOR = {"csv": 2, "tsv": 2, "parquet": 2, "arff": 2}


def content_bytes(src: object) -> tuple[int, str]:
    """Size of a data file's content, cheaply: the exact size or a stated guess.

    Parameters
    ----------
    src : deviation.io.sources.Source
        Anything with its ``path``, ``container``, ``member`` and ``compression``.

    Returns
    -------
    nbytes : int
    how : str
        How it was known, for a message: ``"5.0 GiB"`` or ``"about 6.0 GiB, assuming
        3x compression"``.
    """
    path = Path(src.path)  # type: ignore[attr-defined]
    size = path.stat().st_size
    container = getattr(src, "container", None)
    if container == "zip" and getattr(src, "compression", None) is None:
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                size = archive.getinfo(str(getattr(src, "member", ""))).file_size
            return size, format_bytes(size)
        except (OSError, KeyError, zipfile.BadZipFile):
            pass  # the reader reports a broken archive
    compressed = getattr(src, "compression", None) is not None or (
        container == "tar" and not path.name.lower().endswith(".tar")
    ) or container == "zip"
    if compressed:
        size *= COMPRESSION_RATIO
        return size, f"about {format_bytes(size)}, assuming {COMPRESSION_RATIO}x compression"
    return size, format_bytes(size)


def check_whole_file(src: object) -> None:
    """Refuse to read a whole data file that clearly cannot fit in memory.

    A cheap, conservative estimate from the file's size (:func:`content_bytes`)
    times :data:`READ_FACTOR` of its format (1 for array formats); refused as
    :func:`check_allocation` does, with the hint to fit on a streamed sample.

    Parameters
    ----------
    src : deviation.io.sources.Source

    Raises
    ------
    MemoryLimitError
    """
    try:
        size, how = content_bytes(src)
    except OSError:
        return  # the reader reports a file it cannot read
    factor = READ_FACTOR.get(str(getattr(src, "fmt", "")), 1)
    check_allocation(
        size * factor,
        f"reading the whole file ({how} of data, held about {factor}x in memory while it is typed)"
        if factor > 1 else f"reading the whole file ({how} of data)",
        "fit on a sample read as a stream with deviation fit --sample-size N (e.g. 1000000), "
        "or use a machine with more memory",
        where=getattr(src, "where", None),
    )


#: glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def reuse_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Ask glibc's malloc to keep freed blocks for the next ones instead of giving them back to the system.

    A streaming command allocates arrays of a few MB for every batch. By
    default glibc maps each one fresh and unmaps it when freed (its adaptive
    threshold resets when a thread's heap is trimmed), so the kernel zeroes new
    pages for every batch: measured on ``deviation score`` of 5,000,000 rows,
    about a second of system time and 100,000 page faults, against 0.5 s and
    23,000 with blocks up to 32 MB taken from (and kept in) the heap, up to 256 MB
    of free heap kept. Process-wide: only the command line calls it, never the
    library.

    Returns
    -------
    bool
        False where it does not apply (not glibc).
    """
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
