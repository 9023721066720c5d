"""The training monitor: attach to a running or finished training of a model (step 9).

It reads only files (``dfl_tui.train.modeldir`` layout and the job's run folder), in thread
workers on a 1-second timer; nothing here imports torch. Redraws are throttled: the loss plot is
rebuilt only when new metrics arrived or the range/smoothing changed, the preview only when the
trainer wrote a new one, the view changed or the widget was resized.

Layout (readable at 80x24 in tmux): the model and job on one line, the numbers (iteration, it/s,
ms per iteration, ETA to the target, time since the last save) and the latest losses below, then
the loss curves (one per loss, EMA-smoothed, over the whole run or the last N iterations) beside
the latest preview drawn with half-block pixels. The preview cycles through the model's panels
and, for each, its rows one sample at a time (bigger faces on small terminals).

Keys: s save now · b back up now · p refresh the preview · space next preview view · z preview
only · l range · e smoothing · t stop (press twice; the trainer saves first) · m next model ·
o options / start a training · escape leave (the training goes on).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Static

from ..widgets.picture import Picture
from ...jobs.rundir import ACTIVE_STATES, RunDir
from ...train.modeldir import ModelDir, list_models
from ...train.monitor import (RANGES, MetricsReader, downsample, ema, fmt_loss, smoothing_alpha,
                              training_facts)
from ..quiet import update_static

POLL_SECONDS = 1.0
STOP_WINDOW_S = 3.0  # t must be pressed twice within this many seconds
ACTIVE = ACTIVE_STATES + ("starting",)


def coarse_seconds(sec: float) -> float:
    """Seconds rounded down to what a glance needs: 10 s under a minute, whole minutes after."""
    if sec < 60:
        return sec - sec % 10
    return sec - sec % 60


# ---------------------------------------------------------------------------
# Data read in a worker thread
# ---------------------------------------------------------------------------


@dataclass
class PreviewView:
    panel: str
    path: Path
    row: int | None  # None: the whole panel
    rows: int
    cell: int | None
    columns: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.panel if self.row is None else f"{self.panel} · row {self.row + 1}/{self.rows}"


FIVE = ["src", "src→src", "dst", "dst→dst", "src→dst"]


def preview_columns(panel: str, ncols: int | None = None) -> list[str]:
    """DeepFaceLab's column captions of a preview panel, from its name (``dfl_tui.train.preview``
    lays the panels out): ``SAEHD`` / ``SAEHD masked`` (5 columns), the 2-column panels of
    resolutions above 256 (``... src-src``, ``... dst-dst``, ``... pred``), AMP's 3 x 2 grids.
    The masked panels show each face times its mask. [] when the panel is unknown or the count
    does not match the picture (``ncols`` from index.json)."""
    name = panel.lower()
    masked = " masked" in name or name.endswith("masked")
    cols: list[str]
    if name.startswith("amp morph list"):
        cols = ["dst→dst / swap .65", "swap .25 / .75", "swap .5 / 1.0"]
    elif name.startswith("amp morph"):
        cols = ["src / src→src", "dst / dst→dst", "dst→dst masked / src→dst"]
    elif name.endswith("src-src"):
        cols = ["src", "src→src"]
    elif name.endswith("dst-dst"):
        cols = ["dst", "dst→dst"]
    elif name.endswith(" pred"):
        cols = ["dst", "src→dst"]
    else:
        cols = list(FIVE)
    if masked and not name.startswith("amp"):
        cols = [c + " ×mask" for c in cols]
    if ncols and ncols != len(cols):
        return []
    return cols


@dataclass
class Snapshot:
    """What one poll found (built in a thread, applied on the event loop)."""

    models: list[str]
    model: str | None
    kind: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    trainer_opts: dict[str, Any] = field(default_factory=dict)
    run_path: str | None = None
    status: dict[str, Any] = field(default_factory=dict)
    alive: bool = False
    metrics_changed: bool = False
    views: list[PreviewView] = field(default_factory=list)
    preview_iteration: int | None = None
    preview_stamp: float | None = None


class Polled(Message):
    bubble = False

    def __init__(self, snap: Snapshot) -> None:
        super().__init__()
        self.snap = snap


class PreviewRendered(Message):
    bubble = False

    def __init__(self, key: tuple, rgb: Any, label: str) -> None:
        super().__init__()
        self.key = key
        self.rgb = rgb
        self.label = label


def _views(mdir: ModelDir) -> tuple[list[PreviewView], int | None, float | None]:
    idx = mdir.read_preview_index()
    views: list[PreviewView] = []
    for p in idx.get("panels") or []:
        path = mdir.previews_dir / str(p.get("file", ""))
        if not path.is_file():
            continue
        name = str(p.get("name", path.stem))
        rows, cell = int(p.get("rows") or 0), p.get("cell")
        columns = p.get("columns") if isinstance(p.get("columns"), list) else preview_columns(name, p.get("cols"))
        views.append(PreviewView(name, path, None, rows, cell, [str(c) for c in columns]))
        if rows > 1 and cell:
            views += [PreviewView(name, path, r, rows, int(cell), list(views[-1].columns)) for r in range(rows)]
    return views, idx.get("iteration"), idx.get("time")


def load_preview(view: PreviewView) -> Any:
    """Decode a preview PNG (PIL) and crop the view: RGB uint8 at the trainer's resolution (the
    :class:`Picture` fits it to the screen and draws it with the session's graphics)."""
    import numpy as np
    from PIL import Image

    with Image.open(view.path) as im:
        im = im.convert("RGB")
        if view.row is not None and view.cell:
            c = view.cell
            im = im.crop((0, view.row * c, im.width, (view.row + 1) * c))
        return np.asarray(im, np.uint8)


