"""Atomic file output: write beside the target, then rename over it.

Every file deviation writes (tables, scores, models, figures) goes through
here, so a failed or interrupted command leaves either the old file or the
complete new one, never a partial file, and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_target", "commit", "discard", "new_temp_path"]


def new_temp_path(path: Path) -> Path:
    """Create an empty hidden temporary file beside ``path`` (exclusively) and return its path.

    Raises
    ------
    OSError
        If it cannot be created (missing directory, permissions, ...).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for open(path, "wb")
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary file name in {path.parent}")


def commit(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to disk and rename it over ``path``, keeping an existing file's permissions."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    with contextlib.suppress(OSError):
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX only)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def discard(tmp: Path) -> None:
    """Remove a temporary file, ignoring a file already gone."""
    with contextlib.suppress(OSError):
        os.unlink(tmp)


@contextlib.contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces ``path``, on any error it is removed.

    Examples
    --------
    >>> with atomic_target(Path("scores.csv")) as tmp:  # doctest: +SKIP
    ...     frame.to_csv(tmp)
    """
    tmp = new_temp_path(path)
    try:
        yield tmp
        commit(tmp, path)
    except BaseException:
        discard(tmp)
        raise
