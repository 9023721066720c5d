"""Themes from TOML files: the shipped ``themes/*.toml`` and the user's own.

Textual has no theme-file loader, so this is ours. A theme file holds the
fields of :class:`textual.theme.Theme` plus a ``[variables]`` table; dfl-tui's
own variables are the seven review-tag colours (``$tag-green`` ... ``$tag-orange``),
whose defaults come from :data:`TAG_DEFAULTS` so a theme may leave them out.

Search order (a later file of the same name wins): the installed copy
(``<prefix>/share/dfl-tui/themes``, from the wheel's data files), the source
checkout's ``themes/`` folder, then ``~/.config/dfl-tui/themes`` and
``$DFL_TUI_THEME_DIR``.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from pathlib import Path
from typing import Any

from ..faceset.journal import TAG_NAMES, TAGS  # noqa: F401  (re-exported: the seven review tags, one definition)
from .config import config_dir

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

# Default colour of each tag, in the order of TAG_NAMES (green, red, blue, yellow, purple, pink, orange).
_TAG_COLOURS = ("#4caf50", "#e53935", "#1e88e5", "#fdd835", "#8e24aa", "#ec407a", "#fb8c00")
TAG_DEFAULTS: dict[str, str] = {f"tag-{t}": c for t, c in zip(TAG_NAMES, _TAG_COLOURS, strict=True)}

#: ``.tag-green { background: $tag-green; }`` ... for every tag (the app adds it to its CSS).
TAG_CSS = "\n".join(f".tag-{t} {{ background: $tag-{t}; }}" for t in TAG_NAMES)

DEFAULT_THEME = "dfl-dark"
LIGHT_THEME = "dfl-light"

_THEME_FIELDS = {
    "name", "primary", "secondary", "warning", "error", "success", "accent", "foreground", "background",
    "surface", "panel", "boost", "dark", "luminosity_spread", "text_alpha", "variables",
}
_COLOUR_FIELDS = _THEME_FIELDS - {"name", "dark", "luminosity_spread", "text_alpha", "variables"}


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message names the file."""


def _repo_themes() -> Path | None:
    """``themes/`` beside the package in a source checkout or editable install."""
    root = Path(__file__).resolve().parents[2]
    folder = root / "themes"
    if folder.is_dir() and (root / "pyproject.toml").exists():
        return folder
    return None


def installed_theme_dirs() -> list[Path]:
    """Where a wheel's data files put ``share/dfl-tui/themes``."""
    prefixes = [sys.prefix, sysconfig.get_path("data")]
    try:
        prefixes.append(site.getuserbase())
    except Exception:  # noqa: BLE001 - site may be customised
        pass
    out: list[Path] = []
    for pre in prefixes:
        if not pre:
            continue
        p = Path(pre) / "share" / "dfl-tui" / "themes"
        if p.is_dir() and p not in out:
            out.append(p)
    return out


def shipped_theme_dirs() -> list[Path]:
    dirs = installed_theme_dirs()
    repo = _repo_themes()
    if repo is not None and repo not in dirs:
        dirs.append(repo)
    return dirs


def user_theme_dirs() -> list[Path]:
    dirs = [config_dir() / "themes"]
    env = os.environ.get("DFL_TUI_THEME_DIR")
    if env:
        dirs.append(Path(env).expanduser())
    return [d for d in dirs if d.is_dir()]


def theme_dirs(include_user: bool = True) -> list[Path]:
    return shipped_theme_dirs() + (user_theme_dirs() if include_user else [])


def parse_theme(data: dict[str, Any], source: str = "<theme>") -> Any:
    """A :class:`textual.theme.Theme` from a TOML table; raises :class:`ThemeFileError`."""
    from textual.color import Color, ColorParseError
    from textual.theme import Theme

    unknown = set(data) - _THEME_FIELDS
    if unknown:
        raise ThemeFileError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise ThemeFileError(f"{source}: needs name = \"...\"")
    if not isinstance(data.get("primary"), str):
        raise ThemeFileError(f"{source}: needs primary = \"#rrggbb\"")
    for key in _COLOUR_FIELDS:
        if key in data:
            try:
                Color.parse(data[key])
            except (ColorParseError, TypeError, ValueError):
                raise ThemeFileError(f"{source}: {key} = {data[key]!r} is not a colour") from None
    variables = data.get("variables") or {}
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ThemeFileError(f"{source}: [variables] must map names to strings")
    for key in TAG_DEFAULTS:
        if key in variables:
            try:
                Color.parse(variables[key])
            except (ColorParseError, TypeError, ValueError):
                raise ThemeFileError(f"{source}: {key} = {variables[key]!r} is not a colour") from None
    kwargs = dict(data)
    kwargs["variables"] = dict(variables)
    return Theme(**kwargs)


def load_theme_file(path: Path) -> Any:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"{path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"{path}: not valid TOML ({exc})") from None
    return parse_theme(data, str(path))


def load_themes(dirs: list[Path] | None = None, *, include_user: bool = True) -> tuple[list[Any], list[str]]:
    """Every theme in ``dirs`` (default: :func:`theme_dirs`); returns (themes, error messages).

    A bad file is reported and skipped, never fatal: a typo in a user theme must not
    stop the app from starting.
    """
    themes: dict[str, Any] = {}
    errors: list[str] = []
    for folder in dirs if dirs is not None else theme_dirs(include_user):
        for path in sorted(Path(folder).glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeFileError as exc:
                errors.append(str(exc))
                continue
            themes[theme.name] = theme
    return list(themes.values()), errors
