"""The one rule for symlinks: dfl-tui reads, writes and moves only what really lies inside the folder
it works on.

A set folder may itself be a symlink (faces kept on another disk): its real path is the root. A
file or sub-folder of it is followed to its real path, which must lie inside that root; one that
leads elsewhere is refused with :class:`OutsideError`, naming it and where it leads. Unpack and
pack (files and ``--persons`` folders) and every move of the trash go through :func:`inside`, and
a ``.trash`` that is a symlink is refused (:func:`plain_dir`).

Light module.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError


class OutsideError(InputError):
    """A path of a set that leads (through a symlink) outside it."""


def real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(path))


def inside(root: str | os.PathLike, path: str | os.PathLike, what: str = "file") -> Path:
    """``path``'s real path, which must lie inside ``root``'s real path; else :class:`OutsideError`."""
    top = real(root)
    p = Path(path)
    got = real(p if p.is_absolute() else Path(root) / p)
    if got != top and top not in got.parents:
        folder = what == "folder"
        raise OutsideError(f"{path}: this {what} leads outside {root} (a symlink to {got}); dfl-tui only reads, "
                           f"writes and moves what lies inside the folder. Replace the link with a real "
                           f"{'folder' if folder else 'file'}, or work on {got if folder else got.parent} itself")
    return got


def plain_dir(path: str | os.PathLike, what: str = "folder") -> Path:
    """``path`` when it is not a symlink (it may not exist yet); else :class:`OutsideError`."""
    p = Path(path)
    if p.is_symlink():
        raise OutsideError(f"{p}: this {what} is a symlink (to {real(p)}); dfl-tui does not move files through "
                           f"one. Replace it with a real folder")
    return p


__all__ = ["OutsideError", "inside", "plain_dir", "real"]
