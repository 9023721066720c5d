"""Snapshot of the home screen at 80x24 (fixed theme, fixed workspace, no watchers).

Regenerate after an intended change with: .venv/bin/pytest tests/test_tui_snapshot.py --snapshot-update
"""

from __future__ import annotations

from dfl_tui.tui.screens import home

from tui_fixtures import make_app, prepare_workspace, wait_for


def test_home_screen_80x24(snap_compare, tmp_path, monkeypatch):
    # Which steps are available changes as later issues land; fix it so the picture does not.
    monkeypatch.setattr(home, "entry_available", lambda entry: entry.step is not None or entry.key == "clear")
    monkeypatch.chdir(tmp_path)  # the header shows the workspace relative to here: "workspace"
    ws = prepare_workspace(tmp_path / "workspace", src_frames=240, dst_frames=180, src_faces=231, trash=9,
                           video_bytes=3 * 1024 * 1024)
    app = make_app(ws, tmp_path, theme="dfl-dark")

    async def loaded(pilot):
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "loaded", 0) >= 1, what="workspace status")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded)
