"""Imports point one way: pipeline -> firmware_gen -> edgepipe_base (ARCHITECTURE.md, "Layers").

Checked on the source, every import statement including those inside functions, so a lazy import
cannot sneak a cycle back in."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# package -> the packages of ours it must never import
FORBIDDEN = {"edgepipe_base": {"pipeline", "firmware_gen"}, "firmware_gen": {"pipeline"}}


def _imported_packages(path: Path, package: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level > 0:
                # a relative import stays inside the file's own top-level package
                found.add(package)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package):
    sources = sorted((REPO / package).rglob("*.py"))
    assert sources, f"{package} has no Python sources"
    bad = [f"{p.relative_to(REPO)} imports {sorted(_imported_packages(p, package) & FORBIDDEN[package])}"
           for p in sources if _imported_packages(p, package) & FORBIDDEN[package]]
    assert not bad, "\n".join(bad)
