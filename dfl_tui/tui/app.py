"""The dfl-tui Textual application.

Rules this module keeps (shared/reference/textual.md):

* Light at import: no torch, cv2 or numpy; screens load lazily (:mod:`.registry`).
* Never block the event loop: the workspace and the run folders are read in
  thread workers, which post messages; timers only schedule those workers.
* Jobs run detached (``jobs.start(..., detach=True)``), so they outlive the UI;
  nothing multiprocessing is created here after ``run()`` (Textual's stderr has no
  file descriptor, which breaks multiprocessing's resource tracker).
* A hang-up (SIGHUP) saves state and exits cleanly; a dead stdin (TTY gone
  without SIGHUP) is noticed by a timer, so Textual's input thread never spins.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal
from textual.theme import Theme

from .. import workflow
from ..workspace import Workspace
from . import config, quiet, registry
from .commands import DflCommands
from .keymap import KeymapError, keymap_path, load_keymap
from .themes import DEFAULT_THEME, LIGHT_THEME, TAG_CSS, TAG_DEFAULTS, load_themes


def workspace_label(root: Path) -> str:
    """The workspace path as a user would type it: relative to here, or with ``~``."""
    try:
        rel = root.relative_to(Path.cwd())
        return str(rel) if str(rel) != "." else "."
    except ValueError:
        pass
    home = Path.home()
    try:
        return "~/" + str(root.relative_to(home))
    except ValueError:
        return str(root)


class DflApp(App[int]):
    """The workflow, its steps and their jobs, on one workspace."""

    CSS_PATH = "app.tcss"
    CSS = TAG_CSS
    TITLE = "dfl-tui"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {DflCommands}

    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True, show=False),
        Binding("ctrl+c", "help_quit", "How to quit", id="app.help-quit", show=False, system=True),
        Binding("ctrl+p", "command_palette", "Palette", id="app.palette", priority=True, show=False),
        Binding("f1", "help", "Help", id="app.help"),
        Binding("f2", "jobs", "Jobs", id="app.jobs", show=False),
        Binding("f3", "home", "Home", id="app.home", show=False),
    ]

    def __init__(
        self,
        workspace: Workspace | str | os.PathLike | None = None,
        *,
        theme: str | None = None,
        watch: bool = True,
        poll_interval: float | None = 5.0,
        job_poll_interval: float = 0.25,
        load_user_config: bool = True,
        state_path: Path | None = None,
        open_step: str | None = None,
        start_step: bool = False,
        graphics: Any = None,
    ) -> None:
        super().__init__()
        quiet.install()
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
        self.workspace_label = workspace_label(self.workspace.root)
        self.watch = watch
        self.poll_interval = poll_interval
        self.job_poll_interval = job_poll_interval
        self.load_user_config = load_user_config
        self.state_path = state_path or config.state_path()
        self.ui_state = config.load_state(self.state_path) if load_user_config or state_path else {}
        self.open_step_at_start = open_step
        self.start_step_at_start = start_step
        self.workspace_changed: Signal[Any] = Signal(self, "workspace-changed")
        self.startup_messages: list[tuple[str, str]] = []
        self.keymap_user: dict[str, str] = {}
        self._tty_timer: Any = None
        self._hup_installed = False
        self.exiting_on = ""  # "hangup" / "tty-lost": why the app exited on its own
        self.graphics = self._initial_graphics(graphics)
        self._register_themes()
        wanted = theme or os.environ.get("DFL_TUI_THEME") or self.ui_state.get("theme") or DEFAULT_THEME
        if wanted not in self.available_themes:
            self.startup_messages.append(("warning", f"unknown theme {wanted!r}; using {DEFAULT_THEME}"))
            wanted = DEFAULT_THEME
        self.theme = wanted

    # -- themes and keys ----------------------------------------------------------------
    def _register_themes(self) -> None:
        themes, errors = load_themes(include_user=self.load_user_config)
        for t in themes:
            self.register_theme(t)
        for err in errors:
            self.startup_messages.append(("warning", f"theme skipped: {err}"))
        if DEFAULT_THEME not in self.available_themes:
            # Themes folder missing (broken install): a built-in fallback keeps the app usable.
            self.register_theme(Theme(DEFAULT_THEME, primary="#7aa2f7", dark=True, background="#1a1b26"))
            self.startup_messages.append(("warning", "shipped themes not found; using a fallback dfl-dark"))

    # -- pictures -------------------------------------------------------------------------
    def _initial_graphics(self, graphics: Any) -> Any:
        """``graphics``: a resolved ``termgfx.Graphics`` (``dfl-tui tui`` passes one), a mode name, or None:
        half-blocks (tests and embedders get a deterministic picture unless they ask)."""
        from .widgets import termgfx

        if isinstance(graphics, termgfx.Graphics):
            return graphics
        if isinstance(graphics, str) and graphics in termgfx.DRAW_MODES:
            return termgfx.HALFBLOCK.with_mode(graphics)
        return termgfx.HALFBLOCK

    def set_graphics(self, mode: str, *, remember: bool = True) -> None:
        """Switch how pictures are drawn (palette: "Graphics: ..."); remembered in ui.json."""
        from .widgets import termgfx

        if mode not in termgfx.MODES:
            raise ValueError(mode)
        g = termgfx.resolve(mode) if mode == "auto" else self.graphics.with_mode(mode)
        self.graphics = g
        if remember:
            self.ui_state["graphics"] = mode
        for screen in list(self.screen_stack):
            for w in screen.query("*"):
                changed = getattr(w, "graphics_changed", None)
                if callable(changed):
                    changed()
        self.notify(f"pictures: {g.describe()}", timeout=4)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(TAG_DEFAULTS)

    def action_reload_keymap(self) -> None:
        self._apply_keymap(notify_ok=True)

    def _apply_keymap(self, notify_ok: bool = False) -> None:
        if not self.load_user_config:
            return
        try:
            self.keymap_user = load_keymap()
        except KeymapError as exc:
            self.notify(str(exc), title="keymap", severity="error", timeout=10)
            return
        self.set_keymap(self.keymap_user)
        if notify_ok:
            self.notify(f"{len(self.keymap_user)} key(s) from {keymap_path()}")

    def key_for(self, binding_id: str, default: str = "") -> str:
        """The key bound to ``binding_id`` now (after the user's keymap), as the footer writes it."""
        from .keymap import key_display

        keys = self.keymap_user.get(binding_id)
        if not keys:
            classes = [type(self), *(type(s) for s in self.screen_stack)]
            for cls in classes:
                for b in getattr(cls, "BINDINGS", []):
                    if isinstance(b, Binding) and b.id == binding_id:
                        keys = b.key
                        break
                if keys:
                    break
        return key_display(keys or default)

    def toggle_light(self) -> None:
        self.theme = LIGHT_THEME if self.theme != LIGHT_THEME else DEFAULT_THEME

    # -- quiet on the wire -------------------------------------------------------------------
    @property
    def _background_screens(self) -> list[Screen]:
        """Screens that show through the top one: none when the top screen is opaque.

        Textual always counts the screen right below the top one as visible (for translucent
        dialogs). Under an opaque full screen (the reviewer over the home screen) that made
        every repaint of the hidden screen repaint the whole terminal again, every few
        seconds, for nothing (``dfl-tui bench redraw``: 40 KB/s idle in the reviewer).
        """
        screens = super()._background_screens
        try:
            opaque = self.screen.styles.background.a >= 1.0
        except Exception:  # noqa: BLE001 - no screen yet
            return screens
        return [] if opaque else screens

    # -- life cycle -----------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        from .screens.home import HomeScreen

        return HomeScreen()

    def on_mount(self) -> None:
        self._apply_keymap()
        for severity, text in self.startup_messages:
            self.notify(text, severity=severity, timeout=8)  # type: ignore[arg-type]
        if not self.is_headless:
            self._install_hangup_handler()
            try:
                if sys.__stdin__ is not None and sys.__stdin__.isatty():
                    self._tty_timer = self.set_interval(5.0, self._check_tty)
            except (ValueError, OSError):
                pass
        if self.watch:
            self._watch_workspace()
        if self.poll_interval:
            self.set_interval(self.poll_interval, self.action_refresh_workspace)
        if self.open_step_at_start:
            try:
                self.open_step(self.open_step_at_start, start=self.start_step_at_start)
            except KeyError as exc:
                self.notify(str(exc).strip("'\""), severity="error", timeout=10)

    def watch_theme(self, theme: str) -> None:
        if self.is_running:
            self.ui_state["theme"] = theme

    # -- hang-up and a dead terminal -----------------------------------------------------------
    def _install_hangup_handler(self) -> None:
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.on_hangup)
            self._hup_installed = True
        except (NotImplementedError, RuntimeError, ValueError):
            pass

    def on_hangup(self) -> None:
        """SIGHUP (SSH dropped, tmux server killed): save, then exit. Jobs keep running."""
        self.exiting_on = "hangup"
        self.save_state()
        self._exit_watchdog()
        self.exit(0)

    # Seconds a shutdown may take once the terminal is gone. Textual's writer thread dies on
    # the first write to a hung-up terminal (EIO); its queue then fills and the shutdown blocks
    # for ever in WriterThread.stop() (seen in tmux kill-server tests): the state is already
    # saved, so after this long the process just ends.
    EXIT_WATCHDOG_S = 3.0

    def _exit_watchdog(self) -> None:
        if self.is_headless:
            return
        import threading

        timer = threading.Timer(self.EXIT_WATCHDOG_S, os._exit, (0,))
        timer.daemon = True
        timer.start()

    def _check_tty(self) -> None:
        """dolphie's trick: exit when stdin is no longer a terminal, before anything spins."""
        try:
            alive = sys.__stdin__ is not None and os.isatty(sys.__stdin__.fileno())
        except (ValueError, OSError):
            alive = False
        if not alive:
            self.exiting_on = "tty-lost"
            self.save_state()
            self._exit_watchdog()
            self.exit(0)

    def save_state(self) -> None:
        """Write the UI's state (theme, last step) and ask every screen on the stack to save its own."""
        for screen in list(self.screen_stack):
            saver = getattr(screen, "save_state", None)
            if callable(saver):
                try:
                    saver()
                except Exception as exc:  # noqa: BLE001 - one screen's failure must not stop the others
                    self.log.error(f"save_state of {screen!r} failed: {exc}")
        try:
            self.ui_state["theme"] = self.theme
            config.save_state(self.state_path, self.ui_state)
        except OSError as exc:
            self.log.error(f"could not save UI state to {self.state_path}: {exc}")

    def remember_step(self, key: str) -> None:
        per_ws = self.ui_state.setdefault("workspaces", {}).setdefault(str(self.workspace.root), {})
        per_ws["last_step"] = key

    async def action_quit(self) -> None:
        self.save_state()
        self.exit(0)

    def on_unmount(self) -> None:
        if self._hup_installed:
            try:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            except (RuntimeError, ValueError):
                pass

    # -- watching the workspace ---------------------------------------------------------------
    def _watch_workspace(self) -> None:
        self.run_worker(self._watch_loop(), group="ws-watch", exclusive=True, exit_on_error=False)

    async def _watch_loop(self) -> None:
        """watchfiles' awatch in an async worker; on failure the poll timer does the work."""
        try:
            from watchfiles import awatch
        except ImportError:
            return
        root = self.workspace.root
        try:
            root.mkdir(parents=True, exist_ok=True)

            def keep(_change: Any, path: str) -> bool:
                return "/.thumbs/" not in path and not path.endswith(".tmp")

            async for changes in awatch(root, debounce=800, step=100, watch_filter=keep, recursive=True):
                self.workspace_changed.publish(changes)
        except (OSError, RuntimeError) as exc:
            self.log.warning(f"not watching {root}: {exc}")
            if not self.poll_interval:
                self.poll_interval = 2.0
                self.set_interval(self.poll_interval, self.action_refresh_workspace)

    def action_refresh_workspace(self) -> None:
        self.workspace_changed.publish(None)

    # -- navigation ---------------------------------------------------------------------------
    def open_entry(self, entry: workflow.WorkflowStep, *, start: bool = False, run_id: str | None = None,
                   values: dict[str, Any] | None = None) -> Screen:
        """Open the screen for a workflow entry: its registered screen, else the generic one."""
        if entry.key == "clear":
            from .screens.clear import ClearWorkspaceScreen

            screen: Screen = ClearWorkspaceScreen()
            self.push_screen(screen, callback=lambda _done: self.action_refresh_workspace())
            return screen
        key = registry.screen_key_for(entry)
        if key is not None:
            try:
                cls = registry.load_screen(key)
                screen = cls(entry=entry)
            except Exception as exc:  # noqa: BLE001 - a broken screen falls back to the generic one
                self.notify(f"The {key} screen failed to load ({type(exc).__name__}: {exc}); "
                            "showing the step's options instead.", severity="error", timeout=10)
            else:
                self.remember_step(entry.key)
                self.push_screen(screen)
                return screen
        from .screens.step import StepScreen

        screen = StepScreen(entry, start=start, run_id=run_id, values=values)
        self.remember_step(entry.key)
        self.push_screen(screen)
        return screen

    def open_step(self, name: str, *, start: bool = False, values: dict[str, Any] | None = None) -> Screen:
        """Open by workflow key (``extract-frames-src``), number (``4.2``) or step name (``selftest``)."""
        return self.open_entry(workflow.resolve(name), start=start, values=values)

    def _pop_to_home(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_home(self) -> None:
        self._pop_to_home()

    def action_jobs(self) -> None:
        from .screens.jobs import JobsScreen

        if isinstance(self.screen, JobsScreen):
            return
        self.push_screen(JobsScreen())

    def action_verify(self, path: str | None = None) -> None:
        """Check a file's synthetic-media mark (as dfl-tui verify): the workspace's newest output first."""
        from .screens.verify import VerifyScreen

        if isinstance(self.screen, VerifyScreen):
            return
        self.push_screen(VerifyScreen(path))

    def help_sections(self) -> list[tuple[str, type]]:
        from .screens.home import HomeScreen
        from .screens.jobs import JobsScreen
        from .screens.step import StepScreen

        sections: list[tuple[str, type]] = [("Everywhere", type(self))]
        current = [type(s) for s in self.screen_stack]
        for cls in reversed(current):
            if cls not in (HomeScreen, StepScreen, JobsScreen) and getattr(cls, "BINDINGS", None):
                sections.append((getattr(cls, "HELP_TITLE", cls.__name__), cls))
                for w in getattr(cls, "HELP_WIDGETS", ()):
                    sections.append((getattr(w, "HELP_TITLE", w.__name__), w))
        sections += [("Home", HomeScreen), ("Step screen", StepScreen), ("Jobs", JobsScreen)]
        return sections

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(self.help_sections(), self.keymap_user))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Light/dark", "Switch between dfl-dark and dfl-light", self.toggle_light)
