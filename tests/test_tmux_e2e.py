"""The real ``dfl-tui`` in a private tmux server: renders, truecolor, quits, hang-ups end it cleanly.

Uses its own server (``tmux -L <unique>`` with no config file), never the user's.
Prints the measured time to first paint (for the notes), asserts no timings.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
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
        self.session = "e2e-0"

    def __call__(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", *args], capture_output=True, text=True,
                             env=self.env, timeout=20)
        if check and out.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {out.stderr}")
        return out.stdout

    def capture(self, escapes: bool = False) -> str:
        return self("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.session)

    def wait_for(self, text: str, timeout: float = 20.0) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if text in self.capture():
                return time.monotonic() - t0
            time.sleep(0.02)
        raise AssertionError(f"{text!r} never appeared; screen:\n{self.capture()}")

    def pane(self, fmt: str) -> str:
        return self("display-message", "-p", "-t", self.session, fmt).strip()

    def wait_exit(self, status_file: Path, timeout: float = 15.0) -> str:
        """The app's exit status, written by the wrapping shell (tmux may reap late)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if status_file.exists() and status_file.read_text().strip():
                return status_file.read_text().strip()
            time.sleep(0.05)
        raise AssertionError(f"the app did not exit; screen:\n{self.capture()}")

    def start(self, cmd: list[str], status_file: Path) -> float:
        # A new session each time: killing the only session would stop the server under our feet.
        self.session = f"e2e-{int(self.session.rsplit('-', 1)[1]) + 1}"
        t0 = time.monotonic()
        # A shell runs the app and writes its exit status; then the pane stays for inspection.
        line = f"{' '.join(shlex.quote(c) for c in cmd)}; echo $? > {shlex.quote(str(status_file))}; sleep 60"
        self("new-session", "-d", "-s", self.session, "-x", "100", "-y", "30", line)
        return t0

    def app_pid(self, timeout: float = 5.0) -> int:
        """The app's pid: the child of the pane's shell."""
        shell = int(self.pane("#{pane_pid}"))
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                kids = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
            except OSError:
                kids = []
            if kids:
                return int(kids[0])
            time.sleep(0.05)
        raise AssertionError("no app process in the pane")


def _ends(pid: int, timeout: float) -> bool:
    """True once ``pid`` is gone or a zombie (its parent shell died with the terminal)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return False


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
        t0 = tmux.start(cmd, tmp_path / "exit-1")
        tmux.wait_for("Extract source frames")
        paint = time.monotonic() - t0
        tmux.wait_for("7 frames")  # the workspace state arrived
        screen = tmux.capture()
        assert "dfl-tui" in screen and "11" in screen and "Make the video" in screen
        ansi = tmux.capture(escapes=True)
        assert "38;2;" in ansi, "no truecolor escape codes inside tmux"
        tmux("send-keys", "-t", tmux.session, "f1")
        tmux.wait_for("home.demo")  # the help screen lists binding ids
        tmux("send-keys", "-t", tmux.session, "Escape")
        tmux.wait_for("Extract source frames")
        tmux("send-keys", "-t", tmux.session, "q")
        assert tmux.wait_exit(tmp_path / "exit-1") == "0"
        print(f"\nfirst paint in tmux: {paint:.2f} s")

        # Hang-ups. First a SIGHUP to the app alone: it saves its state and exits with 0.
        tmux.start(cmd + ["tui", "--theme", "dfl-light"], tmp_path / "exit-2")
        tmux.wait_for("Extract source frames")
        os.kill(tmux.app_pid(), signal.SIGHUP)
        assert tmux.wait_exit(tmp_path / "exit-2") == "0"
        state = json.loads((tmp_path / "state" / "ui.json").read_text())
        assert state["theme"] == "dfl-light"

        # Then the real thing, as when an SSH connection drops: the terminal itself goes away
        # (the tmux server dies) right after the first paint. The app must not linger.
        tmux.start(cmd + ["tui", "--theme", "dfl-contrast"], tmp_path / "exit-3")
        tmux.wait_for("Extract source frames")
        pid = tmux.app_pid()
        tmux("kill-server", check=False)
        assert _ends(pid, timeout=15), "the app kept running after its terminal went away"
        state = json.loads((tmp_path / "state" / "ui.json").read_text())
        assert state["theme"] == "dfl-contrast"
    finally:
        tmux("kill-server", check=False)
        sock = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / tmux.sock
        sock.unlink(missing_ok=True)
