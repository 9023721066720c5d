"""How durations, rates, ages and a job's progress read: ONE formatter for the CLI and the TUI.

``dfl-tui jobs``, the progress line of a step run from the command line, the TUI's job view,
jobs and home screens and the training monitor all call these, so an ETA or a progress line
reads the same wherever it is shown. Light module (standard library only).
"""

from __future__ import annotations

import math
import time
from typing import Any


def fmt_duration(sec: float | None) -> str:
    """``0:42``, ``1:02:03``, ``3d04h``; ``?`` when unknown (None, NaN, infinite)."""
    if sec is None:
        return "?"
    try:
        sec = float(sec)
    except (TypeError, ValueError):
        return "?"
    if not math.isfinite(sec):
        return "?"
    sec = int(max(0.0, sec))
    d, rem = divmod(sec, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if d:
        return f"{d}d{h:02d}h"
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_rate(rate: float | None, unit: str) -> str:
    """``- items/s``, ``0.42 items/s``, ``3.1 items/s``, ``120 items/s``."""
    rate = float(rate or 0.0)
    if rate <= 0:
        return f"- {unit}/s"
    if rate < 1:
        return f"{rate:.2f} {unit}/s"
    if rate < 10:
        return f"{rate:.1f} {unit}/s"
    return f"{rate:.0f} {unit}/s"


def fmt_age(t: float | None, now: float | None = None) -> str:
    """``12s ago``, ``5m ago``, ``2.5h ago``, ``3.0d ago``; empty when ``t`` is unknown."""
    if not t:
        return ""
    d = (now or time.time()) - float(t)
    if d < 60:
        return f"{d:.0f}s ago"
    if d < 3600:
        return f"{d / 60:.0f}m ago"
    if d < 86400:
        return f"{d / 3600:.1f}h ago"
    return f"{d / 86400:.1f}d ago"


# ---------------------------------------------------------------------------
# A job's progress (the ``progress`` of its status.json)
# ---------------------------------------------------------------------------


def progress_fraction(status: dict[str, Any]) -> float | None:
    prog = status.get("progress") or {}
    done, total = prog.get("done"), prog.get("total")
    if done is None or not total:
        return None
    return max(0.0, min(1.0, float(done) / float(total)))


def progress_count(status: dict[str, Any]) -> str:
    """``12/20 (60%)`` or ``12``: for a table column; empty before the first progress."""
    prog = status.get("progress") or {}
    done, total = prog.get("done"), prog.get("total")
    if done is None:
        return ""
    s = f"{done}/{total}" if total else f"{done}"
    if total:
        s += f" ({100 * float(done) / max(float(total), 1):.0f}%)"
    return s


def short_progress(status: dict[str, Any]) -> str:
    """``45%`` or ``120 items``: for a narrow cell."""
    frac = progress_fraction(status)
    if frac is not None:
        return f"{100 * frac:.0f}%"
    prog = status.get("progress") or {}
    if prog.get("done"):
        return f"{prog['done']} {prog.get('unit') or 'items'}"
    return ""


def describe_progress(status: dict[str, Any]) -> str:
    """``counting 12/20 items (60%) · 19.8 items/s · ETA 0:01 · even 6``."""
    prog = status.get("progress") or {}
    if not prog:
        return ""
    unit = prog.get("unit") or "items"
    done, total = prog.get("done", 0), prog.get("total")
    parts = []
    head = f"{prog.get('stage') or ''} {done}{f'/{total}' if total else ''} {unit}".strip()
    if total:
        head += f" ({100 * float(done) / max(float(total), 1):.0f}%)"
    parts.append(head)
    if status.get("state") in ("running", "starting"):
        parts.append(fmt_rate(prog.get("rate"), unit))
        if prog.get("eta") is not None:
            parts.append(f"ETA {fmt_duration(prog['eta'])}")
    if prog.get("elapsed") is not None:
        parts.append(f"elapsed {fmt_duration(prog['elapsed'])}")
    for k, v in (prog.get("counts") or {}).items():
        parts.append(f"{k.replace('_', ' ')} {v}")
    if prog.get("message"):
        parts.append(str(prog["message"]))
    return " · ".join(parts)


__all__ = ["describe_progress", "fmt_age", "fmt_duration", "fmt_rate", "progress_count", "progress_fraction",
           "short_progress"]
