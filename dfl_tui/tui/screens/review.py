"""Step 5 / 7.1: review and clean a faceset with the keyboard.

The grid (:class:`~dfl_tui.tui.widgets.face_grid.FaceGrid`) shows every face of
``data_src/aligned``, ``data_dst/aligned`` or ``aligned_debug``; tags (the seven
colours of WORKFLOW.md step 5) are written through to the set's tag journal as
they are made (:mod:`dfl_tui.faceset.journal`), deletes and moves go through the
set's trash with undo (:mod:`dfl_tui.faceset.trash`), and sorting runs the
``sort`` job and reloads. Files are read and moved only in thread workers; the
event loop only updates state and redraws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from ...faceset.journal import TAG_NAMES, TAGS
from ..widgets.face_grid import FaceGrid

TAG_KEYS = {tag: str(i + 1) for i, tag in enumerate(TAG_NAMES)}

# ---------------------------------------------------------------------------
# Small modal dialogs
# ---------------------------------------------------------------------------


GROUP_IDENTITY = "group-identity"  # the sort menu's entry for faceset group --by identity

class ConfirmDialog(ModalScreen[bool]):
    """Yes / no; y or enter confirms, n or escape cancels."""

    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical { width: 64; height: auto; padding: 1 2; background: $surface; border: thick $warning; }
    """
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="review.confirm-yes"),
        Binding("n,escape", "answer(False)", "No", id="review.confirm-no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question)
            yield Static(Text("y / enter: yes     n / esc: no", style="dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ChoiceDialog(ModalScreen[str | None]):
    """A list to pick from (arrows + enter), with single keys for the first choices."""

    DEFAULT_CSS = """
    ChoiceDialog { align: center middle; }
    ChoiceDialog > Vertical { width: 72; height: auto; max-height: 80%; padding: 0 1; background: $surface;
                              border: thick $primary; }
    ChoiceDialog OptionList { height: auto; max-height: 24; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="review.choice-cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str]], keys: dict[str, str] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices  # (value, label)
        self.keys = keys or {}  # key -> value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, style="bold"))
            yield OptionList(*[Option(label, id=value) for value, label in self.choices])

    def on_key(self, event: Any) -> None:
        value = self.keys.get(event.character or "")
        if value is not None:
            event.stop()
            self.dismiss(value)

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskDialog(ModalScreen[str | None]):
    """One line of text (enter accepts, escape cancels)."""

    DEFAULT_CSS = """
    AskDialog { align: center middle; }
    AskDialog > Vertical { width: 64; height: auto; padding: 1 2; background: $surface; border: thick $primary; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="review.ask-cancel")]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question)
            yield Input(value=self.value, id="ask-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def tag_choices(with_untagged: bool = False) -> tuple[list[tuple[str, str]], dict[str, str]]:
    choices = [(tag, f"{TAG_KEYS[tag]}  {tag:<7} {meaning}") for tag, meaning in TAGS]
    keys = {TAG_KEYS[t]: t for t in TAG_NAMES}
    if with_untagged:
        choices.append(("untagged", "0  untagged"))
        choices.append(("all", "a  all faces (no filter)"))
        keys["0"] = "untagged"
        keys["a"] = "all"
    return choices, keys


# ---------------------------------------------------------------------------
# Preview
# ---------------------------------------------------------------------------


class TextPane(Widget):
    """Text that changes often; unlike ``Static.update`` a change repaints only this widget (no layout pass)."""

    def __init__(self, text: Any = "", **kw: Any) -> None:
        super().__init__(**kw)
        self._text = text

    def update(self, text: Any) -> None:
        self._text = text
        self.refresh()

    @property
    def text(self) -> Any:
        return self._text

    def render(self) -> Any:
        return self._text


class FacePreview(Widget):
    """The current face (or its source frame) in half-blocks."""

    DEFAULT_CSS = "FacePreview { height: 1fr; }"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.strips: list[Strip] = []

    def set_strips(self, strips: list[Strip]) -> None:
        self.strips = strips
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y < len(self.strips):
            return self.strips[y].extend_cell_length(self.size.width)
        return Strip.blank(self.size.width)


@dataclass
class PreviewResult:
    name: str
    strips: list[Strip]
    info: Text


def render_preview(path: Path, box_w: int, box_h: int, *, landmarks: bool, mask: bool, source: bool,
                   frames_dir: Path | None, debug_dir: Path | None, tag: str | None) -> PreviewResult:
    """Runs in a thread: decode, draw overlays, fit the box (cells), half-blocks."""
    import math

    import cv2
    import numpy as np

    from ...faceset import features as F
    from ..widgets import halfblock

    data = F.read_bytes(path)
    img = F.decode(data, str(path))
    meta_error = None
    try:
        meta = F.try_meta(data, str(path))
    except F.FaceFileError as exc:  # damaged metadata: the picture is still shown, with why
        meta, meta_error = None, str(exc)
    info = Text()
    info.append(f"{path.name}", style="bold")
    info.append(f"  {img.shape[1]}x{img.shape[0]}\n")
    if tag:
        info.append(f"tag: {tag}\n")
    shown = "face"
    if meta is not None:
        info.append(f"{meta.face_type}  from {meta.source_filename or '?'}\n")
        if meta.landmarks is not None and len(meta.landmarks) == 68:
            with np.errstate(all="ignore"):
                try:
                    pitch, yaw = F.pose(meta, img.shape[1])
                    info.append(f"yaw {math.degrees(yaw):+.0f}°  pitch {math.degrees(pitch):+.0f}°\n")
                except Exception:  # noqa: BLE001 - odd landmarks: no pose line
                    pass
        if meta.xseg_mask_buf is not None or meta.has_polys():
            info.append("mask: " + ("XSeg " if meta.xseg_mask_buf is not None else "")
                        + ("polygons" if meta.has_polys() else "") + "\n")
    else:
        info.append(f"{meta_error}\n" if meta_error else "no face metadata\n", style="red" if meta_error else "dim")
    lm = None if meta is None or meta.landmarks is None else np.asarray(meta.landmarks, np.float32)
    if source and meta is not None and meta.source_filename:
        stem = Path(meta.source_filename).stem
        frame = None
        for d in [debug_dir, frames_dir]:
            if d is None or not d.is_dir():
                continue
            cands = [d / meta.source_filename] + [d / f"{stem}{e}" for e in (".jpg", ".png", ".jpeg")]
            for c in cands:
                if c.exists():
                    frame = cv2.imread(str(c), cv2.IMREAD_COLOR)
                    if frame is not None:
                        shown = f"source frame {c.parent.name}/{c.name}"
                        if d == frames_dir and meta.source_rect is not None:
                            l, t, r, b = [int(v) for v in meta.source_rect[:4]]
                            cv2.rectangle(frame, (l, t), (r, b), (0, 0, 255), max(2, frame.shape[1] // 200))
                        break
            if frame is not None:
                break
        if frame is None:
            info.append("source frame not found\n", style="dim")
        else:
            img, lm = frame, None
    elif mask and meta is not None:
        m = meta.get_xseg_mask()
        if m is None and lm is not None:
            m = F.hull_mask(img.shape, meta)
            m = None if m is None else m.astype(np.float32)
        if m is not None:
            m = cv2.resize(m.astype(np.float32), (img.shape[1], img.shape[0]))[..., None]
            tint = np.array([255, 80, 0], np.float32)
            img = (img * (1 - 0.45 * m) + tint * 0.45 * m).astype(np.uint8)
            shown = "face + mask"
    h, w = img.shape[:2]
    s = min(box_w / w, (box_h * 2) / h)
    nw, nh = max(1, int(w * s)), max(2, int(h * s))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    if landmarks and lm is not None and not source:
        pts = np.round(lm * s).astype(int)
        for x, y in pts:
            if 0 <= x < nw and 0 <= y < nh:
                small[y, x] = (0, 255, 0)
        shown += " + landmarks"
    info.append(shown, style="dim")
    return PreviewResult(path.name, halfblock.render(small[..., ::-1], quantize=2), info)


def image_names(folder: Path) -> list[str]:
    """Names of the images directly in ``folder``, sorted (like ``list_images`` but without 50,000 Path objects)."""
    import os

    from ...workspace import IMAGE_EXTS

    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if not e.name.startswith(".")
                     and os.path.splitext(e.name)[1].lower() in IMAGE_EXTS and e.is_file()]
    except OSError:
        return []
    names.sort()
    return names


def _warm_imports() -> None:
    """Import the image libraries in a thread while the faces are listed (cv2 takes ~0.3 s)."""
    try:
        import cv2  # noqa: F401

        from ...faces import thumbs  # noqa: F401
    except Exception:  # noqa: BLE001 - the decode worker reports real failures
        pass


# ---------------------------------------------------------------------------
# Messages from workers
# ---------------------------------------------------------------------------


class SetLoaded(Message):
    def __init__(self, names: list[str], journal: Any, keep: str | None, note: str | None = None) -> None:
        super().__init__()
        self.names = names
        self.journal = journal
        self.keep = keep
        self.note = note


class FilesMoved(Message):
    def __init__(self, op: Any, removed: list[str], note: str) -> None:
        super().__init__()
        self.op = op
        self.removed = removed
        self.note = note


class PreviewReady(Message):
    def __init__(self, result: PreviewResult) -> None:
        super().__init__()
        self.result = result


class DupesFound(Message):
    def __init__(self, groups: list[list[str]], show: bool) -> None:
        super().__init__()
        self.groups = groups
        self.show = show


class WorkFailed(Message):
    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


class SortDone(Message):
    def __init__(self, status: dict) -> None:
        super().__init__()
        self.status = status


# ---------------------------------------------------------------------------
# The screen
# ---------------------------------------------------------------------------


class ReviewScreen(Screen):
    """Review, tag, select, delete (to the trash), undo, move, sort and preview faces."""

    HELP_TITLE = "Face reviewer"
    HELP_WIDGETS = (FaceGrid,)
    DEFAULT_CSS = """
    ReviewScreen #review-title { height: 1; padding: 0 1; background: $panel; }
    ReviewScreen #review-body { height: 1fr; }
    ReviewScreen FaceGrid { width: 1fr; height: 1fr; }
    ReviewScreen #review-side { width: 42; height: 1fr; border-left: solid $panel; padding: 0 1; }
    ReviewScreen #review-side.-hidden { display: none; }
    ReviewScreen #review-info { height: 7; color: $text-muted; }
    ReviewScreen #review-status { height: 1; padding: 0 1; background: $boost; }
    """
    BINDINGS = [
        *[Binding(TAG_KEYS[t], f"tag('{t}')", f"{t.capitalize()} ({m})", id=f"review.tag-{t}", show=(t in ("green", "red")))
          for t, m in TAGS],
        Binding("0,backspace", "tag('')", "Clear tag", id="review.tag-clear", show=False),
        Binding("a", "select_all", "Select all shown", id="review.select-all", show=False),
        Binding("s", "select_tagged", "Select all with a tag", id="review.select-tag", show=False),
        Binding("f", "filter", "Filter", id="review.filter"),
        Binding("d,delete", "delete", "Delete", id="review.delete"),
        Binding("D", "delete_tagged", "Delete all with a tag", id="review.delete-tag", show=False),
        Binding("u,ctrl+z", "undo", "Undo", id="review.undo"),
        Binding("m", "move", "Move to folder", id="review.move", show=False),
        Binding("o", "sort", "Sort", id="review.sort"),
        Binding("g", "goto", "Go to", id="review.goto", show=False),
        Binding("p", "toggle_preview", "Preview", id="review.preview", show=False),
        Binding("L", "toggle('landmarks')", "Landmarks", id="review.landmarks", show=False),
        Binding("M", "toggle('mask')", "Mask", id="review.mask", show=False),
        Binding("F", "toggle('source')", "Source frame", id="review.source", show=False),
        Binding("x", "dupes(False)", "Select duplicates", id="review.dupes", show=False),
        Binding("X", "dupes(True)", "Show duplicate groups", id="review.dupe-groups", show=False),
        Binding("v", "switch_folder", "aligned / aligned_debug", id="review.switch", show=False),
        Binding("E", "redo_deleted_debug", "Re-extract by hand the frames whose debug image was deleted",
                id="review.redo-debug", show=False),
        Binding("plus,equals_sign", "zoom(1)", "Bigger thumbnails", id="review.zoom-in", show=False),
        Binding("minus", "zoom(-1)", "Smaller thumbnails", id="review.zoom-out", show=False),
        Binding("r", "reload", "Reload", id="review.reload", show=False),
        Binding("escape", "escape", "Clear / back", id="review.escape"),
        Binding("q", "back", "Back", id="review.back", show=False),
    ]

    def __init__(self, entry: Any = None, *, folder: str | Path | None = None, side: str | None = None,
                 debug: bool = False, thumb_w: int = 16, **kw: Any) -> None:
        super().__init__(**kw)
        self.entry = entry
        opts = dict(getattr(entry, "options", {}) or {})
        self.side = side or opts.get("side") or "src"
        self._folder_arg = Path(folder) if folder else (Path(opts["folder"]) if opts.get("folder") else None)
        self.debug = debug or bool(opts.get("debug"))
        self.journal: Any = None
        self.all_names: list[str] = []
        self.filter: str | None = None  # a tag, "untagged", or None
        self.order_override: list[str] | None = None
        self.show = {"landmarks": False, "mask": False, "source": False}
        self.preview_on = True
        self.thumb_w = thumb_w
        self.loaded = False
        self.busy: str | None = None
        self.last_note = ""
        self._preview_pending = False

    # -- where -------------------------------------------------------------------------
    @property
    def workspace(self) -> Any:
        return getattr(self.app, "workspace", None)

    @property
    def folder(self) -> Path:
        if self._folder_arg is not None:
            p = self._folder_arg
            if not p.is_absolute() and self.workspace is not None:
                p = self.workspace.root / p
            return p
        ws = self.workspace
        if ws is None:
            return Path(".")
        return ws.aligned_debug(self.side) if self.debug else ws.aligned(self.side)

    @property
    def is_debug_folder(self) -> bool:
        return self.folder.name == "aligned_debug"

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield TextPane(id="review-title")
        with Horizontal(id="review-body"):
            yield FaceGrid(self.folder, thumb_w=self.thumb_w, id="grid")
            with Vertical(id="review-side"):
                yield FacePreview(id="review-preview")
                yield TextPane(id="review-info")
        yield TextPane(id="review-status")
        yield Footer()

    @property
    def grid(self) -> FaceGrid:
        return self.query_one(FaceGrid)

    def on_mount(self) -> None:
        self._title()
        self.query_one("#review-status", TextPane).update("loading...")
        self.grid.focus()
        import threading

        threading.Thread(target=_warm_imports, name="review-warm", daemon=True).start()
        self._load()

    def _title(self) -> None:
        num = getattr(self.entry, "number", "") or ""
        label = f"{num} " if num else ""
        try:
            rel = self.folder.relative_to(self.workspace.root) if self.workspace else self.folder
        except ValueError:
            rel = self.folder
        self.query_one("#review-title", TextPane).update(
            Text.assemble((f"{label}Review faces", "bold"), f"  ·  {rel}", ("   F1: every key", "dim")))

    # -- loading ---------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="review-load", exit_on_error=False)
    def _load(self, keep: str | None = None, note: str | None = None) -> None:
        from ...faceset.journal import TagJournal
        from ...faceset.trash import Trash

        folder = self.folder
        try:
            if folder.is_dir():
                Trash(folder).recover()
            names = image_names(folder)
            journal = TagJournal(folder) if folder.is_dir() else None
        except Exception as exc:  # noqa: BLE001 - shown, the screen stays usable
            self.post_message(WorkFailed("load", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(SetLoaded(names, journal, keep, note))

    @on(SetLoaded)
    def _loaded(self, msg: SetLoaded) -> None:
        if self.journal is not None and self.journal is not msg.journal:
            self.journal.close()
        self.journal = msg.journal
        self.busy = None
        self.all_names = msg.names
        self.order_override = None
        self.grid.folder = self.folder
        self.grid.tags = self.journal.tags if self.journal is not None else {}
        self.grid.clear_cache()
        self.loaded = True
        self._apply_view(keep=msg.keep)
        if not msg.names:
            pack = [n for n in ("faceset.dflpack", "faceset.pak") if (self.folder / n).exists()]
            hint = (f"packed in {pack[0]}: unpack it (faceset tools)" if pack else
                    "no faces here yet: extract faces first")
            self.notify(f"{self.folder}: {hint}", severity="warning", timeout=8)
        if msg.note:
            self.notify(msg.note, timeout=5)

    def _view_names(self) -> list[str]:
        names = self.order_override if self.order_override is not None else self.all_names
        tags = self.grid.tags
        if self.filter is None:
            return list(names)
        if self.filter == "untagged":
            return [n for n in names if n not in tags]
        return [n for n in names if tags.get(n) == self.filter]

    def _apply_view(self, keep: str | None = None, cursor: int | None = None) -> None:
        self.grid.set_items(self._view_names(), keep=keep, cursor=cursor)
        self._status()

    # -- status and preview -----------------------------------------------------------------
    def _status(self) -> None:
        g = self.grid
        t = Text()
        total = len(self.all_names)
        shown = len(g.names)
        t.append(f"{g.cursor + 1 if g.names else 0}/{shown}", style="bold")
        if shown != total:
            t.append(f" of {total}")
        if self.filter:
            t.append(f"  filter: {self.filter}", style="bold")
        if g.selected:
            t.append(f"  selected {len(g.selected)}", style="bold")
        counts = self.journal.counts() if self.journal is not None else {}
        t.append("  ")
        for tag in TAG_NAMES:
            t.append(f" {TAG_KEYS[tag]}", style=g.tag_style(tag))
            t.append(f" {counts.get(tag, 0)} ")
        if self.busy:
            t.append(f"  {self.busy}...", style="italic")
        self.query_one("#review-status", TextPane).update(t)

    @on(FaceGrid.CursorMoved)
    def _cursor_moved(self, msg: FaceGrid.CursorMoved) -> None:
        self._status()
        self._schedule_preview()

    @on(FaceGrid.SelectionChanged)
    def _selection_changed(self, msg: FaceGrid.SelectionChanged) -> None:
        self._status()

    def _schedule_preview(self) -> None:
        if not self.preview_on or self._preview_pending:
            return
        self._preview_pending = True
        self.set_timer(0.03, self._start_preview)

    def _start_preview(self) -> None:
        self._preview_pending = False
        name = self.grid.current_name
        if name is None:
            self.query_one(FacePreview).set_strips([])
            self.query_one("#review-info", TextPane).update("")
            return
        pv = self.query_one(FacePreview)
        box_w = max(8, pv.size.width or 40)
        box_h = max(4, pv.size.height or 20)
        self._preview(self.folder / name, box_w, box_h, self.grid.tags.get(name))

    @work(thread=True, exclusive=True, group="review-preview", exit_on_error=False)
    def _preview(self, path: Path, box_w: int, box_h: int, tag: str | None) -> None:
        ws = self.workspace
        try:
            res = render_preview(path, box_w, box_h, landmarks=self.show["landmarks"], mask=self.show["mask"],
                                 source=self.show["source"] or self.is_debug_folder,
                                 frames_dir=ws.frames(self.side) if ws else None,
                                 debug_dir=ws.aligned_debug(self.side) if ws else None, tag=tag)
        except Exception as exc:  # noqa: BLE001 - a bad face shows its error, nothing else breaks
            self.post_message(PreviewReady(PreviewResult(path.name, [], Text(f"{path.name}: {exc}", style="red"))))
            return
        self.post_message(PreviewReady(res))

    @on(PreviewReady)
    def _preview_ready(self, msg: PreviewReady) -> None:
        if msg.result.name != self.grid.current_name:
            return
        self.query_one(FacePreview).set_strips(msg.result.strips)
        self.query_one("#review-info", TextPane).update(msg.result.info)

    # -- tags -----------------------------------------------------------------------------------
    def _targets(self) -> list[str]:
        g = self.grid
        if g.selected:
            return [n for n in g.names if n in g.selected]
        return [g.current_name] if g.current_name else []

    def action_tag(self, tag: str) -> None:
        if self.journal is None:
            return
        names = self._targets()
        if not names:
            return
        single = not self.grid.selected
        want: str | None = tag or None
        if single and want is not None and self.grid.tags.get(names[0]) == want:
            want = None  # the same key again clears the tag
        self.journal.set(names, want)
        self.grid.refresh()
        if single and want is not None:
            self.grid.go(self.grid.cursor + 1)
        self._status()

    def action_select_all(self) -> None:
        self.grid.select(self.grid.names)

    def action_select_tagged(self) -> None:
        choices, keys = tag_choices()

        def done(tag: str | None) -> None:
            if tag:
                names = [n for n in self.grid.names if self.grid.tags.get(n) == tag]
                self.grid.select(names)
                self.notify(f"selected {len(names)} {tag} face(s)")

        self.app.push_screen(ChoiceDialog("Select all faces tagged:", choices, keys), done)

    def action_filter(self) -> None:
        choices, keys = tag_choices(with_untagged=True)

        def done(value: str | None) -> None:
            if value is None:
                return
            self.filter = None if value == "all" else value
            self._apply_view()

        self.app.push_screen(ChoiceDialog("Show only:", choices, keys), done)

    def action_escape(self) -> None:
        if self.grid.selected:
            self.grid.clear_selection()
        elif self.filter is not None or self.order_override is not None:
            self.filter = None
            self.order_override = None
            self._apply_view()
        else:
            self.action_back()

    def action_back(self) -> None:
        self.save_state()
        self.app.pop_screen()

    # -- delete, move, undo -------------------------------------------------------------------------
    def _busy(self, what: str | None) -> bool:
        if what is not None and self.busy is not None:
            self.notify(f"wait: {self.busy}", severity="warning")
            return False
        self.busy = what
        self._status()
        return True

    def action_delete(self) -> None:
        names = self._targets()
        if not names:
            return
        what = f"{len(names)} faces" if len(names) > 1 else names[0]
        self._confirm_delete(names, f"Move {what} to the trash ({self.folder.name}/.trash)?\nu undoes it.")

    def action_delete_tagged(self) -> None:
        choices, keys = tag_choices()

        def picked(tag: str | None) -> None:
            if not tag:
                return
            names = [n for n in self.all_names if self.grid.tags.get(n) == tag]
            if not names:
                self.notify(f"no face is tagged {tag}")
                return
            self._confirm_delete(names, f"Move all {len(names)} faces tagged {tag} to the trash?\nu undoes it.")

        self.app.push_screen(ChoiceDialog("Delete every face tagged:", choices, keys), picked)

    def _confirm_delete(self, names: list[str], question: str) -> None:
        def answer(yes: bool | None) -> None:
            if yes and self._busy("moving to the trash"):
                self._trash(names)

        self.app.push_screen(ConfirmDialog(question), answer)

    @work(thread=True, group="review-files", exit_on_error=False)
    def _trash(self, names: list[str]) -> None:
        from ...faceset.trash import Trash

        try:
            op = Trash(self.folder).delete([self.folder / n for n in names], "review delete")
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("delete", f"{type(exc).__name__}: {exc}"))
            return
        n = len(op.moves)
        self.post_message(FilesMoved(op, [a for a, _ in op.moves],
                                     f"{n} face{'s' if n != 1 else ''} moved to the trash (u: undo)"))

    def action_move(self) -> None:
        names = self._targets()
        if not names:
            return

        def answer(sub: str | None) -> None:
            if sub and self._busy("moving"):
                self._move(names, sub)

        self.app.push_screen(AskDialog(f"Move {len(names)} face(s) to sub-folder of {self.folder.name}:"), answer)

    @work(thread=True, group="review-files", exit_on_error=False)
    def _move(self, names: list[str], sub: str) -> None:
        from ...faceset.trash import Trash

        try:
            op = Trash(self.folder).move_to([self.folder / n for n in names], sub, "review move")
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("move", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(FilesMoved(op, [a for a, _ in op.moves], f"{len(op.moves)} face(s) moved to {sub}/ (u: undo)"))

    @on(FilesMoved)
    def _files_moved(self, msg: FilesMoved) -> None:
        self.busy = None
        if self.journal is not None:
            self.journal.apply_moves(msg.op.moves)
        gone = set(msg.removed)
        g = self.grid
        first = next((i for i, n in enumerate(g.names) if n in gone), g.cursor)
        self.all_names = [n for n in self.all_names if n not in gone]
        if self.order_override is not None:
            self.order_override = [n for n in self.order_override if n not in gone]
        g.selected -= gone
        self._apply_view(cursor=first)
        self.last_note = msg.note
        self.notify(msg.note, timeout=4)

    def action_undo(self) -> None:
        if self._busy("undoing"):
            self._undo()

    @work(thread=True, group="review-files", exit_on_error=False)
    def _undo(self) -> None:
        from ...faceset.trash import Trash

        try:
            op = Trash(self.folder).undo()
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("undo", f"{type(exc).__name__}: {exc}"))
            return
        if op is None:
            self.post_message(WorkFailed("undo", "nothing to undo"))
            return
        back = [b for _, b in op.moves if "/" not in b]
        self._reload_after(back[0] if back else None, f"{op.action}: {len(op.moves)} file(s) back")

    def _reload_after(self, keep: str | None, note: str) -> None:
        from ...faceset.journal import TagJournal

        names = image_names(self.folder)
        self.post_message(SetLoaded(names, TagJournal(self.folder), keep, note))

    @on(WorkFailed)
    def _failed(self, msg: WorkFailed) -> None:
        self.busy = None
        self._status()
        sev = "information" if msg.error == "nothing to undo" else "error"
        self.notify(msg.error if sev == "information" else f"{msg.what} failed: {msg.error}", severity=sev, timeout=6)

    # -- sorting ---------------------------------------------------------------------------------------
    def action_sort(self) -> None:
        if self.is_debug_folder:
            self.notify("sorting works on aligned faces (press v to switch)", severity="warning")
            return
        from ...faceset.options import SORT_METHODS

        choices = [(m, f"{m:<22} {desc}") for m, desc in SORT_METHODS.items()]
        choices.append((GROUP_IDENTITY, f"{GROUP_IDENTITY:<22} each person's faces into a sub-folder person_1/ "
                        "(the largest group), person_2/... (u undoes)"))

        def picked(method: str | None) -> None:
            if not method:
                return
            if method == GROUP_IDENTITY:
                if self._busy("grouping faces by person"):
                    self._run_group()
            elif method in ("final", "final-fast"):
                def target(v: str | None) -> None:
                    if v and v.isdigit() and int(v) > 0:
                        self._start_sort(method, int(v))
                self.app.push_screen(AskDialog(f"{method}: how many faces to keep?", "2000"), target)
            else:
                self._start_sort(method, 2000)

        self.app.push_screen(ChoiceDialog("Sort by (renames files; rejects go to the trash; u undoes):", choices),
                             picked)

    def _start_sort(self, method: str, target: int) -> None:
        if self._busy(f"sorting by {method}"):
            self._run_sort(method, target)

    @work(thread=True, group="review-sort", exit_on_error=False)
    def _run_sort(self, method: str, target: int) -> None:
        from ... import jobs
        from ...faceset.options import SortOptions

        ws = self.workspace
        try:
            folder = None if self._folder_arg is None else str(self.folder)
            opts = SortOptions(side=self.side, by=method, target=target, folder=folder)
            run = jobs.start(ws, "sort", opts, detach=True)
            status = jobs.wait(run)
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("sort", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(SortDone(status))

    @work(thread=True, group="review-sort", exit_on_error=False)
    def _run_group(self) -> None:
        from ... import jobs
        from ...faceset.options import FacesetOptions

        try:
            folder = None if self._folder_arg is None else str(self.folder)
            run = jobs.start(self.workspace, "faceset", FacesetOptions(side=self.side, action="group", folder=folder),
                             detach=True)
            status = jobs.wait(run)
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("group", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(SortDone(status))

    @on(SortDone)
    def _sort_done(self, msg: SortDone) -> None:
        self.busy = None
        st = msg.status
        if st.get("state") != "done":
            self.notify(f"sort {st.get('state')}: {st.get('error') or st.get('message') or ''}", severity="error",
                        timeout=8)
            self._status()
            return
        res = st.get("result") or {}
        if res.get("action") == "group":
            self._load(None, f"grouped by person: {res.get('groups')} sub-folder(s) person_1... of "
                       f"{', '.join(map(str, res.get('sizes') or []))} face(s) (u: undo)")
            return
        self._load(None, f"sorted by {res.get('method')}: {res.get('kept')} kept, {res.get('trashed')} to the trash"
                   " (u: undo)")

    # -- go to ------------------------------------------------------------------------------------------
    def action_goto(self) -> None:
        def answer(v: str | None) -> None:
            if not v:
                return
            g = self.grid
            for i, n in enumerate(g.names):  # a file name or a frame stem first ("00042" -> 00042_0.jpg)
                if n == v or Path(n).stem == v or n.startswith(v + "_"):
                    g.go(i)
                    return
            if v.isdigit():
                g.go(int(v) - 1)
                return
            for i, n in enumerate(g.names):
                if n.startswith(v):
                    g.go(i)
                    return
            self._find_frame(v)

        self.app.push_screen(AskDialog("Go to face number (1..) or frame / file name:"), answer)

    @work(thread=True, exclusive=True, group="review-find", exit_on_error=False)
    def _find_frame(self, frame: str) -> None:
        from ...faceset import features as F

        stem = Path(frame).stem
        for n in list(self.grid.names):
            try:
                meta = F.try_meta(F.read_bytes(self.folder / n), n)
            except Exception:  # noqa: BLE001
                continue
            if meta is not None and meta.source_filename and Path(meta.source_filename).stem == stem:
                self.app.call_from_thread(self._goto_name, n)
                return
        self.post_message(WorkFailed("go to", f"no face from frame {frame}"))

    def _goto_name(self, name: str) -> None:
        if name in self.grid.names:
            self.grid.go(self.grid.names.index(name))

    # -- view toggles ----------------------------------------------------------------------------------------
    def action_toggle_preview(self) -> None:
        self.preview_on = not self.preview_on
        self.query_one("#review-side").set_class(not self.preview_on, "-hidden")
        if self.preview_on:
            self._schedule_preview()

    def action_toggle(self, what: str) -> None:
        self.show[what] = not self.show[what]
        self.notify(f"{what}: {'on' if self.show[what] else 'off'}", timeout=1.5)
        self._schedule_preview()

    def action_zoom(self, direction: int) -> None:
        sizes = [8, 12, 16, 24, 32]
        cur = self.grid.thumb_w
        i = min(range(len(sizes)), key=lambda k: abs(sizes[k] - cur))
        i = max(0, min(len(sizes) - 1, i + direction))
        g = self.grid
        g.thumb_w, g.thumb_h = sizes[i], sizes[i] // 2
        g.clear_cache()
        g.set_items(g.names, keep=g.current_name)

    def action_switch_folder(self) -> None:
        if self._folder_arg is not None:
            self.notify("this reviewer was opened on one folder", severity="warning")
            return
        self.save_state()
        self.debug = not self.debug
        self.filter = None
        self._title()
        self._load()

    def action_redo_deleted_debug(self) -> None:
        """DeepFaceLab's debug fix: review aligned_debug (v), delete the bad frames, then E re-does only those
        (and the frames that had no face) in the manual extraction screen."""
        from .manual_extract import open_fix_deleted_debug

        self.save_state()
        open_fix_deleted_debug(self.app, self.side, on_close=self.action_reload)

    def action_reload(self) -> None:
        self._load(self.grid.current_name)

    # -- duplicates -------------------------------------------------------------------------------------------
    def action_dupes(self, show: bool) -> None:
        if self._busy("finding near-duplicates"):
            self._find_dupes(list(self.grid.names), show)

    @work(thread=True, exclusive=True, group="review-dupes", exit_on_error=False)
    def _find_dupes(self, names: list[str], show: bool) -> None:
        from ...faceset.dupes import find_duplicates

        try:
            groups = find_duplicates([self.folder / n for n in names])
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("duplicates", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(DupesFound([[names[i] for i in g] for g in groups.groups], show))

    @on(DupesFound)
    def _dupes_found(self, msg: DupesFound) -> None:
        self.busy = None
        extras = [n for g in msg.groups for n in g[1:]]
        if not msg.groups:
            self.notify("no near-duplicates found")
            self._status()
            return
        if msg.show:
            self.order_override = [n for g in msg.groups for n in g]
            self.filter = None
            self._apply_view(cursor=0)
        self.grid.select(extras)
        self.notify(f"{len(msg.groups)} groups of near-duplicates: {len(extras)} selected (the sharpest of each group "
                    "is not); d moves them to the trash, esc clears", timeout=8)

    # -- life cycle ---------------------------------------------------------------------------------------------
    def save_state(self) -> None:
        """Called by the app on exit and hang-up: make the tag journal durable now."""
        if self.journal is not None:
            try:
                self.journal.flush()
            except OSError:
                pass

    def on_unmount(self) -> None:
        if self.journal is not None:
            self.journal.close()
