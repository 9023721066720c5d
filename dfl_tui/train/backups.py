"""Autobackups: copies of a model's last checkpoint in rotating slots ``autobackups/01..NN`` (01 newest).

DeepFaceLab's ``autobackup_hour``: the trainer saves first (so the copy is of the current weights),
then :func:`rotate_backup` copies the checkpoint, options, summary, state and previews into a
fresh folder and shifts the older slots down; the oldest slot falls off.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .modeldir import ModelDir


def rotate_backup(mdir: ModelDir, slots: int) -> Path:
    """Copy the model's checkpoint (and its options, summary, state, previews) into slot 01; returns it."""
    slots = max(1, int(slots))
    bdir = mdir.backups_dir
    bdir.mkdir(parents=True, exist_ok=True)
    tmp = bdir / ".incoming"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        shutil.copytree(mdir.checkpoint(), tmp / "checkpoint")
        for f in (mdir.options_path, mdir.summary_path, mdir.state_path):
            if f.exists():
                shutil.copy2(f, tmp / f.name)
        if mdir.previews_dir.is_dir():
            shutil.copytree(mdir.previews_dir, tmp / "previews")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a partial copy (a full disk, say) only takes space
        raise
    width = max(2, len(str(slots)))
    last = bdir / f"{slots:0{width}d}"
    if last.exists():
        shutil.rmtree(last)
    for i in range(slots - 1, 0, -1):
        p = bdir / f"{i:0{width}d}"
        if p.exists():
            os.replace(p, bdir / f"{i + 1:0{width}d}")
    newest = bdir / f"{1:0{width}d}"
    os.replace(tmp, newest)
    return newest


__all__ = ["rotate_backup"]
