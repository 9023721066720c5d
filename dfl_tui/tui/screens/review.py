"""Step 5 / 7.1: review and clean a faceset with the keyboard (the screen; its dialogs are in
``review_dialogs``, what is drawn of one face in ``review_preview``, the full-screen view in ``review_zoom``).

The grid (:class:`~dfl_tui.tui.widgets.face_grid.FaceGrid`) shows every face of
``data_src/aligned``, ``data_dst/aligned`` or ``aligned_debug``; tags (the seven
colours of WORKFLOW.md step 5) are written through to the set's tag journal as
they are made (:mod:`dfl_tui.faceset.journal`), deletes and moves go through the
set's trash with undo (:mod:`dfl_tui.faceset.trash`), and sorting runs the
``sort`` job and reloads. Files are read and moved only in thread workers; the
event loop only updates state and redraws.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from ...faceset.journal import TAG_NAMES, TAGS
from ..widgets.face_grid import FaceGrid
from ..widgets.picture import Picture
from ..widgets.text_pane import TextPane
from .review_dialogs import TAG_KEYS, AskDialog, ChoiceDialog, ConfirmDialog, tag_choices
from .review_preview import PreviewResult, image_names, render_preview


GROUP_IDENTITY = "group-identity"  # the sort menu's entry for faceset group --by identity


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
    ReviewScreen #review-side { width: 34%; min-width: 42; max-width: 90; height: 1fr; border-left: solid $panel;
                                padding: 0 1; }
    ReviewScreen #review-side.-hidden { display: none; }
    ReviewScreen #review-info { height: 7; color: $text-muted; }
    ReviewScreen #review-status { height: 1; padding: 0 1; background: $boost; }
    """
    BINDINGS = [
        Binding("escape", "escape", "Back", id="review.escape"),
        *[Binding(TAG_KEYS[t], f"tag('{t}')", f"{t.capitalize()} ({m})", id=f"review.tag-{t}", show=(t in ("green", "red")))
          for t, m in TAGS],
        Binding("z", "zoom_face(False)", "Zoom", id="review.zoom"),
        Binding("Z", "zoom_face(True)", "Zoom: face + source frame", id="review.zoom-frame", show=False),
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
        Binding("plus,equals_sign", "thumbs(1)", "Bigger thumbnails", id="review.zoom-in", show=False),
        Binding("minus", "thumbs(-1)", "Smaller thumbnails", id="review.zoom-out", show=False),
        Binding("r", "reload", "Reload", id="review.reload", show=False),
        Binding("q", "back", "Back", id="review.back", show=False),
    ]

    def __init__(self, entry: Any = None, *, folder: str | Path | None = None, side: str | None = None,
                 debug: bool = False, thumb_w: int | None = None, **kw: Any) -> None:
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
        self._counts: dict[str, int] | None = None

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
            yield FaceGrid(self.folder, thumb_w=16, thumb_size=self._remembered_size(), id="grid")
            with Vertical(id="review-side"):
                yield Picture("", id="review-preview")
                yield TextPane(id="review-info")
        yield TextPane(id="review-status")
        yield Footer()

    @property
    def grid(self) -> FaceGrid:
        return self.query_one(FaceGrid)

    # -- thumbnail size (remembered per kind of graphics in ui.json) --------------------------
    def _size_kind(self) -> str:
        from ..widgets.picture import app_graphics

        return "pixels" if app_graphics(self.app).pixels else "cells"

    def _remembered_size(self) -> int | None:
        if self.thumb_w is not None:
            return self.thumb_w
        state = getattr(self.app, "ui_state", None) or {}
        v = (state.get("review") or {}).get(f"thumbs_{self._size_kind()}")
        return int(v) if isinstance(v, int) else None

    def action_thumbs(self, direction: int) -> None:
        """Bigger / smaller thumbnails: 8-64 cells across in half-blocks, 64-256 pixels with kitty / Sixel."""
        g = self.grid
        sizes = g.size_choices()
        cur = g.thumb_size
        i = min(range(len(sizes)), key=lambda k: abs(sizes[k] - cur))
        i = max(0, min(len(sizes) - 1, i + direction))
        if sizes[i] == cur:
            self.notify(f"thumbnails: {cur} {self._size_kind()} across ({'largest' if direction > 0 else 'smallest'})",
                        timeout=2)
            return
        keep = g.current_name
        g.set_thumb_size(sizes[i])
        g.set_items(g.names, keep=keep)
        state = getattr(self.app, "ui_state", None)
        if isinstance(state, dict):
            state.setdefault("review", {})[f"thumbs_{self._size_kind()}"] = sizes[i]
        self.notify(f"thumbnails: {sizes[i]} {self._size_kind()} across", timeout=2)

    def graphics_changed(self) -> None:
        self.grid.graphics_changed(self._remembered_size())
        self.grid.set_items(self.grid.names, keep=self.grid.current_name)
        self._schedule_preview()

    def action_zoom_face(self, side_by_side: bool) -> None:
        """The current face full-screen (``z``), or beside its source frame with the landmarks (``Z``)."""
        if self.grid.current_name is None:
            return
        from .review_zoom import FaceZoomScreen

        self.app.push_screen(FaceZoomScreen(self, side_by_side=side_by_side))

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
        self._counts = None
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
        counts = self.tag_counts()
        t.append("  ")
        for tag in TAG_NAMES:
            t.append(f" {TAG_KEYS[tag]}", style=g.tag_style(tag))
            t.append(f" {counts.get(tag, 0)} ")
        if self.busy:
            t.append(f"  {self.busy}...", style="italic")
        self.query_one("#review-status", TextPane).update(t)

    def tag_counts(self) -> dict[str, int]:
        """Faces per tag among the faces in the folder now (tags of faces deleted or moved away do not count)."""
        if self._counts is None:
            present = set(self.all_names)
            counts = {t: 0 for t in TAG_NAMES}
            tags = self.journal.tags if self.journal is not None else {}
            for name, tag in tags.items():
                if name in present:
                    counts[tag] = counts.get(tag, 0) + 1
            self._counts = counts
        return self._counts

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
        pv = self.query_one("#review-preview", Picture)
        if name is None:
            pv.set_message("")
            self.query_one("#review-info", TextPane).update("")
            return
        w, h = pv.pixel_box()
        self._preview(self.folder / name, (max(8, w), max(8, h)), self.grid.tags.get(name))

    def _preview_key(self, name: str) -> tuple:
        return (name, self.show["landmarks"], self.show["mask"], self.show["source"])

    @work(thread=True, exclusive=True, group="review-preview", exit_on_error=False)
    def _preview(self, path: Path, box: tuple[int, int], tag: str | None) -> None:
        ws = self.workspace
        try:
            res = render_preview(path, box, landmarks=self.show["landmarks"], mask=self.show["mask"],
                                 source=self.show["source"] or self.is_debug_folder,
                                 frames_dir=ws.frames(self.side) if ws else None,
                                 debug_dir=ws.aligned_debug(self.side) if ws else None, tag=tag)
        except Exception as exc:  # noqa: BLE001 - a bad face shows its error, nothing else breaks
            self.post_message(PreviewReady(PreviewResult(path.name, None, Text(f"{path.name}: {exc}", style="red"))))
            return
        self.post_message(PreviewReady(res))

    @on(PreviewReady)
    def _preview_ready(self, msg: PreviewReady) -> None:
        name = msg.result.name
        if name != self.grid.current_name:
            return
        pv = self.query_one("#review-preview", Picture)
        if msg.result.rgb is None:
            pv.set_message("")
        else:
            pv.set_image(msg.result.rgb, key=self._preview_key(name) + (pv.pixel_box(),))
        self.query_one("#review-info", TextPane).update(msg.result.info)

    # -- tags -----------------------------------------------------------------------------------
    def _targets(self) -> list[str]:
        g = self.grid
        if g.selected:
            return [n for n in g.names if n in g.selected]
        return [g.current_name] if g.current_name else []

    def action_tag(self, tag: str) -> None:
        """Tag the selection, or the face under the cursor; on one face the same key again clears its tag
        (README). The cursor stays: arrows move on."""
        names = self._targets()
        if names:
            self.tag_faces(names, tag or None, toggle=not self.grid.selected)

    def tag_faces(self, names: list[str], tag: str | None, *, toggle: bool = False) -> None:
        if self.journal is None or not names:
            return
        if toggle and tag is not None and len(names) == 1 and self.grid.tags.get(names[0]) == tag:
            tag = None
        self.journal.set(names, tag)
        self._counts = None
        g = self.grid
        if len(names) == 1 and g.current_name == names[0]:
            g._refresh_index(g.cursor)  # only its name bar and borders
        else:
            g.refresh()
        self._status()
        self._schedule_preview()  # the facts beside the picture name the tag (the picture is not sent again)

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
        self._counts = None
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
