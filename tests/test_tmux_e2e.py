"""The real ``dfl-tui`` in a private tmux server: renders, truecolor, quits, survives nothing on SIGHUP.

Uses its own server (``tmux -L <unique>`` with no config file), never the user's.
Prints the measured time to first paint (for the notes), asserts no timings.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui_fixtures import prepare_workspace

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, env: dict[str, str]) -> None:
        self.sock = f"dfl-e2e-{os.getpid()}-{secrets.token_hex(3)}"
        self.env = env

    def __call__(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", *args], capture_output=True, text=True,
                             env=self.env, timeout=20)
        if check and out.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {out.stderr}")
        return out.stdout

    def capture(self, escapes: bool = False) -> str:
        return self("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "e2e")

    def wait_for(self, text: str, timeout: float = 20.0) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if text in self.capture():
                return time.monotonic() - t0
            time.sleep(0.02)
        raise AssertionError(f"{text!r} never appeared; screen:\n{self.capture()}")

    def pane(self, fmt: str) -> str:
        return self("display-message", "-p", "-t", "e2e", fmt).strip()

    def wait_dead(self, timeout: float = 15.0) -> str:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            dead, status, sig = self.pane("#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}").split("|")
            # tmux sees the pty close first and the exit status a moment later.
            if dead == "1" and (status or sig):
                return status if status else f"signal {sig}"
            time.sleep(0.05)
        raise AssertionError(f"the app did not exit; screen:\n{self.capture()}")

    def start(self, cmd: list[str]) -> float:
        self("kill-session", "-t", "e2e", check=False)
        t0 = time.monotonic()
        self("new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30", " ".join(cmd))
        self("set-option", "-t", "e2e", "remain-on-exit", "on")
        return t0


def _command() -> list[str]:
    exe = Path(sys.executable).with_name("dfl-tui")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dfl_tui"]


def test_real_app_in_tmux(tmp_path):
    ws = prepare_workspace(tmp_path / "ws", src_frames=7)
    env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "TEXTUAL_COLOR_SYSTEM", "TMUX", "TMUX_PANE")}
    env.update(TERM="xterm-256color", DFL_TUI_STATE_DIR=str(tmp_path / "state"), DFL_TUI_CONFIG_DIR=str(tmp_path / "cfg"),
               TEXTUAL_ANIMATIONS="none", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    tmux = Tmux(env)
    # tmux's own environment for the pane: no COLORTERM, so dfl-tui must choose truecolor itself.
    cmd = ["env", "-u", "COLORTERM", *_command(), "-w", str(ws.root)]
    try:
        t0 = tmux.start(cmd)
        tmux.wait_for("Extract source frames")
        paint = time.monotonic() - t0
        tmux.wait_for("7 frames")  # the workspace state arrived
        screen = tmux.capture()
        assert "dfl-tui" in screen and "11" in screen and "Make the video" in screen
        ansi = tmux.capture(escapes=True)
        assert "38;2;" in ansi, "no truecolor escape codes inside tmux"
        tmux("send-keys", "-t", "e2e", "f1")
        tmux.wait_for("home.demo")  # the help screen lists binding ids
        tmux("send-keys", "-t", "e2e", "Escape")
        tmux.wait_for("Extract source frames")
        tmux("send-keys", "-t", "e2e", "q")
        assert tmux.wait_dead() == "0"
        print(f"\nfirst paint in tmux: {paint:.2f} s")

        # A hang-up (the SSH connection or the tmux server goes) saves state and exits cleanly.
        tmux.start(cmd + ["tui", "--theme", "dfl-light"])
        tmux.wait_for("Extract source frames")
        pid = int(tmux.pane("#{pane_pid}"))
        # `env` exec's dfl-tui, so the pane's process is the app itself.
        os.kill(pid, signal.SIGHUP)
        assert tmux.wait_dead() == "0"
        state = json.loads((tmp_path / "state" / "ui.json").read_text())
        assert state["theme"] == "dfl-light"
    finally:
        tmux("kill-server", check=False)
