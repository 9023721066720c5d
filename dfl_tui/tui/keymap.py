"""Key bindings: the user's keymap file, and the list of every key for help.

Every ``Binding`` in dfl-tui has an ``id`` (``"home.demo"``, ``"step.run"``...).
``~/.config/dfl-tui/keymap.toml`` maps ids to keys and is applied with
:meth:`textual.app.App.set_keymap`::

    # dfl-tui keymap: binding id = "key[,other key]"
    "home.demo" = "D"
    "step.run" = "ctrl+r,f5"

(a ``[keys]`` table holding the same lines works too). ``dfl-tui tui --keys``
prints every id with its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .config import config_dir

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def keymap_path() -> Path:
    return config_dir() / "keymap.toml"


class KeymapError(ValueError):
    pass


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """The user's keymap (empty if there is no file); raises :class:`KeymapError` naming the file."""
    path = path or keymap_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise KeymapError(f"{path}: cannot read ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeymapError(f"{path}: not valid TOML ({exc})") from None
    if isinstance(data.get("keys"), dict):
        data = {**{k: v for k, v in data.items() if k != "keys"}, **data["keys"]}
    out: dict[str, str] = {}
    for k, v in data.items():
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            v = ",".join(v)
        if not isinstance(v, str) or not v.strip():
            raise KeymapError(f"{path}: {k} = {v!r}: give the key as a string, e.g. \"ctrl+r\"")
        out[str(k)] = v.replace(" ", "")
    return out


@dataclass(frozen=True)
class KeyInfo:
    section: str
    id: str
    keys: str
    description: str
    action: str


def _bindings_of(cls: type) -> list[Any]:
    from textual.binding import Binding

    out = []
    for b in getattr(cls, "BINDINGS", []) or []:
        if isinstance(b, Binding):
            out.append(b)
        elif isinstance(b, tuple):
            out.append(Binding(*b))
    return out


def binding_sections() -> list[tuple[str, type]]:
    """Every class of the TUI that declares key bindings, as (section, class): the app first, then
    each screen and widget module under ``dfl_tui.tui`` (imported here: this is for ``--keys``
    and the tests, never on the UI's start-up path)."""
    import importlib
    import inspect
    import pkgutil

    from . import screens, widgets
    from .app import DflApp

    out: list[tuple[str, type]] = [("app", DflApp)]
    for pkg in (screens, widgets):
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for _name, cls in inspect.getmembers(mod, inspect.isclass):
                if cls.__module__ == mod.__name__ and cls.__dict__.get("BINDINGS"):
                    out.append((f"{info.name}: {getattr(cls, 'HELP_TITLE', None) or cls.__name__}", cls))
    return out


def all_bindings(cls: type) -> list[Any]:
    """dfl-tui's bindings of a class with those it inherits from dfl-tui classes (Textual's own are left out)."""
    out: list[Any] = []
    for klass in reversed(cls.__mro__):
        if "BINDINGS" in klass.__dict__ and klass.__module__.startswith("dfl_tui."):
            out += _bindings_of(klass)
    return out


def describe_bindings(sections: Iterable[tuple[str, type]], keymap: dict[str, str] | None = None) -> list[KeyInfo]:
    """Every binding of each class with the key the keymap gives it."""
    keymap = keymap or {}
    rows: list[KeyInfo] = []
    seen: set[tuple[str, str]] = set()
    for section, cls in sections:
        for b in _bindings_of(cls):
            if b.system and not b.id:
                continue
            bid = b.id or ""
            if (section, bid or b.key) in seen:
                continue
            seen.add((section, bid or b.key))
            keys = keymap.get(bid, b.key) if bid else b.key
            desc = b.description or b.tooltip or b.action.replace("_", " ")
            rows.append(KeyInfo(section, bid, keys, desc, b.action))
    return rows


def key_display(keys: str) -> str:
    """``ctrl+r,f5`` -> ``^r / f5`` (how the footer writes them)."""
    out = []
    for k in keys.split(","):
        k = k.strip()
        if k.startswith("ctrl+"):
            k = "^" + k[5:]
        named = {"question_mark": "?", "escape": "esc", "enter": "enter"}.get(k)
        if named is None and len(k) > 1 and "+" not in k:
            from textual.keys import format_key  # "semicolon" -> ";", "grave_accent" -> "`"

            shown = format_key(k)
            named = shown if len(shown) == 1 and shown.isascii() and shown.isprintable() and not shown.isalnum() else k
        out.append(named or k)
    return " / ".join(out)
