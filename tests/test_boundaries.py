"""Dependency direction, one way only: gui -> runtime -> codegen -> graph.

Each package is imported, with every submodule, in a fresh interpreter where the modules it must
not use raise ImportError. A static pass over the source also catches lazy imports inside
functions, which an import test cannot see, and bare ``graph``/``gui``... imports, which would load
the same code twice under two names.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("graph", "codegen", "runtime", "gui")
QT = ("PySide6", "shiboken6", "pyqtgraph")
TORCH = ("torch", "torchvision")

# package -> modules it must never import (third-party roots and torchcanvas packages above it)
FORBIDDEN = {
    "graph": (*TORCH, *QT, "torchcanvas.codegen", "torchcanvas.runtime", "torchcanvas.gui"),
    "codegen": (*TORCH, *QT, "torchcanvas.runtime", "torchcanvas.gui"),
    "runtime": (*QT, "torchcanvas.gui"),
}

IMPORT_ALL = textwrap.dedent("""
    import importlib, pkgutil, sys

    package, blocked = sys.argv[1], tuple(sys.argv[2].split(","))

    def is_blocked(name):
        return any(name == b or name.startswith(b + ".") for b in blocked)

    class Block:
        def find_spec(self, name, path=None, target=None):
            if is_blocked(name):
                raise ImportError(f"{name} is off limits for {package}")
            return None

    early = sorted(n for n in sys.modules if is_blocked(n))
    assert not early, f"already imported at startup: {early}"
    sys.meta_path.insert(0, Block())
    pkg = importlib.import_module(package)
    names = [package]
    def fail(name):
        raise
    for info in pkgutil.walk_packages(pkg.__path__, package + ".", onerror=fail):
        importlib.import_module(info.name)
        names.append(info.name)
    leaked = sorted(n for n in sys.modules if is_blocked(n))
    assert not leaked, f"imported anyway: {leaked}"
    print("\\n".join(names))
""")


def run_isolated(package: str, blocked: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess:
    # -I: no current directory on sys.path, so a bare `import graph` cannot resolve either
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-I", "-c", IMPORT_ALL, package, ",".join(blocked)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_package_imports_without_forbidden_modules(folder, tmp_path):
    package = f"torchcanvas.{folder}"
    result = run_isolated(package, FORBIDDEN[folder], tmp_path)
    assert result.returncode == 0, (
        f"{package} needs something it must not import:\n{result.stderr[-4000:]}"
    )
    imported = set(result.stdout.split())
    expected = {package} | {
        f"{package}.{'.'.join(p.relative_to(ROOT / folder).with_suffix('').parts)}".removesuffix(
            ".__init__"
        )
        for p in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    # every module in the folder was imported (so new modules are covered automatically)
    assert expected <= imported, sorted(expected - imported)


def test_the_blocker_really_blocks(tmp_path):
    """The harness itself: a package that needs a blocked module must fail."""
    result = run_isolated("torchcanvas.graph", ("networkx",), tmp_path)
    assert result.returncode != 0
    assert "networkx is off limits" in result.stderr


def source_files(*folders: str) -> list[Path]:
    return sorted(
        p for f in folders for p in (ROOT / f).rglob("*.py") if "__pycache__" not in p.parts
    )


def imported_names(path: Path) -> list[tuple[int, str]]:
    """Every absolute module name an import statement in ``path`` names, lazy ones included;
    imports under ``if TYPE_CHECKING:`` are skipped (they never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    names = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.lineno, node.module))
            names += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_forbidden_import_anywhere_in_the_source(folder):
    bad = []
    for path in source_files(folder):
        for line, name in imported_names(path):
            if any(name == b or name.startswith(b + ".") for b in FORBIDDEN[folder]):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not bad, "\n".join(bad)


def test_no_bare_package_imports():
    """`import graph` / `from codegen import ...` would load a second copy of the code."""
    bare = set(PACKAGES)
    bad = []
    for path in source_files(*PACKAGES, "tests", "bench"):
        for line, name in imported_names(path):
            if name.split(".")[0] in bare:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not bad, "\n".join(bad)


def test_static_check_sees_lazy_and_bare_imports(tmp_path):
    """The static pass itself: it must see imports inside functions and skip TYPE_CHECKING."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        textwrap.dedent("""
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import PySide6
        def later():
            import torch.nn
            from graph.document import Graph
            return "import gui"
    """),
        encoding="utf-8",
    )
    names = [name for _, name in imported_names(sample)]
    assert "torch.nn" in names and "graph.document" in names
    assert "PySide6" not in names and "gui" not in names
