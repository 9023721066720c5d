"""Where the TUI keeps the user's settings and its own small state.

* ``~/.config/dfl-tui/`` (``$XDG_CONFIG_HOME``, or ``$DFL_TUI_CONFIG_DIR``): ``keymap.toml``
  and ``themes/*.toml`` -- files the user writes.
* ``~/.local/state/dfl-tui/ui.json`` (``$XDG_STATE_HOME``, or ``$DFL_TUI_STATE_DIR``): what the
  UI remembers between sessions (theme, last step per workspace). Written atomically
  on exit and on hang-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..util.atomic import atomic_write_json, read_json

APP_DIR_NAME = "dfl-tui"


def config_dir() -> Path:
    env = os.environ.get("DFL_TUI_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / APP_DIR_NAME


def state_dir() -> Path:
    env = os.environ.get("DFL_TUI_STATE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / APP_DIR_NAME


def state_path() -> Path:
    return state_dir() / "ui.json"


def load_state(path: Path) -> dict[str, Any]:
    data = read_json(path, {})
    return data if isinstance(data, dict) else {}


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Atomic, without fsync: called from a hang-up handler that must finish quickly."""
    atomic_write_json(path, state, fsync=False)
