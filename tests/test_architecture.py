"""The import rules of ARCHITECTURE.md, checked by reading the source with ``ast`` (nothing is imported).

* No core package (nor the job engine) imports the TUI, the CLI or its commands, not even lazily.
* The TUI does not import the CLI or its commands.
* What the TUI's modules import when they are imported (module level, followed through dfl_tui's own
  modules and their packages' ``__init__``) never reaches torch; the same for ``dfl-tui --help``
  (the CLI, its commands and every step's options module). ``tests/test_tui_home.py`` checks the same
  at run time (``test_ui_imports_no_torch``).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

from dfl_tui import steps as stepsmod

PKG = Path(__file__).resolve().parents[1] / "dfl_tui"

# The floors above the core packages; everything else under dfl_tui/ is a core package (or the job engine).
UI_FLOORS = ("dfl_tui.tui", "dfl_tui.commands", "dfl_tui.cli", "dfl_tui.__main__")


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@lru_cache(maxsize=None)
def _imports(module: str) -> tuple[tuple[str, bool, int], ...]:
    """(imported module, at module level?, line) for every import statement of ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(n) for n in tree.body}
    # imports under a module-level try/if (optional dependencies) also run at import time
    for n in tree.body:
        if isinstance(n, (ast.Try, ast.If)) and not (isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)):
            top_level |= {id(c) for c in ast.walk(n)}
    out = []
    for node in ast.walk(tree):
        top = id(node) in top_level
        if isinstance(node, ast.Import):
            out += [(a.name, top, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, top, node.lineno))
            # ``from . import x`` / ``from .pkg import mod``: x may be a module
            out += [(f"{target}.{a.name}", top, node.lineno) for a in node.names if f"{target}.{a.name}" in MODULES]
    return tuple(out)


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in MODULES]


def _import_time_closure(roots: list[str]) -> dict[str, tuple[str, int]]:
    """Every module imported when ``roots`` are imported: name -> (the module importing it, line)."""
    seen: dict[str, tuple[str, int]] = {}
    todo = [m for r in roots for m in _with_parents(r)]
    for m in todo:
        seen.setdefault(m, ("(root)", 0))
    while todo:
        m = todo.pop()
        for target, top, line in _imports(m):
            if not top:
                continue
            if target.startswith("dfl_tui"):
                for t in _with_parents(target):
                    if t not in seen:
                        seen[t] = (m, line)
                        todo.append(t)
            else:
                seen.setdefault(target.split(".")[0], (m, line))
    return seen


def _chain(seen: dict[str, tuple[str, int]], name: str) -> str:
    out, cur = [], name
    while cur in seen and seen[cur][0] != "(root)" and len(out) < 30:
        parent, line = seen[cur]
        out.append(f"{parent}:{line}")
        cur = parent
    return f"{name} <- " + " <- ".join(out)


@pytest.mark.parametrize("module", [m for m in MODULES if not _under(m, UI_FLOORS)])
def test_core_packages_do_not_import_the_ui(module):
    bad = [(t, line) for t, _, line in _imports(module) if _under(t, UI_FLOORS)]
    assert not bad, (f"{module} imports {bad}: core packages and jobs never import dfl_tui.tui, dfl_tui.commands "
                     "or dfl_tui.cli (see ARCHITECTURE.md); move that code to the floor above")


@pytest.mark.parametrize("module", [m for m in MODULES if _under(m, ("dfl_tui.tui",))])
def test_the_tui_does_not_import_the_cli(module):
    bad = [(t, line) for t, _, line in _imports(module) if _under(t, ("dfl_tui.commands", "dfl_tui.cli"))]
    assert not bad, f"{module} imports {bad}: the TUI uses the core packages and jobs, not the CLI"


def test_tui_modules_import_no_torch_when_imported():
    roots = [m for m in MODULES if _under(m, ("dfl_tui.tui",))]
    seen = _import_time_closure(roots)
    assert "torch" not in seen, "the TUI imports torch at module import time: " + _chain(seen, "torch")


def test_cli_help_imports_no_torch():
    roots = ["dfl_tui.cli", "dfl_tui.__main__"] + [m for m in MODULES if _under(m, ("dfl_tui.commands",))]
    roots += sorted({s.options.partition(":")[0] for s in stepsmod.STEPS.values()})
    seen = _import_time_closure(roots)
    for heavy in ("torch", "cv2", "numpy"):
        assert heavy not in seen, f"dfl-tui --help would import {heavy}: " + _chain(seen, heavy)


def test_the_rules_see_imports():
    """The checker itself: it finds a known module-level import and a known lazy one, and follows chains."""
    assert any(t == "dfl_tui.workflow" and top for t, top, _ in _imports("dfl_tui.tui.app"))
    assert any(t == "dfl_tui.tui.app" and not top for t, top, _ in _imports("dfl_tui.commands.tui"))
    assert "torch" in _import_time_closure(["dfl_tui.models.layers"])
