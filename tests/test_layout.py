"""The layout's habits (docs/architecture.md): no private cross-module imports, one definition each."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "deviation"
SOURCES = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "reproduction").rglob("*.py"))


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                # a private module of the package (_params, _limits, _atomic) is shared on purpose;
                # a private *name* of another module is not
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import {alias.name}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.attr.startswith("_") and not node.attr.startswith("__") and node.value.id in {
                "io", "schema", "reader", "persistence", "estimator", "preprocess", "scoring", "stream", "dask",
            }:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_cross_module_imports(path: Path) -> None:
    assert _private_imports(path) == []


def test_the_checker_finds_a_private_import(tmp_path: Path) -> None:
    bad = ROOT / "src" / "deviation" / "_layout_probe_tmp.py"
    try:
        bad.write_text("from .io.reader import _as_list\n", encoding="utf-8")
        assert _private_imports(bad) == ["src/deviation/_layout_probe_tmp.py:1 from io.reader import _as_list"]
    finally:
        bad.unlink()


def test_the_package_carries_no_reproduction_code() -> None:
    assert not (PACKAGE / "bench").exists()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import reproduction" not in text and "from reproduction" not in text, path


def test_the_scored_frame_is_built_in_one_place() -> None:
    # the columns of scored rows are written once, in deviation/scored.py (used by scoring.scored_frame
    # and the all-numeric score path)
    pattern = r'"p_value"\]? *[:=]|\["p_value"\] *='
    writers = [p for p in PACKAGE.rglob("*.py") if re.search(pattern, p.read_text(encoding="utf-8"))]
    assert [p.name for p in writers] == ["scored.py"]
    steps = [p.name for p in PACKAGE.rglob("*.py") if "steps[-1][1] if hasattr" in p.read_text(encoding="utf-8")]
    assert steps == ["scoring.py"]


@pytest.mark.parametrize("literal", [r"\b1e30\b", r"\b16_384\b", r"\b16384\b", r"2\s*\*\*\s*31\s*-\s*1"])
def test_shared_limits_are_defined_once(literal: str) -> None:
    hits = [p.name for p in PACKAGE.rglob("*.py") if re.search(literal, p.read_text(encoding="utf-8"))]
    assert hits in ([], ["_limits.py"]), hits
