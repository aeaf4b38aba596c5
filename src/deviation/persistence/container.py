"""The checksummed zip container of every deviation model file, whatever it holds.

A container is one zip archive (``ZIP_DEFLATED``, fixed timestamps) of named
members: ``manifest.json`` first, then the members in the order given. The
manifest holds the format name and version and the size and SHA-256 of every
other member; the archive comment holds the SHA-256 of every byte of the file
before it. Reading verifies all of that (and size limits, member names, strict
JSON of the manifest) before anything else is parsed. This module knows
nothing of models: :mod:`deviation.persistence` decides which members a file
must hold.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .._atomic import atomic_target
from ..exceptions import ModelFileError

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "MAX_FILE_BYTES",
    "MAX_MEMBERS",
    "MAX_MEMBER_BYTES",
    "Container",
    "container_bytes",
    "dump_json",
    "one_line",
    "parse_json",
    "read_file",
    "verify_container",
    "write_atomically",
]

logger = logging.getLogger(__name__)

#: Value of the ``format`` key of ``manifest.json`` (and of a model's ``config.json``).
FORMAT = "deviation-model"
MANIFEST_NAME = "manifest.json"

#: Largest declared uncompressed size of one member.
MAX_MEMBER_BYTES = 4 * 1024**3
#: Most members a container may hold (the manifest included).
MAX_MEMBERS = 64
_MAX_MANIFEST_BYTES = 1024**2
#: Largest file :func:`read_file` reads.
MAX_FILE_BYTES = 2 * MAX_MEMBER_BYTES + _MAX_MANIFEST_BYTES + 1024**2

_ZIP_MAGIC = b"PK\x03\x04"
# The zip comment: this prefix, then the hex SHA-256 of every byte of the file before that digest.
_TRAILER_PREFIX = b"deviation-model sha256="
_DIGEST_HEX_LEN = 64
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_COMPRESS_LEVEL = 6
# member names: lower-case path segments of letters, digits, '.', '_' and '-', no '..', no leading '/'
_MEMBER_NAME = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,63}(/[a-z0-9_][a-z0-9_.-]{0,63}){0,3}")

# Everything the standard zipfile module may raise on a damaged archive.
_ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    OverflowError,
    struct.error,
    NotImplementedError,
    RuntimeError,
    IndexError,
    KeyError,
    TypeError,
)


# --------------------------------------------------------------------------- strict JSON


def one_line(text: Any) -> str:
    """Collapse any whitespace (newlines included) of ``str(text)`` into single spaces."""
    return " ".join(str(text).split())


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` of :func:`json.loads` that refuses duplicate keys."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> NoReturn:
    """``parse_constant`` of :func:`json.loads`: NaN and infinities are not strict JSON."""
    raise ValueError(f"non-standard JSON constant {name}")


def parse_json(raw: bytes, member: str, label: Path | str) -> Any:
    """Parse strict UTF-8 JSON (no duplicate keys, no NaN or infinities) from a member.

    Parameters
    ----------
    raw : bytes
        The member's content.
    member : str
        Its name, for the message.
    label : pathlib.Path or str
        The file, for the message.

    Returns
    -------
    object
        The parsed JSON value.

    Raises
    ------
    ModelFileError
        If ``raw`` is not valid strict JSON.
    """
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_strict_object, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(
            f"Model file {label}: {member} is not valid JSON ({one_line(exc)[:200]}); "
            "the file is corrupted or was not written by deviation."
        ) from None


def dump_json(document: Any) -> bytes:
    """Strict JSON (no NaN), indented, UTF-8, with a final newline: how members are written.

    Raises
    ------
    TypeError, ValueError
        If ``document`` holds something strict JSON cannot store.
    """
    return (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- writing


def _zip_info(name: str) -> zipfile.ZipInfo:
    """A ZipInfo with fixed metadata, so that equal members give equal archives."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def container_bytes(members: list[tuple[str, bytes]], format_version: int) -> bytes:
    """Assemble a container: the manifest, the members, then the archive checksum.

    Parameters
    ----------
    members : list of (str, bytes)
        The named members, in the order they are written. Names are lower-case
        path segments (``config.json``, ``members/0/weights.safetensors``).
    format_version : int
        The ``format_version`` written in the manifest.

    Returns
    -------
    bytes
        The complete zip file. Its comment is ``deviation-model sha256=`` and
        the hex SHA-256 of every byte of the file before those 64 hex digits.

    Raises
    ------
    ValueError
        For an invalid or repeated member name, or too many members.
    """
    names = [name for name, _ in members]
    bad = [n for n in names if not _MEMBER_NAME.fullmatch(n) or ".." in n or n == MANIFEST_NAME]
    if bad or len(set(names)) != len(names) or len(names) + 1 > MAX_MEMBERS:
        raise ValueError(f"invalid container members {names[:10]!r}")
    manifest = {
        "format": FORMAT,
        "format_version": int(format_version),
        "files": {name: {"size": len(data), "sha256": _sha256(data)} for name, data in members},
    }
    manifest_bytes = (json.dumps(manifest, indent=2, allow_nan=False) + "\n").encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=_COMPRESS_LEVEL) as zf:
        for name, data in [(MANIFEST_NAME, manifest_bytes), *members]:
            zf.writestr(_zip_info(name), data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=_COMPRESS_LEVEL)
        zf.comment = _TRAILER_PREFIX + b"0" * _DIGEST_HEX_LEN
    data = bytearray(buffer.getvalue())
    data[-_DIGEST_HEX_LEN:] = _sha256(bytes(data[:-_DIGEST_HEX_LEN])).encode("ascii")
    return bytes(data)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    The temporary file is flushed and fsync'ed, then renamed over ``path``
    with :func:`os.replace`, so ``path`` is either the old file or the new
    one, never a partial file. The temporary file is removed on any error.

    Raises
    ------
    ModelFileError
        If the directory does not exist, ``path`` is a directory, or writing fails.
    """
    directory = path.parent
    if not directory.is_dir():
        raise ModelFileError(f"Cannot save the model to {path}: directory {directory} does not exist; create it first.")
    if path.is_dir():
        raise ModelFileError(f"Cannot save the model to {path}: it is a directory; pass a file path.")
    try:
        with atomic_target(path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise ModelFileError(f"Cannot save the model to {path}: {one_line(exc)}") from exc


# --------------------------------------------------------------------------- reading


def corrupted(label: Path | str, detail: str) -> ModelFileError:
    """The error for a damaged file."""
    return ModelFileError(
        f"Model file {label} is truncated or corrupted ({one_line(detail)[:300]}); "
        "save the model again or restore the file from a backup."
    )


def not_a_model(label: Path | str, detail: str) -> ModelFileError:
    """The error for a file that deviation did not write."""
    return ModelFileError(f"{label} is not a deviation model file ({detail}); pass a file written by deviation.save().")


def check_format(document: Any, member: str, label: Path | str, newest: int) -> int:
    """Check the ``format`` and ``format_version`` of the manifest or the config; return the version.

    Raises
    ------
    ModelFileError
        If the format is not ``deviation-model``, the version is invalid, or
        it is newer than ``newest``.
    """
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise not_a_model(label, f"{member} has format {one_line(repr(found))[:60]}, not {FORMAT!r}")
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(
            f"Model file {label}: {member} has an invalid format_version {one_line(repr(version))[:60]}; "
            "the file is corrupted or was not written by deviation."
        )
    if version > newest:
        raise ModelFileError(
            f"Model file {label} was written by a newer version of deviation (format {version}); "
            f"upgrade deviation (this version reads format {newest})."
        )
    return version


def read_file(path: Path) -> bytes:
    """Read a model file into memory after checking that it is a plausible, non-empty regular file.

    Raises
    ------
    ModelFileError
        If the file is missing, a directory, not a regular file, empty, too large or unreadable.
    """
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise ModelFileError(f"Model file {path} does not exist; check the path.") from None
    except OSError as exc:
        raise ModelFileError(f"Cannot read model file {path}: {one_line(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelFileError(
            f"{path} is a directory, not a model file; pass the path of a file written by deviation.save()."
        )
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path} is not a regular file; pass the path of a file written by deviation.save().")
    if info.st_size == 0:
        raise ModelFileError(f"Model file {path} is empty (0 bytes), not a deviation model file; save the model again.")
    if info.st_size > MAX_FILE_BYTES:
        raise ModelFileError(
            f"{path} is {info.st_size} bytes, larger than any deviation model file can be "
            f"({MAX_FILE_BYTES} bytes); refusing to read it."
        )
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ModelFileError(f"Cannot read model file {path}: {one_line(exc)}") from None


def _read_member(zf: zipfile.ZipFile, name: str, limit: int, label: Path | str) -> bytes:
    """Decompress one member, refusing encrypted members, odd compressions and oversized ones."""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise ModelFileError(
            f"Model file {label}: member {name} declares {info.file_size} uncompressed bytes, above the "
            f"limit of {limit}; refusing to decompress it (a damaged file or a zip bomb)."
        )
    if info.flag_bits & 0x1:
        raise corrupted(label, f"member {name} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise corrupted(label, f"member {name} uses unsupported compression method {info.compress_type}")
    try:
        with zf.open(info) as fh:
            content = fh.read(limit + 1)
    except _ZIP_ERRORS as exc:
        raise corrupted(label, f"cannot decompress {name}: {type(exc).__name__}: {exc}") from None
    if len(content) != info.file_size:
        raise corrupted(label, f"{name} has {len(content)} bytes instead of {info.file_size}")
    return content


def _check_manifest_files(manifest: dict[str, Any], label: Path | str) -> dict[str, dict[str, Any]]:
    """Return the ``files`` entry of the manifest after checking its structure."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files or len(files) + 1 > MAX_MEMBERS:
        raise corrupted(label, f"{MANIFEST_NAME} must list the members of the file")
    for name, entry in files.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("size") if isinstance(entry, dict) else None
        if (
            not isinstance(digest, str)
            or len(digest) != _DIGEST_HEX_LEN
            or any(c not in "0123456789abcdef" for c in digest)
            or isinstance(size, bool)
            or not isinstance(size, int)
            or size < 0
        ):
            raise corrupted(label, f"{MANIFEST_NAME} has an invalid entry for {one_line(name)[:80]}")
    return files


