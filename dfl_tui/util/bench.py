"""The benchmarks' ONE contract and ONE table printer.

Contract: each area's benchmark is a module beside its code (``dfl_tui.<area>.bench``; the TUI's
own under ``dfl_tui.tui.bench``) that provides

* ``add_arguments(parser)``: its options (``dfl-tui bench AREA --help`` shows them);
* ``run(args) -> int``: measures, prints a table (or JSON with ``--json``), returns the exit code.
  ``args.workspace`` is the global ``--workspace`` (None when not given).

``dfl-tui bench AREA`` (:mod:`dfl_tui.commands.bench`) and ``python -m dfl_tui.<area>.bench``
(the module's ``main = bench_main(__name__)``) both go through :func:`run_module`.

Tables: :func:`format_table` (columns under a header and a rule) and :func:`format_pairs`
(``label  value`` lines); :func:`machine` is the line that says what the figures were measured on.
Light module: imports nothing heavy (torch and OpenCV only inside :func:`machine`, when loaded).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from typing import Any, Callable, Sequence


def run_module(module: str, argv: Sequence[str] | None = None, *, prog: str | None = None,
               workspace: str | None = None, description: str | None = None) -> int:
    """Parse ``argv`` with the module's ``add_arguments`` and call its ``run``."""
    mod = importlib.import_module(module)
    doc = (mod.__doc__ or "").strip().split("\n\n")[0]
    ap = argparse.ArgumentParser(prog=prog or f"python -m {module}", description=description or doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mod.add_arguments(ap)
    ns = ap.parse_args(list(argv or []))
    if getattr(ns, "workspace", None) is None:
        ns.workspace = workspace
    return int(mod.run(ns) or 0)


def bench_main(module: str) -> Callable[[Sequence[str] | None], int]:
    """``main(argv)`` of a benchmark module, for ``python -m`` and tests."""

    def main(argv: Sequence[str] | None = None) -> int:
        return run_module(module, sys.argv[1:] if argv is None else argv)

    main.__doc__ = f"Run {module} with these arguments (see its add_arguments)."
    return main


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def format_table(head: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str = "") -> str:
    """Columns under ``head`` and a rule; cells are ``str()``-ed (floats: 2 decimals; None: ``-``) -- format
    them first for other precision. ``align``: one letter a column, ``l`` or ``r`` (default: the first column
    left, the others right). A row shorter than the head (an error message in place of the figures) writes
    its last cell as it is, running past the columns."""
    cells = [[str(h) for h in head]] + [[_cell(c) for c in r] for r in rows]
    n = len(head)
    align = (align or "l" + "r" * (n - 1)).ljust(n, "r")
    widths = [max([len(r[i]) for r in cells if i < len(r) and (len(r) == n or i < len(r) - 1)] or [0])
              for i in range(n)]
    out = []
    for k, row in enumerate(cells):
        parts = []
        for i, c in enumerate(row[:n]):
            if len(row) < n and i == len(row) - 1:
                parts.append(c)
            else:
                parts.append(c.ljust(widths[i]) if align[i] == "l" else c.rjust(widths[i]))
        out.append("  ".join(parts).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def format_pairs(rows: Sequence[tuple[str, Any]], *, width: int = 0) -> str:
    """``label  value`` lines, the labels padded to the longest (at least ``width``)."""
    w = max([width] + [len(k) for k, _ in rows])
    return "\n".join(f"{k:<{w}}  {_cell(v)}".rstrip() for k, v in rows)


def machine() -> str:
    """What the figures were measured on: cores, CPU, Python, load; OpenCV, torch and GPUs when loaded."""
    cpu = platform.processor() or platform.machine()
    info = f"{os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}"
    if hasattr(os, "getloadavg"):
        info += f", load average {os.getloadavg()[0]:.1f}"
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        info += f", OpenCV {cv2.__version__}"
    torch = sys.modules.get("torch")
    if torch is not None:
        info += f", torch {torch.__version__}"
        if torch.cuda.is_available():
            info += ", GPU " + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return info


__all__ = ["bench_main", "format_pairs", "format_table", "machine", "run_module"]
