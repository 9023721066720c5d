"""``dfl-tui bench redraw`` runs the real UI in a pseudo-terminal and counts its output (figures in README)."""

from __future__ import annotations

import json

import pytest

from dfl_tui.cli import main

pytestmark = pytest.mark.slow


def test_bench_redraw_counts_bytes_of_the_home_screen(tmp_path, capsys):
    rc = main(["bench", "redraw", "--screens", "home", "--idle", "1", "--keys", "1", "--size", "100x30", "--modes", "halfblock",
               "--keep", str(tmp_path / "bench"), "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["terminal"] == "100x30"
    [row] = doc["results"]
    assert row["screen"] == "home" and row["mode"] == "halfblock" and not row.get("error")
    assert row["ready"] and row["startup_bytes"] > 1000  # the first paint went through the terminal
    assert row["idle_bytes_per_s"] >= 0 and row["key_bytes"] >= 0
    assert row["sixel"] is False and row["kitty"] is False  # half-block mode sends no image protocol
    assert main(["bench", "redraw", "--screens", "nope"]) == 2
    assert main(["bench", "redraw", "--screens", "home", "--key", "nope"]) == 2
    from dfl_tui.tui.bench_redraw import key_bytes_of

    assert key_bytes_of("w") == b"w" and key_bytes_of("right") == b"\x1b[C"


def test_pty_run_counts_what_a_program_writes():
    import sys

    from dfl_tui.tui.bench_redraw import PtyRun

    run = PtyRun([sys.executable, "-c", "import os, sys; print(os.get_terminal_size()); sys.stdout.write('x' * 5000)"],
                 {"PATH": "/usr/bin:/bin"}, cols=77, rows=21, keep_output=True).start()
    assert run.wait_for(b"x" * 5000, 30)
    run.stop()
    assert b"columns=77, lines=21" in run.output() and run.count() >= 5000


def test_bench_redraw_drives_the_xseg_editor(tmp_path, capsys):
    """The fifth screen: the XSeg editor opens on its faces and a cursor step is counted (half-blocks send
    only the changed cells: far less than the whole view)."""
    rc = main(["bench", "redraw", "--screens", "xseg", "--idle", "1", "--keys", "1", "--modes", "halfblock",
               "--keep", str(tmp_path / "bench"), "--json"])
    assert rc == 0
    [row] = json.loads(capsys.readouterr().out)["results"]
    assert row["screen"] == "xseg" and row["ready"] and not row.get("error"), row
    assert 0 < row["key_bytes"] < row["startup_bytes"] / 10
