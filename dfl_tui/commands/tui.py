"""``dfl-tui tui`` (and plain ``dfl-tui``): open the terminal UI on the workspace.

Light at import (``dfl-tui --help`` imports this module): Textual is imported in
:func:`run`, after the colour system is settled -- inside tmux or over SSH the
terminal often does not announce truecolor, and Textual would fall back to 256
colours (shared/reference/textual.md, "tmux colour trap").
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import MutableMapping

COLOR_CHOICES = ("auto", "truecolor", "256", "16")


def add_arguments(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: `dfl-tui -w W tui` and `dfl-tui tui -w W` both work.
    p.add_argument("--workspace", "-w", default=argparse.SUPPRESS, metavar="DIR",
                   help="workspace folder (same as the global --workspace)")
    p.add_argument("--theme", default=None, metavar="NAME",
                   help="theme: dfl-dark (default), dfl-light, dfl-contrast, a Textual theme, "
                   "or one of yours in ~/.config/dfl-tui/themes/*.toml")
    p.add_argument("--open", dest="open_step", default=None, metavar="STEP",
                   help="open a step's screen at start: a number (4.2), a workflow key (extract-frames-src) "
                   "or a step name (make-video)")
    p.add_argument("--colors", choices=COLOR_CHOICES, default="auto",
                   help="colour system; auto = truecolor inside tmux/SSH when the terminal does not say")
    add_graphics_argument(p)
    p.add_argument("--no-watch", action="store_true",
                   help="do not watch the workspace for changes (poll every few seconds instead)")
    p.add_argument("--keys", action="store_true",
                   help="print every key binding's id and key (for ~/.config/dfl-tui/keymap.toml), then exit")


GRAPHICS_HELP = ("how to draw pictures: kitty graphics, Sixel, or half-block cells (works everywhere); "
                 "auto = what the terminal (and tmux) can show; the choice in the palette is remembered")


def add_graphics_argument(p: argparse.ArgumentParser) -> None:
    """``--graphics``; also on the top-level parser so that plain ``dfl-tui --graphics sixel`` works."""
    p.add_argument("--graphics", choices=("auto", "kitty", "sixel", "halfblock"), default=argparse.SUPPRESS,
                   help=GRAPHICS_HELP)


def settle_colors(env: MutableMapping[str, str], mode: str = "auto") -> str | None:
    """Choose the colour system before Textual starts; returns what was set (or None).

    ``auto``: if neither ``COLORTERM`` nor ``TEXTUAL_COLOR_SYSTEM`` says anything and we run
    inside tmux/screen or over SSH, assume truecolor -- every terminal people use over SSH
    today has it, and tmux passes it on when ``terminal-features`` has ``RGB``.
    """
    if mode != "auto":
        env["TEXTUAL_COLOR_SYSTEM"] = {"truecolor": "truecolor", "256": "256", "16": "standard"}[mode]
        return env["TEXTUAL_COLOR_SYSTEM"]
    if env.get("TEXTUAL_COLOR_SYSTEM") or env.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return None
    term = env.get("TERM", "")
    inside_mux = bool(env.get("TMUX")) or term.startswith(("tmux", "screen"))
    over_ssh = bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY") or env.get("SSH_CLIENT"))
    if (inside_mux or over_ssh) and term not in ("dumb", "linux"):
        env["COLORTERM"] = "truecolor"
        return "truecolor"
    return None


def settle_graphics(env: MutableMapping[str, str], requested: str | None) -> object:
    """The graphics for this session: ``--graphics``, else ``$DFL_TUI_GRAPHICS``, else the choice remembered in
    ui.json, else auto. Resolved before Textual starts (it asks tmux; nothing is read from the terminal).
    kitty graphics need truecolor (the colour of a placeholder cell is the picture's id)."""
    from ..tui import config
    from ..tui.widgets import termgfx

    want = requested or env.get("DFL_TUI_GRAPHICS") or ""
    if want not in termgfx.MODES:
        remembered = config.load_state(config.state_path()).get("graphics")
        want = remembered if remembered in termgfx.MODES else "auto"
    g = termgfx.resolve(want, env)
    if g.mode == "kitty" and not env.get("TEXTUAL_COLOR_SYSTEM"):
        env["COLORTERM"] = "truecolor"
    return g


def print_keys() -> int:
    """Every binding id of every screen and widget, with its key (after the user's keymap)."""
    from ..tui.keymap import KeymapError, all_bindings, binding_sections, keymap_path, load_keymap

    try:
        keymap = load_keymap()
    except KeymapError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        keymap = {}
    print(f"# key bindings; override them in {keymap_path()} as  \"id\" = \"key[,key]\"")
    for section, cls in binding_sections():
        print(f"\n# {section}")
        for b in all_bindings(cls):
            if b.id:
                desc = b.description or b.tooltip or b.action.replace("_", " ")
                print(f"{b.id:<28} {keymap.get(b.id, b.key):<16} {desc}")
    return 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "keys", False):
        return print_keys()
    settle_colors(os.environ, getattr(args, "colors", "auto") or "auto")
    graphics = settle_graphics(os.environ, getattr(args, "graphics", None))
    from ..tui.app import DflApp
    from ..workspace import Workspace

    ws = Workspace.open(getattr(args, "workspace", None))
    app = DflApp(
        ws,
        theme=getattr(args, "theme", None),
        watch=not getattr(args, "no_watch", False),
        poll_interval=5.0 if not getattr(args, "no_watch", False) else 2.0,
        open_step=getattr(args, "open_step", None),
        graphics=graphics,
    )
    code = app.run()
    if app.exiting_on == "hangup":
        return 0
    return int(code or 0)
