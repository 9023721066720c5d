"""Helpers for the TUI tests: a prepared workspace, a test-mode app, waiting on conditions.

Test mode means: no file watcher, no poll timer, no user config or state from
the real home folder, a fixed theme, fast job polling.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from dfl_tui import jobs as jobsmod
from dfl_tui.jobs.rundir import FINAL_STATES
from dfl_tui.tui.app import DflApp
from dfl_tui.workspace import Workspace


def make_app(ws: Workspace | Path | str, tmp_path: Path, **kw: Any) -> DflApp:
    kw.setdefault("watch", False)
    kw.setdefault("poll_interval", None)
    kw.setdefault("job_poll_interval", 0.05)
    kw.setdefault("load_user_config", False)
    kw.setdefault("theme", "dfl-dark")
    kw.setdefault("state_path", tmp_path / "state" / "ui.json")
    return DflApp(ws, **kw)


def prepare_workspace(root: Path, *, src_frames: int = 12, dst_frames: int = 0, src_faces: int = 5,
                      trash: int = 2, video_bytes: int = 4096) -> Workspace:
    """A workspace with a source video, frames and faces (files only counted, never decoded)."""
    ws = Workspace.open(root).ensure()
    ws.video("src").write_bytes(b"\0" * video_bytes)
    ws.frames("src").mkdir(parents=True, exist_ok=True)
    for i in range(src_frames):
        (ws.frames("src") / f"{i + 1:05d}.png").write_bytes(b"")
    if dst_frames:
        ws.frames("dst").mkdir(parents=True, exist_ok=True)
        for i in range(dst_frames):
            (ws.frames("dst") / f"{i + 1:05d}.png").write_bytes(b"")
    ws.aligned("src").mkdir(parents=True, exist_ok=True)
    for i in range(src_faces):
        (ws.aligned("src") / f"{i + 1:05d}_0.jpg").write_bytes(b"")
    if trash:
        t = ws.trash(ws.aligned("src"))
        t.mkdir(parents=True, exist_ok=True)
        for i in range(trash):
            (t / f"{i + 90:05d}_0.jpg").write_bytes(b"")
    return ws


async def wait_for(pilot: Any, cond: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Let the app run until ``cond()`` is truthy (no fixed sleeps)."""
    t0 = time.monotonic()
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)


def stop_all_jobs(ws: Workspace, timeout: float = 15.0) -> None:
    """Cancel whatever a test left running and wait for it, so no process outlives the test."""
    for st in jobsmod.list_jobs(ws):
        if st.get("state") not in FINAL_STATES:
            run = jobsmod.find(ws, st["id"])
            jobsmod.cancel(run)
            jobsmod.wait(run, timeout=timeout)
