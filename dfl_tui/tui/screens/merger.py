"""The interactive merger (step 10): tune the merge frame by frame, then merge the rest as a job.

DeepFaceLab's "Merger" window in the terminal. The current frame is merged with the
current settings and drawn with half-block pixels; every setting has DeepFaceLab's key
(Tab shows them all); ``v``/``b`` switch between the result, the original and the mask;
``-``/``=`` zoom on the face. Settings are per frame with inheritance: a change applies
to this frame and the ones after it up to the next frame that has its own settings
(a *keyframe*). ``/`` and ``m`` copy the settings to the next/previous frame, ``?``
applies them to all following frames, ``M`` to all frames. Enter (or ``>``) starts the
``merge`` job for all frames with these per-frame settings and shows its progress.

The session is saved after every change as ``model/<name>/merger_session.json`` and
resumed next time, at the frame you left.

Nothing here imports torch: the model runs in a helper process
(:mod:`dfl_tui.merge.preview_worker`) that this screen starts and talks to from thread
workers, so the UI never waits for it. The helper predicts the next frames while you
look at the current one.
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
from textual.widgets import Footer, Header, Static

from ...merge.options import (COLOR_TRANSFER_MODES, MASK_MODES, MODES, SHARPEN_MODES, SMOOTH_DEFAULT, FrameSettings,
                              MergeOptions, settings_dict)
from ...options import describe
from ...options import replace as opt_replace
from ..messages import JobFinished, JobStarted, JobStartFailed
from ..widgets.picture import Picture
from ..widgets.job_view import JobView
from . import merger_keys

VIEWS = ("after", "before", "mask", "side")
# as the header names them; "side": the original and the result side by side
VIEW_NAMES = {"after": "result", "before": "original", "mask": "mask", "side": "original | result"}
SIDE_GAP = 8  # pixels between the two pictures of the side-by-side view


def side_by_side(before: Any, after: Any, gap: int = SIDE_GAP) -> Any:
    """The original and the result next to each other (numpy is imported here, off the UI's start-up)."""
    import numpy as np

    h = max(before.shape[0], after.shape[0])

    def pad(a: Any) -> Any:
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        out = np.zeros((h, a.shape[1], 3), np.uint8)
        top = (h - a.shape[0]) // 2
        out[top:top + a.shape[0]] = a[..., :3]
        return out

    return np.concatenate([pad(before), np.zeros((h, gap, 3), np.uint8), pad(after)], axis=1)
ZOOMS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
_SPECS = {s.name: s for s in describe(FrameSettings)}

class Prepared(Message):
    bubble = False

    def __init__(self, model: str | None, session: Any, stems: list[str], error: str | None = None) -> None:
        super().__init__()
        self.model, self.session, self.stems, self.error = model, session, stems, error


class HelperReady(Message):
    bubble = False

    def __init__(self, client: Any, info: dict[str, Any] | None, error: str | None = None) -> None:
        super().__init__()
        self.client, self.info, self.error = client, info, error


class Rendered(Message):
    bubble = False

    def __init__(self, req: int, meta: dict[str, Any], arrays: dict[str, Any], view: str) -> None:
        super().__init__()
        self.req, self.meta, self.arrays, self.view = req, meta, arrays, view


class MergeImage(Picture):
    """The merged frame (the one picture widget: kitty, Sixel or half-blocks), centred."""

    def __init__(self, **kw: Any) -> None:
        super().__init__("starting the merger's model helper...", **kw)


class MergerScreen(Screen):
    HELP_TITLE = "Interactive merger"

    DEFAULT_CSS = """
    MergerScreen #merger-title { height: 1; padding: 0 1; }
    MergerScreen #merger-body { height: 1fr; }
    MergerScreen #merger-panel { width: 38; padding: 0 1; border-left: solid $primary 40%; }
    MergerScreen #merger-status { height: 2; padding: 0 1; }
    MergerScreen #merger-help { display: none; height: auto; padding: 0 1; background: $panel; }
    MergerScreen #merger-help.shown { display: block; }
    MergerScreen #job { height: auto; max-height: 12; }
    MergerScreen.-full #merger-panel, MergerScreen.-full #merger-status, MergerScreen.-full #merger-help,
    MergerScreen.-full #job, MergerScreen.-full Header { display: none; }
    """

    BINDINGS = merger_keys.bindings()  # one table: bindings, panel and help (merger_keys.py)

    def __init__(self, entry: Any = None, *, model: str | None = None, **kw: Any) -> None:
        super().__init__(classes="merger-screen")
        self.entry = entry
        opts = dict(getattr(entry, "options", {}) or {})
        self.model_name: str | None = model or opts.get("model") or None
        self.client: Any = None
        self.info: dict[str, Any] = {}
        self.stems: list[str] = []
        self.pos = 0
        self.session: Any = None
        self.settings = FrameSettings()
        self.view = "after"
        self.full = False  # the frame alone on the screen (space)
        self._layout = ""  # the layout the shown arrays were rendered for ("side" or "")
        self.zoom_i = 0
        self.label = False
        self.smooth = SMOOTH_DEFAULT  # merge --smooth: steadier faces across frames (preview and merge-all)
        self.arrays: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        self._req = 0
        self._shown_req = 0
        self._save_timer: Any = None
        self._render_timer: Any = None
        self.last_message = ""
        self.render_count = 0

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static("10 · Merge", id="merger-title")
        with Horizontal(id="merger-body"):
            yield MergeImage(id="merger-image")
            with Vertical(id="merger-panel"):
                yield Static("", id="merger-settings")
        yield Static("", id="merger-help")
        yield Static("", id="merger-status")
        yield JobView(id="job", poll_interval=getattr(self.app, "job_poll_interval", 0.25))
        yield Footer()

    @property
    def image(self) -> MergeImage:
        return self.query_one("#merger-image", MergeImage)

    def on_mount(self) -> None:
        self.query_one("#job", JobView).display = False
        self._show_settings()
        self._prepare()

    # -- start: model, session, frames; then the helper process --------------------------------
    @work(thread=True, exclusive=True, group="merger-prepare", exit_on_error=False)
    def _prepare(self) -> None:
        from ...merge.session import MergeSession
        from ...workspace import list_images

        ws = self.app.workspace  # type: ignore[attr-defined]
        try:
            models = [m for m in ws.models() if m.get("model") != "XSeg"]
            name = self.model_name
            if not name:
                if not models:
                    self.post_message(Prepared(None, None, [], "No trained model in model/: train one first "
                                                                "(step 9), then come back here."))
                    return
                newest = max(models, key=lambda m: _mtime(Path(m["path"]) / "state.json"))
                name = newest["name"]
            stems = [p.stem for p in list_images(ws.frames("dst"))]
            if not stems:
                self.post_message(Prepared(name, None, [], f"No frames in {ws.frames('dst')}: extract the dst "
                                                           "frames first (step 3)."))
                return
            session = MergeSession.open(ws.model_dir / name, MergeOptions().frame_settings())
            self.post_message(Prepared(name, session, stems))
        except Exception as exc:  # noqa: BLE001 - shown on screen
            self.post_message(Prepared(None, None, [], f"{type(exc).__name__}: {exc}"))

    @on(Prepared)
    def _on_prepared(self, msg: Prepared) -> None:
        if msg.error:
            self.image.set_message(msg.error)
            self._status(msg.error)
            return
        self.model_name, self.session, self.stems = msg.model, msg.session, msg.stems
        cur = self.session.current
        self.pos = self.stems.index(cur) if cur in self.stems else 0
        self.settings = self.session.settings_for(self.stem)
        self._title()
        self._show_settings()
        self.image.set_message(f"loading model '{self.model_name}' in the helper process...")
        self._start_helper(self.model_name)

    @work(thread=True, exclusive=True, group="merger-helper", exit_on_error=False)
    def _start_helper(self, model: str) -> None:
        from ...errors import DflError
        from ...merge.preview_client import PreviewClient

        ws = self.app.workspace  # type: ignore[attr-defined]
        device = getattr(self.app, "merge_device", "auto")
        try:
            client = PreviewClient(ws.root, model, device, log_path=ws.model_dir / model / "merger_helper.log")
        except OSError as exc:
            self.post_message(HelperReady(None, None, f"could not start the helper: {exc}"))
            return
        try:
            info = client.wait_ready()
        except DflError as exc:
            client.close()
            self.post_message(HelperReady(None, None, str(exc)))
            return
        if not self.is_mounted:  # the screen was left while the model loaded
            client.close()
            return
        self.post_message(HelperReady(client, info))

    @on(HelperReady)
    def _on_helper(self, msg: HelperReady) -> None:
        if msg.error or msg.client is None:
            self.image.set_message(f"The merger could not start:\n{msg.error}")
            self._status(str(msg.error))
            return
        if not self.is_mounted:  # left before it was ready
            msg.client.close()
            return
        self.client = msg.client
        self.info = msg.info or {}
        if self.session is not None and self.session.model_iteration != self.info.get("iteration"):
            self.session.model_iteration = self.info.get("iteration")
        self._title()
        warnings = self.info.get("warnings") or []
        if warnings:
            self._status(f"{len(warnings)} warning(s): {warnings[0]}")
        self._schedule_render()

    # -- state helpers ---------------------------------------------------------------------------
    @property
    def stem(self) -> str:
        return self.stems[self.pos] if self.stems else ""

    def _title(self) -> None:
        """One line, most important first so that 80 columns keep it: the view, the frame, the model."""
        t = Text()
        t.append("10 · Merge", style="bold")
        t.append(" │ ", style="dim")
        t.append(f"view: {VIEW_NAMES.get(self.view, self.view)}" + (f" x{ZOOMS[self.zoom_i]:g}" if self.zoom_i else ""),
                 style="bold reverse")
        if self.stems:
            t.append(" │ ", style="dim")
            t.append(f"frame {self.stem} ({self.pos + 1}/{len(self.stems)})", style="bold")
            if self.session is not None and self.stem in self.session.keyframes:
                t.append(" ◆ own settings", style="bold")
        if self.full:
            t.append(f" │ full screen ({self._key_for('merger.full', 'space')}: back)", style="bold")
        if self.label:
            t.append(" │ + label", style="dim")
        t.append(f" │ smooth {self.smooth}", style="dim")
        if self.model_name:
            facts = self.info
            t.append(" │ ", style="dim")
            t.append(f"model {self.model_name}", style="bold")
            if facts:
                t.append(f" ({facts.get('model_type')}, iteration {facts.get('iteration')}, "
                         f"{facts.get('resolution')} px, {facts.get('device')})", style="dim")
        t.no_wrap = True
        t.overflow = "ellipsis"
        self.query_one("#merger-title", Static).update(t)

    def _show_settings(self) -> None:
        s = settings_dict(self.settings)
        base = dict(self.session.base) if self.session is not None else settings_dict(FrameSettings())
        t = Text()
        t.append("settings of this frame\n", style="bold")
        for name, label in merger_keys.PANEL:
            keys = merger_keys.panel_keys(name, self._key_for)
            v = s[name]
            if isinstance(v, bool):
                val = "on" if v else "off"
            elif isinstance(v, float):
                val = f"{v:.2f}"
            else:
                val = str(v)
            changed = v != base.get(name)
            t.append(f"{label:<16}", style="dim")
            t.append(f"{val:<13}", style="bold" if changed else "")
            t.append(f"{keys}\n", style="dim")
        if self.session is not None:
            t.append(f"\n{self.session.summary()}\n", style="dim")
        t.append("tab: all keys", style="dim")
        self.query_one("#merger-settings", Static).update(t)

    def _status(self, text: str) -> None:
        self.last_message = text
        self.query_one("#merger-status", Static).update(Text(text))

    # -- rendering -------------------------------------------------------------------------------
    def _schedule_render(self) -> None:
        if self._render_timer is not None:
            self._render_timer.stop()
        self._render_timer = self.set_timer(0.03, self._request_render)

    def _request_render(self) -> None:
        self._render_timer = None
        if self.client is None or not self.stems:
            return
        self._req += 1
        width, height = self.image.pixel_box()
        layout = "side" if self.view == "side" else ""
        if layout:
            width = (width - SIDE_GAP) // 2
        width, height = max(8, width), max(8, height)
        self._render_frame(self._req, self.stem, settings_dict(self.settings), width, height, ZOOMS[self.zoom_i],
                     self.label, layout)

    @work(thread=True, exclusive=True, group="merger-render", exit_on_error=False)
    def _render_frame(self, req: int, stem: str, settings: dict[str, Any], width: int, height: int, zoom: float,
                label: bool, view: str) -> None:
        from ...errors import DflError

        client = self.client
        if client is None:
            return
        try:
            meta, arrays = client.render(stem, settings, width, height, zoom, label, smooth=self.smooth)
        except DflError as exc:
            self.post_message(Rendered(req, {"error": str(exc)}, {}, view))
            return
        self.post_message(Rendered(req, meta, arrays, view))

    @on(Rendered)
    def _on_rendered(self, msg: Rendered) -> None:
        if msg.req < self._shown_req:
            return
        self._shown_req = msg.req
        self.render_count += 1
        if msg.meta.get("error"):
            self.arrays = {}
            self.image.set_message(str(msg.meta["error"]))
            self._status(f"{self.stem}: {msg.meta['error']}")
            return
        self.meta, self.arrays = msg.meta, msg.arrays
        self._layout = msg.view
        self._redraw()
        notes = "; ".join(msg.meta.get("notes") or [])
        faces = msg.meta.get("faces", 0)
        self._status(f"{self.stem}: {faces} face{'s' if faces != 1 else ''} merged in {msg.meta.get('merge_ms')} ms"
                     + (f" · {notes}" if notes else ""))

    def _redraw(self) -> None:
        """Another view of the last result: no helper round trip (unless side by side changes the size)."""
        if not self.arrays:
            return
        if (self.view == "side") != (self._layout == "side"):
            self._schedule_render()  # the pictures need the other size
            return
        if self.view == "side":
            before, after = self.arrays.get("before"), self.arrays.get("after")
            if before is not None and after is not None:
                self.image.set_image(side_by_side(before, after), key=(self._shown_req, "side"))
            return
        img = self.arrays.get(self.view)
        if img is not None:
            self.image.set_image(img, key=(self._shown_req, self.view))

    def on_resize(self) -> None:
        self._schedule_render()

    # -- settings --------------------------------------------------------------------------------
    def _apply(self, new: FrameSettings) -> None:
        if new == self.settings or self.session is None:
            return
        self.settings = new
        self.session.set_frame(self.stem, new)
        self._changed()

    def _changed(self) -> None:
        self._show_settings()
        self._title()
        self._schedule_save()
        self._schedule_render()

    def action_mode(self, i: int) -> None:
        self._apply(opt_replace(self.settings, mode=MODES[int(i)]))

    def action_step(self, name: str, delta: float) -> None:
        spec = _SPECS[name]
        v = getattr(self.settings, name) + delta
        if spec.min is not None:
            v = max(spec.min, v)
        if spec.max is not None:
            v = min(spec.max, v)
        v = round(v, 2) if isinstance(getattr(self.settings, name), float) else int(v)
        self._apply(opt_replace(self.settings, **{name: v}))

    def action_cycle(self, name: str, direction: int) -> None:
        choices = {"mask_mode": MASK_MODES, "color_transfer": COLOR_TRANSFER_MODES, "sharpen_mode": SHARPEN_MODES}[name]
        i = choices.index(getattr(self.settings, name))
        self._apply(opt_replace(self.settings, **{name: choices[(i + int(direction)) % len(choices)]}))

    def action_toggle_masked_hist(self) -> None:
        self._apply(opt_replace(self.settings, masked_hist_match=not self.settings.masked_hist_match))

    def action_toggle_label(self) -> None:
        self.label = not self.label
        self._title()
        self._schedule_render()

    def action_cycle_smooth(self) -> None:
        steps = (0, 25, 50, 75, 100)
        self.smooth = next((v for v in steps if v > self.smooth), steps[0])
        self._title()
        self._schedule_render()

    # -- frames ------------------------------------------------------------------------------------
    def _goto(self, pos: int) -> None:
        if not self.stems:
            return
        pos = max(0, min(len(self.stems) - 1, pos))
        if pos == self.pos:
            return
        self.pos = pos
        if self.session is not None:
            self.settings = self.session.settings_for(self.stem)
            self.session.current = self.stem
        self._changed()

    def action_frame(self, delta: int) -> None:
        self._goto(self.pos + int(delta))

    def action_first(self) -> None:
        self._goto(0)

    def action_override_next(self) -> None:
        if self.session is None or self.pos + 1 >= len(self.stems):
            return
        self.session.set_frame(self.stems[self.pos + 1], self.settings)
        self._goto(self.pos + 1)

    def action_override_prev(self) -> None:
        if self.session is None or self.pos == 0:
            return
        self.session.set_frame(self.stems[self.pos - 1], self.settings)
        self._goto(self.pos - 1)

    def action_apply_following(self) -> None:
        if self.session is None:
            return
        dropped = self.session.apply_following(self.stem, self.settings)
        self._status(f"these settings now apply from {self.stem} to the last frame"
                     + (f" ({dropped} later frame setting(s) replaced)" if dropped else ""))
        self._changed()

    def action_apply_all(self) -> None:
        if self.session is None:
            return
        self.session.apply_all(self.settings)
        self._status("these settings now apply to all frames")
        if self.pos:
            self._goto(0)
        else:
            self._changed()

    def action_clear_frame(self) -> None:
        if self.session is None:
            return
        self.session.clear_frame(self.stem)
        self.settings = self.session.settings_for(self.stem)
        self._changed()

    # -- view ----------------------------------------------------------------------------------------
    def action_zoom(self, delta: int) -> None:
        i = max(0, min(len(ZOOMS) - 1, self.zoom_i + int(delta)))
        if i != self.zoom_i:
            self.zoom_i = i
            self._title()
            self._schedule_render()

    def action_cycle_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self._title()
        self._redraw()

    def action_before_after(self) -> None:
        self.view = "before" if self.view != "before" else "after"
        self._title()
        self._redraw()

    def action_side_by_side(self) -> None:
        self.view = "side" if self.view != "side" else "after"
        self._title()
        self._redraw()

    def action_full_screen(self) -> None:
        """The frame alone: the settings, status, job and footer hide; the title line stays."""
        self.full = not self.full
        self.set_class(self.full, "-full")
        self._title()
        self.call_after_refresh(self._schedule_render)  # the image area changed size

    def _key_for(self, binding_id: str, default: str) -> str:
        """The key of a binding after the user's keymap, as shown (the app knows the keymap)."""
        key_for = getattr(self.app, "key_for", None)
        return key_for(binding_id, default) if key_for else merger_keys.default_key_for(binding_id, default)

    def action_toggle_help(self) -> None:
        help_ = self.query_one("#merger-help", Static)
        if not help_.has_class("shown"):
            help_.update(Text(merger_keys.help_text(self._key_for, max(40, self.size.width - 2))))
        help_.toggle_class("shown")
        self.call_after_refresh(self._schedule_render)  # the image area changed size

    # -- the session file --------------------------------------------------------------------------
    def _schedule_save(self) -> None:
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(0.3, self._save_in_thread)

    def _save_in_thread(self) -> None:
        self._save_timer = None
        self._save_worker()

    @work(thread=True, exclusive=True, group="merger-save", exit_on_error=False)
    def _save_worker(self) -> None:
        self.save_state()

    def save_state(self) -> None:
        """Write the session (also called by the app on exit and hang-up)."""
        if self.session is not None:
            if self.stems:
                self.session.current = self.stem
            try:
                self.session.save()
            except OSError as exc:  # a full disk, say: keep going, say so
                self.last_message = f"could not save the merger session: {exc}"

    # -- merging everything ------------------------------------------------------------------------
    def action_merge_all(self) -> None:
        if self.session is None or not self.model_name:
            return
        self.save_state()
        self._start_job(self.model_name, self.label)

    @work(thread=True, exclusive=True, group="merger-job", exit_on_error=False)
    def _start_job(self, model: str, label: bool) -> None:
        from ... import jobs
        from ...options import validate

        ws = self.app.workspace  # type: ignore[attr-defined]
        try:
            opts = validate(MergeOptions(model=model, session=True, label=label, smooth=self.smooth))
            run = jobs.start(ws, "merge", opts, detach=True)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.post_message(JobStartFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(JobStarted(run.id, str(run.path)))

    @on(JobStarted)
    def _on_job_started(self, msg: JobStarted) -> None:
        from ...jobs.rundir import RunDir

        jv = self.query_one("#job", JobView)
        jv.display = True
        jv.follow(RunDir(Path(msg.run_path)))
        self._status(f"merging all {len(self.stems)} frames in the background (job {msg.run_id}); "
                     "you can keep tuning, or leave: the job goes on")

    @on(JobFinished)
    def _on_job_finished(self, msg: JobFinished) -> None:
        from ..jobwatch import describe_end, marked_note

        if msg.status.get("state") == "done":
            self._status(marked_note("merge", msg.status.get("result") or {}, "ctrl+p verify"))
        else:
            self._status(describe_end(msg.status))

    @on(JobStartFailed)
    def _on_job_failed(self, msg: JobStartFailed) -> None:
        self._status(f"could not start the merge: {msg.error}")

    # -- leaving -------------------------------------------------------------------------------------
    def action_back(self) -> None:
        if self.full:  # esc leaves the full-screen view first
            self.action_full_screen()
            return
        self.save_state()
        self._close_helper()
        self.app.pop_screen()

    def _close_helper(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            import threading

            threading.Thread(target=client.close, name="merger-helper-close", daemon=True).start()

    def on_unmount(self) -> None:
        self._close_helper()


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0

