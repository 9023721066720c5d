"""Check the synthetic-media mark of a file from the TUI (what ``dfl-tui verify FILE`` prints).

Opened from the command palette ("Verify: synthetic-media mark") and with ``ctrl+k`` on the
merge and make-video steps. It starts on the workspace's newest output (``result.mp4``, else the
newest merged frame); Enter checks the file in the field. The check runs in a thread worker
(:mod:`dfl_tui.provenance.verify`: numpy, OpenCV, PyAV, never torch); a video is checked on
``VIDEO_FRAMES`` frames spread over it (the CLI checks every frame unless told otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Static

VIDEO_FRAMES = 60


def default_target(ws: Any) -> Path | None:
    """The output a user most likely wants to check: result.mp4, else the newest merged frame."""
    try:
        if ws.result.is_file():
            return ws.result
        frames = [p for p in ws.merged.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
    except OSError:
        return None
    return max(frames, key=lambda p: p.stat().st_mtime) if frames else None


class Verified(Message):
    bubble = False

    def __init__(self, path: str, lines: list[str], marked: bool | None) -> None:
        super().__init__()
        self.path, self.lines, self.marked = path, lines, marked


class VerifyScreen(ModalScreen[bool | None]):
    """A path, Enter to check it, the report below."""

    HELP_TITLE = "Verify the synthetic-media mark"
    BINDINGS = [Binding("escape", "close", "Close", id="verify.close")]
    DEFAULT_CSS = """
    VerifyScreen { align: center middle; }
    VerifyScreen #verify-box { width: 90%; max-width: 110; height: auto; max-height: 90%;
                               border: thick $primary; background: $surface; padding: 0 1; }
    VerifyScreen #verify-report { height: auto; margin-top: 1; }
    """

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        self.start_path = str(path) if path else ""
        self.marked: bool | None = None  # the last check's answer (tests read it)
        self.checks = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="verify-box"):
            yield Static(Text("Is it marked as AI-generated? (the same check as dfl-tui verify FILE)", style="bold"))
            yield Input(self.start_path, placeholder="a merged frame, result.mp4, a model's ONNX file...",
                        id="verify-path")
            yield Static(Text("Enter: check · esc: close", style="dim"), id="verify-report")

    def on_mount(self) -> None:
        if not self.start_path:
            ws = getattr(self.app, "workspace", None)
            target = default_target(ws) if ws is not None else None
            if target is not None:
                self.query_one(Input).value = self._shown(target)
        self.query_one(Input).focus()
        if self.query_one(Input).value:
            self.check()

    def _shown(self, p: Path) -> str:
        ws = getattr(self.app, "workspace", None)
        try:
            return str(p.relative_to(ws.root)) if ws is not None else str(p)
        except ValueError:
            return str(p)

    def _resolve(self, text: str) -> Path:
        p = Path(text).expanduser()
        ws = getattr(self.app, "workspace", None)
        if not p.is_absolute() and ws is not None and not p.exists():
            p = ws.root / p
        return p

    @on(Input.Submitted, "#verify-path")
    def _submitted(self) -> None:
        self.check()

    def check(self) -> None:
        text = self.query_one(Input).value.strip()
        if not text:
            return
        self.query_one("#verify-report", Static).update(Text(f"checking {text}...", style="dim"))
        self._verify(str(self._resolve(text)))

    @work(thread=True, exclusive=True, group="verify", exit_on_error=False)
    def _verify(self, path: str) -> None:
        from ...errors import DflError
        from ...provenance.verify import summary_lines, verify_file

        try:
            rep = verify_file(path, max_frames=VIDEO_FRAMES)
        except DflError as exc:
            self.post_message(Verified(path, [str(exc)], None))
            return
        except Exception as exc:  # noqa: BLE001 - shown, the UI goes on
            self.post_message(Verified(path, [f"{type(exc).__name__}: {exc}"], None))
            return
        lines = summary_lines(rep)
        if rep.get("kind") == "video":
            lines.append(f"  ({VIDEO_FRAMES} frames spread over the video checked; "
                         f"dfl-tui verify {Path(path).name} checks every frame)")
        self.post_message(Verified(path, lines, bool(rep.get("marked"))))

    @on(Verified)
    def _verified(self, msg: Verified) -> None:
        self.marked = msg.marked
        self.checks += 1
        t = Text()
        for line in msg.lines:
            style = ""
            if line.strip().startswith("=>"):
                style = "bold green" if msg.marked else "bold red"
            t.append(line + "\n", style=style)
        if msg.marked is None:
            t.stylize("bold red")
        self.query_one("#verify-report", Static).update(t)

    def action_close(self) -> None:
        self.dismiss(self.marked)
