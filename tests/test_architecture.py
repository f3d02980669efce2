"""The rooms of src/hadas import one way only (see ../shared/DESIGN.md and README)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import WITHOUT_TORCH

SRC = Path(__file__).resolve().parents[1] / "src" / "hadas"
# leaves any room may use (config imports space, errors)
SHARED = {"errors", "config", "atomic", "versions", "files", "fields", "registry", "executors",
          "digest"}
ALLOWED = {
    "errors": set(),
    "atomic": set(),
    "versions": set(),
    "files": {"errors"},
    "fields": {"errors"},
    "registry": {"errors"},
    "digest": set(),
    "executors": {"errors", "registry"},
    "config": {"errors", "space"},
    "space": {"errors"},
    "model": {"space"},
    "data": set(),
    "training": {"model", "data", "space"},
    "exits": {"model", "data", "space", "training"},
    "hardware": {"space"},
    "storage": set(),
    "evaluation": {"model", "data", "space", "training", "exits", "hardware"},
    "search": {"space", "evaluation", "storage"},
    "report": {"storage", "space"},
    "export": {"model", "data", "space", "training", "exits", "hardware", "storage", "report"},
    "api": {"space", "model", "data", "training", "exits", "hardware", "evaluation", "search",
            "storage", "report", "export"},
    "cli": {"api"},
}
NO_TORCH = {"errors", "config", "atomic", "versions", "files", "fields", "registry", "executors",
            "digest",
            "space",
            "storage", "report", "search"}
# hardware works on skeletons; only its measurement backends may touch torch (lazily)
TORCH_ONLY_IN = {"hardware": "measure"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "hadas":  # `from hadas import api`
                names.update(f"hadas.{a.name}" for a in node.names)
    return names


def _room(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


@pytest.mark.parametrize("path", sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py"
                                        or p.parent != SRC), ids=lambda p: str(p.relative_to(SRC)))
def test_rooms_import_one_way(path: Path):
    room = _room(path)
    assert room in ALLOWED, f"new room {room!r}: add it to ALLOWED and the README"
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "hadas" and len(parts) > 1 and parts[1] != room:
            assert parts[1] in ALLOWED[room] | SHARED | {"__init__"}, f"{room} imports {name}"
        if room in NO_TORCH:
            assert parts[0] not in {"torch", "torchvision"}, f"{room} must not need torch"
        if room in TORCH_ONLY_IN and TORCH_ONLY_IN[room] not in str(path.relative_to(SRC)):
            assert parts[0] != "torch", f"{path.name}: torch only in {room}/{TORCH_ONLY_IN[room]}*"


def test_the_no_torch_rooms_import_without_torch_transitively():
    """Every module of a no-torch room imports in a process where torch cannot be imported
    (the direct-import check above misses a torch import two modules away)."""
    modules = sorted(
        "hadas." + ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        for p in SRC.rglob("*.py") if _room(p) in NO_TORCH)
    script = WITHOUT_TORCH + "".join(f"import {m}\n" for m in modules) + (
        "assert not any(m.split('.')[0] == 'torch' for m in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(modules) > 30 and "hadas.search.bilevel" in modules
