"""Shared set-up for the XSeg tests: the hand-labelled faces of tests/fixtures/xseg in a workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "xseg"


def fixture_faces(kind: str = "*") -> list[Path]:
    """The labelled fixture faces (``kind``: "wf", "head" or "*")."""
    return sorted(FIXTURES.glob(f"*_{kind}.jpg"))


def labelled_workspace(root: Path, src: str = "wf", dst: str = "head"):
    """A workspace whose src/dst aligned folders hold copies of the labelled fixtures."""
    from dfl_tui.workspace import Workspace

    ws = Workspace.open(root).ensure()
    for side, kind in (("src", src), ("dst", dst)):
        d = ws.aligned(side)
        d.mkdir(parents=True, exist_ok=True)
        for f in fixture_faces(kind):
            shutil.copy(f, d / f.name)
    return ws