def ended_text(state: str, status: dict[str, Any], model_state: dict[str, Any]) -> str:
    """How a training that is not running ended: a stop saves first, so it is "stopped, saved at
    iteration N", not "cancelled"."""
    if state in ("cancelled", "stopped", "done"):
        res = status.get("result") or {}
        it = res.get("iteration", model_state.get("iteration"))
        if state == "done" and res.get("target_reached"):
            return f"done: target reached, saved at iteration {it}"
        if it is not None:
            return f"stopped, saved at iteration {it}"
        return "stopped"
    return state or "idle"


# ---------------------------------------------------------------------------
# Widgets
# ---------------------------------------------------------------------------


class PreviewImage(Picture):
    """The latest preview, centred (kitty, Sixel or half-blocks)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__('no preview yet', **kw)


def _plot_widget() -> Widget:
    from textual_plotext import PlotextPlot

    return PlotextPlot(id="tm-plot")


# ---------------------------------------------------------------------------
# The screen
# ---------------------------------------------------------------------------


class TrainMonitorScreen(Screen):
    """Loss curves, numbers and the latest preview of one model's training."""

    HELP_TITLE = "Training monitor"

    BINDINGS = [
        Binding("escape", "back", "Back", id="train.back"),
        Binding("s", "save", "Save", id="train.save"),
        Binding("b", "backup", "Backup", id="train.backup"),
        Binding("p", "preview", "Preview", id="train.preview"),
        Binding("space", "next_view", "Next view", id="train.next-view"),
        Binding("l", "range", "Range", id="train.range"),
        Binding("e", "smoothing", "Smooth", id="train.smoothing", show=False),
        Binding("z", "zoom", "Full preview", id="train.zoom"),
        Binding("t", "stop", "Stop", id="train.stop"),
        Binding("m", "next_model", "Model", id="train.model", show=False),
        Binding("o", "options", "Options", id="train.options"),
    ]

    DEFAULT_CSS = """
    TrainMonitorScreen #tm-title { height: 1; text-style: bold; }
    TrainMonitorScreen #tm-facts { height: 1; }
    TrainMonitorScreen #tm-losses { height: 1; color: $text-muted; }
    TrainMonitorScreen #tm-body { height: 1fr; }
    TrainMonitorScreen #tm-plot { width: 1fr; height: 1fr; min-width: 20; }
    TrainMonitorScreen #tm-preview { width: 1fr; height: 1fr; }
    TrainMonitorScreen.-zoom #tm-plot { display: none; }
    TrainMonitorScreen.-zoom #tm-losses { display: none; }
    TrainMonitorScreen.-zoom Header { display: none; }
    TrainMonitorScreen #tm-status { height: 1; color: $text-muted; }
    """

    def __init__(self, entry: Any = None, *, model: str | None = None, poll: float = POLL_SECONDS,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.entry = entry
        self.model_name = model
        self.poll_seconds = poll
        self.reader: MetricsReader | None = None
        self.snap: Snapshot | None = None
        self.range_i = 0
        self.smooth = 2
        self.view_i = 0
        self.views: list[PreviewView] = []
        self._plot_key: Any = None
        self._preview_key: Any = None
        self._stop_armed = 0.0
        self._fresh_asked: set[str] = set()
        self.iteration_now = 0
        self._polling = False
        self.polls = 0  # how many polls were applied (tests wait on it)
        self.plot_draws = 0

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static("", id="tm-title")
        yield Static("", id="tm-facts")
        yield Static("", id="tm-losses")
        with Horizontal(id="tm-body"):
            yield _plot_widget()
            yield PreviewImage(id="tm-preview")
        yield Static("", id="tm-status")
        yield Footer()

    def on_mount(self) -> None:
        self.poll()
        self.set_interval(self.poll_seconds, self.poll)

    @property
    def plot(self) -> Any:
        return self.query_one("#tm-plot")

    @property
    def preview(self) -> PreviewImage:
        return self.query_one("#tm-preview", PreviewImage)

    # -- polling ----------------------------------------------------------------------------
    def poll(self) -> None:
        if not self._polling:
            self._polling = True
            self._poll()

    @work(thread=True, exclusive=True, group="train-monitor-poll", exit_on_error=False)
    def _poll(self) -> None:
        try:
            self.post_message(Polled(self._read()))
        except Exception as exc:  # noqa: BLE001 - the monitor must not die on a half-written file
            self.app.log.warning(f"train monitor poll failed: {exc}")
            self._polling = False

    def _read(self) -> Snapshot:
        ws = self.app.workspace  # type: ignore[attr-defined]
        models = list_models(ws)
        names = [m.name for m in models]
        name = self.model_name if self.model_name in names else None
        if name is None and models:
            name = self._pick(models)
        snap = Snapshot(models=names, model=name)
        if name is None:
            return snap
        mdir = ModelDir.of(ws, name)
        opts = mdir.read_options(strict=False) or {}
        snap.kind = str(opts.get("model") or "")
        snap.trainer_opts = dict(opts.get("trainer") or {})
        snap.state = mdir.read_state()
        if self.reader is None or self.reader.path != str(mdir.metrics_path):
            self.reader = MetricsReader(str(mdir.metrics_path))
            snap.metrics_changed = True
        snap.metrics_changed |= self.reader.poll()
        run = mdir.read_run()
        if run.get("run_dir"):
            rd = RunDir(Path(run["run_dir"]))
            snap.run_path = str(rd.path)
            snap.status = rd.read_status()
            snap.alive = rd.is_alive()
        snap.views, snap.preview_iteration, snap.preview_stamp = _views(mdir)
        return snap

    @staticmethod
    def _pick(models: list[ModelDir]) -> str:
        """The model being trained now, else the one whose metrics changed last."""
        def key(m: ModelDir) -> tuple[int, float]:
            run = m.read_run()
            alive = bool(run.get("run_dir")) and RunDir(Path(run["run_dir"])).is_alive()
            try:
                mtime = m.metrics_path.stat().st_mtime
            except OSError:
                mtime = 0.0
            return (1 if alive else 0, mtime)

        return max(models, key=key).name

    @on(Polled)
    def _on_polled(self, msg: Polled) -> None:
        self._polling = False
        snap = msg.snap
        self.snap = snap
        self.polls += 1
        if snap.model is None:
            update_static(self.query_one("#tm-title", Static),
                          Text("9 · Train   no model in this workspace yet", style="bold"))
            update_static(self.query_one("#tm-facts", Static),
                          Text("Press o to choose the options and start a training (it runs in the background).",
                               style="bold"))
            update_static(self.query_one("#tm-losses", Static), "")
            self.preview.set_message("no preview yet")
            self._draw_plot(force=False)
            return
        self.model_name = snap.model
        self._update_text()
        if snap.metrics_changed or self._plot_key is None:
            self._draw_plot(force=snap.metrics_changed)
        self.views = snap.views
        if self.views:
            self.view_i %= len(self.views)
            self._request_preview()
        else:
            self.preview.set_message("no preview yet")

    # -- text -------------------------------------------------------------------------------
    def _update_text(self) -> None:
        snap = self.snap
        assert snap is not None and self.reader is not None
        state = snap.status.get("state") or ("stopped" if snap.state else "")
        if snap.status and state in ACTIVE and not snap.alive:
            state = "lost"
        running = snap.alive and state in ACTIVE
        title = Text()
        title.append("9 · Train   ", style="bold")
        title.append(f"{snap.kind} '{snap.model}'", style="bold")
        title.append(f"   {'training' if running else ended_text(state, snap.status, snap.state)}",
                     style="bold green" if running else "bold yellow" if state in ("failed", "lost") else "dim")
        if len(snap.models) > 1:
            title.append(f"   (m: {len(snap.models)} models)", style="dim")
        update_static(self.query_one("#tm-title", Static), title)
        status = dict(snap.status)
        status["state"] = "running" if running else state
        facts = training_facts(self.reader, snap.state, status, snap.trainer_opts)
        if facts.since_save is not None:
            # coarse, so that an idle monitor does not re-send the line every second
            facts.since_save = coarse_seconds(facts.since_save)
        self.iteration_now = facts.iteration
        self._ask_fresh_preview(snap, running, facts.iteration)
        line = Text(facts.header())
        if not running and state in ("failed", "lost") and snap.status.get("error"):
            line = Text(f"iter {facts.iteration} · {str(snap.status.get('error'))[:200]}", style="bold red")
        update_static(self.query_one("#tm-facts", Static), line)
        losses = "  ".join(f"{k} {fmt_loss(v)}" for k, v in facts.losses.items())
        if facts.sps:
            losses += f"  ·  {facts.sps:.1f} samples/s"
        update_static(self.query_one("#tm-losses", Static), Text(losses))
        self._update_status()

    def _update_status(self) -> None:
        rng = RANGES[self.range_i]
        parts = [f"range {'all' if not rng else f'last {rng // 1000}k'}", f"smoothing {self.smooth}"]
        if self.views:
            v = self.views[self.view_i % len(self.views)]
            parts.append(f"preview {v.label} ({self.view_i % len(self.views) + 1}/{len(self.views)})")
            if self.snap and self.snap.preview_iteration is not None:
                at = self.snap.preview_iteration
                now = getattr(self, "iteration_now", at)
                parts.append(f"at iter {at}" + (f" (now {now})" if now and now != at else ""))
        update_static(self.query_one("#tm-status", Static), Text(" · ".join(parts)))

    def _ask_fresh_preview(self, snap: Snapshot, running: bool, iteration: int) -> None:
        """Opening the monitor on a running training: ask once for a preview of the current iteration
        (the trainer writes them on its own schedule, and the last one may be from an earlier run)."""
        if not running or not snap.run_path or snap.run_path in self._fresh_asked:
            return
        if snap.preview_iteration is not None and snap.preview_iteration >= iteration:
            return
        self._fresh_asked.add(snap.run_path)
        try:
            RunDir(Path(snap.run_path)).request("preview")
        except OSError:
            pass

    # -- plot -------------------------------------------------------------------------------
    def _draw_plot(self, force: bool) -> None:
        try:
            plot = self.plot
        except Exception:  # noqa: BLE001 - not composed (yet)
            return
        width = max(10, plot.size.width - 8)
        key = (self.reader.version if self.reader else -1, self.range_i, self.smooth, width)
        if not force and key == self._plot_key:
            return
        self._plot_key = key
        plt = plot.plt
        plt.clear_figure()
        reader = self.reader
        drew = False
        if reader is not None:
            alpha = smoothing_alpha(self.smooth)
            for name in reader.loss_names:
                xs, ys, ws = reader.series(name, RANGES[self.range_i])
                if not xs:
                    continue
                if alpha < 1.0:
                    ys = ema(ys, alpha, ws)
                bx, bm, _lo, _hi = downsample(xs, ys, 2 * width, ws)
                plt.plot(bx, bm, label=name.replace("_loss", ""), marker="braille")
                drew = True
        rng = RANGES[self.range_i]
        plt.title(f"loss ({'all' if not rng else f'last {rng}'} iterations)" if drew else "no metrics yet")
        plt.xlabel("iteration")
        plot.refresh()
        self.plot_draws += 1

    # -- preview ----------------------------------------------------------------------------
    def _request_preview(self, force: bool = False) -> None:
        if not self.views:
            return
        v = self.views[self.view_i % len(self.views)]
        size = self.preview.size
        if size.width < 2 or size.height < 1:
            return
        try:
            mtime = v.path.stat().st_mtime
        except OSError:
            return
        key = (str(v.path), v.row, mtime, size.width, size.height)
        if not force and key == self._preview_key:
            return
        self._preview_key = key
        self._render_preview(v, key)
        self._update_status()

    @work(thread=True, exclusive=True, group="train-monitor-preview", exit_on_error=False)
    def _render_preview(self, view: PreviewView, key: tuple) -> None:
        try:
            rgb = load_preview(view)
        except Exception as exc:  # noqa: BLE001 - the trainer may be replacing the file: next poll retries
            self.app.log.warning(f"preview not rendered: {exc}")
            self._preview_key = None
            return
        self.post_message(PreviewRendered(key, rgb, view.label))

    @on(PreviewRendered)
    def _on_preview(self, msg: PreviewRendered) -> None:
        if msg.key == self._preview_key:
            v = self.views[self.view_i % len(self.views)] if self.views else None
            self.preview.set_image(msg.rgb, key=msg.key[:3], columns=v.columns if v is not None else None)

    def on_resize(self) -> None:
        self._preview_key = None
        self._plot_key = None
        self.call_after_refresh(self._after_resize)

    def _after_resize(self) -> None:
        self._request_preview()
        self._draw_plot(force=False)

    # -- actions ----------------------------------------------------------------------------
    def _live_run(self) -> RunDir | None:
        snap = self.snap
        if snap is None or not snap.run_path or not snap.alive:
            return None
        return RunDir(Path(snap.run_path))

    def _request(self, what: str, done: str) -> None:
        run = self._live_run()
        if run is None:
            self.notify("This model is not training now.", severity="warning")
            return
        run.request(what)
        self.notify(done)

    def action_save(self) -> None:
        self._request("save", "Asked the trainer to save now.")

    def action_backup(self) -> None:
        self._request("backup", "Asked the trainer to back up now.")

    def action_preview(self) -> None:
        if self._live_run() is None:
            self._preview_key = None
            self.poll()
            return
        self._request("preview", "Asked the trainer for a new preview.")

    def action_next_view(self) -> None:
        if not self.views:
            return
        self.view_i = (self.view_i + 1) % len(self.views)
        self._request_preview(force=True)

    def action_range(self) -> None:
        self.range_i = (self.range_i + 1) % len(RANGES)
        self._draw_plot(force=True)
        self._update_status()

    def action_smoothing(self) -> None:
        self.smooth = (self.smooth + 1) % 5
        self._draw_plot(force=True)
        self._update_status()

    def action_zoom(self) -> None:
        self.toggle_class("-zoom")
        self._preview_key = None
        self.call_after_refresh(self._request_preview)

    def action_stop(self) -> None:
        run = self._live_run()
        if run is None:
            self.notify("This model is not training now.", severity="information")
            return
        now = time.monotonic()
        if now - self._stop_armed > STOP_WINDOW_S:
            self._stop_armed = now
            self.notify(f"Press t again within {STOP_WINDOW_S:.0f} s to stop the training (it saves first).",
                        severity="warning", timeout=STOP_WINDOW_S)
            return
        self._stop_armed = 0.0
        self._stop(run)

    @work(thread=True, group="train-monitor-stop", exit_on_error=False)
    def _stop(self, run: RunDir) -> None:
        from ... import jobs as jobsmod

        alive = jobsmod.cancel(run)
        self.app.call_from_thread(self.notify, "Stopping: the trainer saves, then ends." if alive
                                  else "The training had already ended.")

    def action_next_model(self) -> None:
        snap = self.snap
        if not snap or len(snap.models) < 2:
            self.notify("Only one model in this workspace.", severity="information")
            return
        i = snap.models.index(snap.model) if snap.model in snap.models else -1
        self.model_name = snap.models[(i + 1) % len(snap.models)]
        self.reader = None
        self._plot_key = self._preview_key = None
        self.view_i = 0
        self.poll()

    def action_options(self) -> None:
        """The options form and Run (the generic step screen); the monitor picks the new run up."""
        from ... import workflow
        from ...train.options import form_values
        from .step import StepScreen

        entry = self.entry if self.entry is not None else workflow.resolve("train")
        saved, name = None, ""
        if self.snap and self.snap.model:
            name = self.snap.model
            saved = ModelDir.of(self.app.workspace, name).read_options(strict=False)  # type: ignore[attr-defined]
        self.app.push_screen(train_options_screen(StepScreen)(entry, values=form_values(saved, name)))

    def action_back(self) -> None:
        self.app.pop_screen()


_OPTIONS_CLS: Any = None


def train_options_screen(step_cls: Any) -> Any:
    """The train step's options form, which goes back to this monitor once ctrl+r started the training."""
    global _OPTIONS_CLS
    if _OPTIONS_CLS is None:
        class TrainOptionsScreen(step_cls):  # type: ignore[misc, valid-type]
            def attach(self, run: RunDir) -> None:
                super().attach(run)
                stack = self.app.screen_stack
                if self.started_here and len(stack) > 1 and isinstance(stack[-2], TrainMonitorScreen):
                    self.app.call_later(self._back_to_monitor)

            def _back_to_monitor(self) -> None:
                if self.app.screen is self:
                    self.app.pop_screen()
                    self.app.notify("Training started: the monitor follows it (esc leaves; it goes on).", timeout=5)
                    mon = self.app.screen
                    if isinstance(mon, TrainMonitorScreen):
                        mon.model_name = None
                        mon.reader = None
                        mon._plot_key = mon._preview_key = None
                        mon.poll()

        _OPTIONS_CLS = TrainOptionsScreen
    return _OPTIONS_CLS


__all__ = ["PreviewImage", "TrainMonitorScreen", "load_preview"]
