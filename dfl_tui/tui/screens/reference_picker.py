"""Pick the person to keep (``extract-faces --reference``) from the faces of the first frames.

Opened from the extract step with ctrl+e. The faces come from the set when it is already
extracted, else from a short ``reference-candidates`` job (a subprocess: no detector in the UI).
space selects faces, enter keeps the selection (or the face under the cursor): they are copied
to ``data_<side>/reference/`` and the form's reference field points there. escape cancels.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ..messages import TextLoaded
from ..widgets.face_grid import FaceGrid


class ReferencePicker(ModalScreen[str | None]):
    """Dismisses with the reference folder, or None."""

    HELP_TITLE = "Reference picker"
    BINDINGS = [
        Binding("enter", "use", "Use selected", id="refpick.use"),
        Binding("escape", "cancel", "Cancel", id="refpick.cancel"),
    ]
    DEFAULT_CSS = """
    ReferencePicker { align: center middle; }
    ReferencePicker > Vertical { width: 95%; height: 90%; border: round $primary; background: $surface; }
    ReferencePicker #refpick-title { height: auto; padding: 0 1; }
    ReferencePicker #refpick-state { height: auto; padding: 0 1; color: $text-muted; }
    ReferencePicker FaceGrid { height: 1fr; }
    """

    def __init__(self, side: str = "dst", frames: int = 10) -> None:
        super().__init__(id="refpick")
        self.side = side
        self.frames = frames
        self.folder: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Keep which person? Faces of the first {self.frames} frames of {self.side}. "
                              "space: select, enter: use, escape: cancel", style="bold"), id="refpick-title")
            yield Static("Looking for faces...", id="refpick-state")
            yield FaceGrid(id="refpick-grid")

    def on_mount(self) -> None:
        self._find()

    @work(thread=True, exclusive=True, group="refpick", exit_on_error=False)
    def _find(self) -> None:
        from ... import jobs as jobsmod
        from ...identity.candidates import CandidatesOptions, aligned_candidates

        ws = self.app.workspace  # type: ignore[attr-defined]
        faces = aligned_candidates(ws.aligned(self.side), self.frames)
        if not faces:
            self.post_message(TextLoaded("state", "Finding the faces of the first frames (a short job)..."))
            try:
                run = jobsmod.start(ws, "reference-candidates", CandidatesOptions(side=self.side, frames=self.frames))
                st = jobsmod.wait(run, timeout=600)
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self.post_message(TextLoaded("state", f"could not start the job: {exc}"))
                return
            if st.get("state") != "done":
                self.post_message(TextLoaded("state", f"no faces: {st.get('error') or st.get('state')}"))
                return
            faces = aligned_candidates(Path(st["result"]["folder"]), self.frames)
        if not faces:
            self.post_message(TextLoaded("state", "No face found in the first frames."))
            return
        self.folder = faces[0].parent
        self.post_message(TextLoaded("faces", "\n".join(p.name for p in faces)))

    @on(TextLoaded)
    def _loaded(self, msg: TextLoaded) -> None:
        state = self.query_one("#refpick-state", Static)
        if msg.what == "faces":
            grid = self.query_one(FaceGrid)
            grid.folder = self.folder or Path(".")
            names = msg.text.splitlines()
            grid.set_items(names)
            grid.focus()
            state.update(f"{len(names)} face(s) in {self.folder}")
        else:
            state.update(msg.text)

    def action_use(self) -> None:
        from ...identity.candidates import PICKED_DIR, save_picked

        grid = self.query_one(FaceGrid)
        names = sorted(grid.selected) or ([grid.current_name] if grid.current_name else [])
        if not names or self.folder is None:
            self.app.notify("no face to use yet", severity="warning")
            return
        ws = self.app.workspace  # type: ignore[attr-defined]
        out = save_picked(ws.frames(self.side) / PICKED_DIR, [self.folder / n for n in names])
        self.app.notify(f"{len(names)} reference face(s) in {out}")
        self.dismiss(str(out))

    def action_cancel(self) -> None:
        self.dismiss(None)
