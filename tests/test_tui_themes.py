"""Themes, keymap, help, command palette, colour set-up, hang-up, packaging of themes/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.color import Color
from textual.screen import Screen

from dfl_tui import steps as stepsmod
from dfl_tui import workflow
from dfl_tui.commands.tui import settle_colors
from dfl_tui.tui import registry
from dfl_tui.tui.app import DflApp
from dfl_tui.tui.commands import HIDDEN_STEPS, palette_entries
from dfl_tui.tui.keymap import KeymapError, load_keymap
from dfl_tui.tui.screens.clear import ClearWorkspaceScreen
from dfl_tui.tui.screens.help import HelpScreen
from dfl_tui.tui.screens.home import HomeScreen
from dfl_tui.tui.screens.jobs import JobsScreen
from dfl_tui.tui.screens.step import StepScreen
from dfl_tui.tui.themes import TAG_DEFAULTS, TAGS, ThemeFileError, load_theme_file, load_themes, shipped_theme_dirs
from dfl_tui.workspace import Workspace

from tui_fixtures import make_app, prepare_workspace, wait_for

REPO = Path(__file__).resolve().parents[1]
UI_CLASSES = [DflApp, HomeScreen, StepScreen, JobsScreen, HelpScreen, ClearWorkspaceScreen]


def test_shipped_themes_define_the_seven_tag_colours():
    themes, errors = load_themes(include_user=False)
    assert errors == []
    by_name = {t.name: t for t in themes}
    assert {"dfl-dark", "dfl-light"} <= set(by_name)
    assert by_name["dfl-dark"].dark and not by_name["dfl-light"].dark
    assert [f"tag-{c}" for c, _ in TAGS] == list(TAG_DEFAULTS)
    for name in ("dfl-dark", "dfl-light"):
        for var in TAG_DEFAULTS:
            Color.parse(by_name[name].variables[var])  # present and a colour
    assert shipped_theme_dirs(), "themes/ must be found"


def test_bad_theme_files_are_reported(tmp_path):
    (tmp_path / "broken.toml").write_text("name = 'x'\nprimary = 'not a colour'\n")
    (tmp_path / "typo.toml").write_text("name = 'y'\nprimary = '#112233'\nprimry = '#000000'\n")
    (tmp_path / "ok.toml").write_text("name = 'mine'\nprimary = '#112233'\n[variables]\ntag-red = '#ff0000'\n")
    themes, errors = load_themes([tmp_path])
    assert [t.name for t in themes] == ["mine"]
    assert len(errors) == 2 and any("broken.toml" in e for e in errors) and any("primry" in e for e in errors)
    with pytest.raises(ThemeFileError):
        load_theme_file(tmp_path / "broken.toml")


async def test_theme_variables_follow_the_theme(tmp_path):
    app = make_app(Workspace.open(tmp_path / "ws"), tmp_path, theme="dfl-light")
    light = load_theme_file(REPO / "themes" / "dfl-light.toml")
    dark = load_theme_file(REPO / "themes" / "dfl-dark.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.get_css_variables()["tag-red"].lower() == light.variables["tag-red"].lower()
        await pilot.press("f1")
        help_screen = await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen)
        label = help_screen.query_one(".tag-purple")
        assert label.styles.background == Color.parse(light.variables["tag-purple"])
        app.theme = "dfl-dark"
        await pilot.pause()
        assert app.get_css_variables()["tag-red"].lower() == dark.variables["tag-red"].lower()
        app.theme = "nord"  # a built-in theme without our variables: the defaults apply
        await pilot.pause()
        assert app.get_css_variables()["tag-red"] == TAG_DEFAULTS["tag-red"]


async def test_user_themes_and_keymap_from_config_dir(tmp_path, monkeypatch):
    cfg = tmp_path / "cfg"
    (cfg / "themes").mkdir(parents=True)
    (cfg / "themes" / "mine.toml").write_text("name = 'mine'\nprimary = '#336699'\ndark = true\n")
    (cfg / "themes" / "bad.toml").write_text("this is not toml = = =\n")
    (cfg / "keymap.toml").write_text('"app.help" = "f5"\n[keys]\n"home.jobs" = "J"\n')
    monkeypatch.setenv("DFL_TUI_CONFIG_DIR", str(cfg))
    app = make_app(Workspace.open(tmp_path / "ws"), tmp_path, load_user_config=True, theme="mine")
    assert "mine" in app.available_themes and app.theme == "mine"
    assert any("bad.toml" in text for _sev, text in app.startup_messages)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.keymap_user == {"app.help": "f5", "home.jobs": "J"}
        await pilot.press("f5")
        assert isinstance(app.screen, HelpScreen)
        # The help screen shows the remapped key.
        assert any(r.id == "app.help" and r.keys == "f5" for r in app.screen.rows)
        await pilot.press("escape")
        await pilot.press("J")
        assert isinstance(app.screen, JobsScreen)


def test_keymap_file_errors_name_the_file(tmp_path):
    p = tmp_path / "keymap.toml"
    p.write_text('"home.demo" = 3\n')
    with pytest.raises(KeymapError, match="keymap.toml"):
        load_keymap(p)
    assert load_keymap(tmp_path / "missing.toml") == {}


def test_every_binding_has_a_unique_id():
    seen: dict[str, str] = {}
    for cls in UI_CLASSES:
        for b in cls.BINDINGS:
            assert isinstance(b, Binding), (cls, b)
            assert b.id, f"{cls.__name__}: binding {b.key} -> {b.action} has no id"
            assert b.id not in seen, f"duplicate id {b.id}"
            seen[b.id] = cls.__name__


async def test_help_lists_every_key(tmp_path):
    app = make_app(Workspace.open(tmp_path / "ws"), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        help_screen = await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen)
        ids = {r.id for r in help_screen.rows}
        for cls in (DflApp, HomeScreen, StepScreen, JobsScreen):
            for b in cls.BINDINGS:
                assert b.id in ids
        await pilot.press("f1")
        assert isinstance(app.screen, HomeScreen)


async def test_palette_has_every_step_and_screen(tmp_path):
    app = make_app(Workspace.open(tmp_path / "ws"), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        texts = [t for t, _h, _cb in palette_entries(app)]
        for w in workflow.WORKFLOW:
            assert any(w.title in t for t in texts), w.title
        in_workflow = {w.step for w in workflow.WORKFLOW}
        for step in stepsmod.STEPS.values():
            if step.name not in HIDDEN_STEPS:
                assert step.name in in_workflow or any(step.title in t for t in texts), step.name
        for screen in ("Home", "Jobs", "Help"):
            assert f"Screen: {screen}" in texts
        # Through the real palette: ctrl+p, type, enter.
        await pilot.press("ctrl+p")
        await pilot.press(*"screen jobs")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), what="jobs via palette")


async def test_registered_screen_opens_for_its_step(tmp_path, monkeypatch):
    """Later issues register screens by key; the home screen opens them instead of the generic one."""
    monkeypatch.setitem(registry.SCREENS, "extract-frames-dst", "tests_registered_screen:ProbeScreen")
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "tests_registered_screen.py").write_text(
        "from textual.screen import Screen\n"
        "from textual.widgets import Static\n"
        "class ProbeScreen(Screen):\n"
        "    def __init__(self, entry, **kw):\n"
        "        super().__init__()\n"
        "        self.entry = entry\n"
        "    def compose(self):\n"
        "        yield Static(f'probe {self.entry.key} {self.entry.options}')\n"
    )
    monkeypatch.syspath_prepend(str(mod_dir))
    registry._EXISTS.clear()
    try:
        app = make_app(prepare_workspace(tmp_path / "ws"), tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3", "enter")
            await pilot.pause()
            assert type(app.screen).__name__ == "ProbeScreen"
            assert app.screen.entry.options == {"side": "dst"}
            await pilot.press("f3")
            await pilot.press("2", "enter")  # step 2 has no registered screen: the generic one
            await pilot.pause()
            assert isinstance(app.screen, StepScreen)
    finally:
        registry._EXISTS.clear()


async def test_hangup_saves_state_and_exits(tmp_path):
    app = make_app(Workspace.open(tmp_path / "ws"), tmp_path, theme="dfl-light")
    saved = []

    class Saver(Screen):
        def save_state(self) -> None:
            saved.append(True)

    async with app.run_test(size=(80, 24)) as pilot:
        app.open_step("selftest")
        await pilot.pause()
        app.push_screen(Saver())
        await pilot.pause()
        app.on_hangup()
        await pilot.pause()
    assert app.return_code == 0 and app.exiting_on == "hangup"
    assert saved == [True]
    state = json.loads((tmp_path / "state" / "ui.json").read_text())
    assert state["theme"] == "dfl-light"
    assert state["workspaces"][str(app.workspace.root)]["last_step"] == "selftest"


def test_colour_system_is_settled_before_textual_starts():
    env = {"TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0"}
    assert settle_colors(env) == "truecolor" and env["COLORTERM"] == "truecolor"
    env = {"TERM": "xterm-256color", "SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22"}
    assert settle_colors(env) == "truecolor"
    env = {"TERM": "xterm-256color", "TMUX": "x", "COLORTERM": "truecolor"}
    assert settle_colors(env) is None  # the terminal said so already
    env = {"TERM": "xterm-256color"}
    assert settle_colors(env) is None and "COLORTERM" not in env  # a local terminal decides itself
    env = {"TERM": "tmux-256color", "TMUX": "x"}
    assert settle_colors(env, "256") == "256" and env["TEXTUAL_COLOR_SYSTEM"] == "256"


def test_keys_command_prints_binding_ids():
    out = subprocess.run([sys.executable, "-m", "dfl_tui", "tui", "--keys"], capture_output=True, text=True,
                         timeout=60, env={**__import__("os").environ, "DFL_TUI_CONFIG_DIR": "/nonexistent"})
    assert out.returncode == 0, out.stderr
    for bid in ("app.help", "home.demo", "step.run", "step.cancel", "jobs.cancel"):
        assert bid in out.stdout


def _tracked_copy(dest: Path) -> Path:
    """The repository's tracked files copied to ``dest`` (so the build leaves no build/ in the checkout)."""
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, timeout=30)
    if out.returncode != 0 or shutil.which("git") is None:
        return REPO
    for rel in filter(None, out.stdout.decode().split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def test_wheel_contains_the_themes_and_face_models(tmp_path):
    """`pip wheel .` puts themes/*.toml into the wheel (installed under share/dfl-tui/themes) and the
    offline face models into the package, so a plain `pip install .` detects faces."""
    src = _tracked_copy(tmp_path / "src") if shutil.which("git") else REPO
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("dfl_tui-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(p.name for p in (REPO / "themes").glob("*.toml"))
    assert {"dfl-dark.toml", "dfl-light.toml"} <= set(shipped)
    for name in shipped:
        assert any(n.endswith(f".data/data/share/dfl-tui/themes/{name}") for n in names), name
    assert "dfl_tui/tui/app.tcss" in names
    from dfl_tui.faces.detect.tflite import MODEL_SHA256

    for name in MODEL_SHA256:
        assert f"dfl_tui/faces/detect/models/{name}" in names, name
    assert "dfl_tui/faces/detect/models/NOTICE" in names


async def test_dead_terminal_exits_instead_of_spinning(tmp_path, monkeypatch):
    """dolphie's trick: the TTY-alive check exits (after saving) once stdin is no terminal any more."""
    app = make_app(Workspace.open(tmp_path / "ws"), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        monkeypatch.setattr("dfl_tui.tui.app.os.isatty", lambda fd: False)
        app._check_tty()
        await pilot.pause()
    assert app.exiting_on == "tty-lost" and app.return_code == 0
    assert (tmp_path / "state" / "ui.json").exists()