@dataclass(frozen=True)
class Container:
    """The verified content of a container.

    Attributes
    ----------
    format_version : int
        The manifest's format version.
    members : dict of str to bytes
        Every member but the manifest, in archive order, checksums verified.
    """

    format_version: int
    members: dict[str, bytes]


def verify_container(data: bytes, label: Path | str, newest_version: int) -> Container:
    """Verify a container completely and return its members.

    Steps: the bytes must be a zip archive; ``manifest.json`` is parsed and
    its format checked (so files from a newer deviation are recognised even if
    their layout changed); the members must be exactly those the manifest
    lists, each once, with safe names; the archive checksum (zip comment) must
    match every byte of the file; each member must match its manifest size and
    SHA-256. Nothing but the manifest is parsed.

    Parameters
    ----------
    data : bytes
        The whole file.
    label : pathlib.Path or str
        Names the file in messages.
    newest_version : int
        The newest ``format_version`` this deviation reads.

    Returns
    -------
    Container

    Raises
    ------
    ModelFileError
        For any problem, with a one-line message.
    """
    if not data.startswith(_ZIP_MAGIC):
        if _ZIP_MAGIC.startswith(data):
            raise corrupted(label, f"only {len(data)} bytes")
        hint = "it is not a zip archive"
        if data[:1] == b"\x80" and len(data) > 1 and 2 <= data[1] <= 5:
            hint += "; it looks like a Python pickle, which deviation never loads because it can run code"
        raise not_a_model(label, hint)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS:
        raise corrupted(label, "the zip directory at the end of the file is missing or damaged") from None
    with zf:
        names = zf.namelist()
        if MANIFEST_NAME not in names:
            raise not_a_model(label, f"it has no {MANIFEST_NAME}")
        if names.count(MANIFEST_NAME) != 1:
            raise corrupted(label, f"{MANIFEST_NAME} appears {names.count(MANIFEST_NAME)} times")
        manifest = parse_json(_read_member(zf, MANIFEST_NAME, _MAX_MANIFEST_BYTES, label), MANIFEST_NAME, label)
        version = check_format(manifest, MANIFEST_NAME, label, newest_version)
        files = _check_manifest_files(manifest, label)
        unexpected = [n for n in names if n != MANIFEST_NAME and n not in files]
        unexpected += [n for n in files if not _MEMBER_NAME.fullmatch(n) or ".." in n]
        if unexpected:
            raise ModelFileError(
                f"Model file {label} contains unexpected member(s) {unexpected[:5]!r} that its {MANIFEST_NAME} "
                "does not allow. Refusing to load it: use a file written by deviation.save()."
            )
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise corrupted(label, f"members {duplicated} appear more than once")
        missing = [n for n in files if n not in names]
        if missing:
            raise ModelFileError(f"Model file {label} lacks {missing}; it is incomplete. Save the model again.")

        tail = data[-_DIGEST_HEX_LEN:]
        expected = _sha256(data[:-_DIGEST_HEX_LEN]).encode("ascii")
        if zf.comment != _TRAILER_PREFIX + tail or not hmac.compare_digest(expected, tail):
            raise corrupted(label, "the archive checksum does not match the file's bytes")

        members: dict[str, bytes] = {}
        for name in (n for n in names if n != MANIFEST_NAME):
            if files[name]["size"] != zf.getinfo(name).file_size:
                raise corrupted(label, f"{name} size differs from {MANIFEST_NAME}")
            content = _read_member(zf, name, MAX_MEMBER_BYTES, label)
            if not hmac.compare_digest(_sha256(content), files[name]["sha256"]):
                raise corrupted(label, f"the SHA-256 checksum of {name} does not match {MANIFEST_NAME}")
            members[name] = content
    return Container(version, members)
