"""DeepFaceLab's boxed ``summary.txt``: "Model Summary", "Model Options", "Running On"."""

from __future__ import annotations

from typing import Any


def summary_text(name: str, iteration: int, options: dict[str, Any], running_on: list[tuple[str, str]]) -> str:
    """DeepFaceLab's boxed summary: "Model Summary", "Model Options", "Running On"."""
    rows = {k: ("y" if v is True else "n" if v is False else str(v)) for k, v in options.items()}
    wn = max([len(k) for k in rows] + [len(k) for k, _ in running_on] + [17]) + 1
    wv = max([len(v) for v in rows.values()] + [len(str(iteration)), len(name)] + [len(v) for _, v in running_on]) + 1
    total = wn + wv + 2
    blank = f"=={' ' * total}=="

    def row(k: str, v: str) -> str:
        return f"=={k: >{wn}}: {v: <{wv}}=="

    out = [f"=={' Model Summary ':=^{total}}==", blank, row("Model name", name), blank,
           row("Current iteration", str(iteration)), blank, f"=={' Model Options ':-^{total}}==", blank]
    out += [row(k, v) for k, v in rows.items()]
    out += [blank, f"=={' Running On ':-^{total}}==", blank]
    out += [row(k, v) for k, v in running_on]
    out += [blank, f"=={'=' * total}=="]
    return "\n".join(out) + "\n"



__all__ = ["summary_text"]
