"""Write a benchmark's Markdown table into its marked section of docs/BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import re
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:  # torch is optional
        return "not installed"


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {_version('numpy')}, torch {_version('torch')}, "
        f"deviation {_version('deviation')}; measured {datetime.now(timezone.utc):%Y-%m-%d}"
    )


def write_between(doc: Path, begin: str, end: str, text: str) -> None:
    """Replace the part of ``doc`` between the markers ``begin`` and ``end`` with ``text`` (both must exist)."""
    content = doc.read_text(encoding="utf-8")
    if begin not in content or end not in content:
        raise SystemExit(f"{doc} lacks the markers {begin} / {end}")
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{text}\n{end}{tail}", encoding="utf-8")


def write_section(name: str, markdown: str, doc: Path = DOC) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` (append if absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    tmp = doc.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, doc)
