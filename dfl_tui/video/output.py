"""Finishing or abandoning a video written under a temporary name.

A video is encoded to a hidden temporary file and only renamed to its real name
when complete, so a stopped or failed step never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from ..faceset.trash import set_aside, undo_hint
from ..util.atomic import _fsync_dir


def publish(tmp: Path, out: Path, reporter: Any, *, keep_old: bool = True) -> None:
    """Make the finished ``tmp`` the real ``out``: flush it to disk, move any previous ``out``
    to the folder's trash (when ``keep_old``), rename, and flush the rename."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    if keep_old:
        set_aside(out.parent, [out], "replaced-video", reporter, displace="names",
                  undo=undo_hint("src", out.parent))
    os.replace(tmp, out)
    _fsync_dir(out.parent)


def abandon(container: Any, tmp: Path) -> None:
    """Close a half-written container (if still open) and delete its temporary file."""
    if container is not None:
        with contextlib.suppress(Exception):  # the temp file is removed anyway
            container.close()
    tmp.unlink(missing_ok=True)
