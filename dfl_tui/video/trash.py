"""Batches of frames set aside instead of deleted, so a step can be undone.

A step that would replace or remove images in a frames folder (re-extracting
frames, denoising in place) first moves (or hard-links) the originals into
``<folder>/.trash/<time>-<action>/`` with a ``manifest.json`` saying where they
came from. :func:`restore_batch` puts them back. Dot-folders are ignored by
``list_images``, so the trash never looks like frames.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Iterable

from ..util.atomic import atomic_write_json, read_json
from ..workspace import TRASH_DIR

MANIFEST = "manifest.json"


def new_batch(folder: Path, action: str, **info: object) -> Path:
    """Create an empty, uniquely named batch folder under ``folder/.trash``."""
    base = folder / TRASH_DIR
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        name = f"{stamp}-{action}" + (f"-{i}" if i else "")
        batch = base / name
        try:
            batch.mkdir()
        except FileExistsError:
            continue
        write_manifest(batch, {"action": action, "folder": str(folder), "created": time.time(), "files": [],
                               "complete": False, **info})
        return batch
    raise OSError(f"cannot create a trash folder under {base}")


def write_manifest(batch: Path, manifest: dict) -> None:
    atomic_write_json(batch / MANIFEST, manifest, fsync=False)


def read_manifest(batch: Path) -> dict:
    return read_json(batch / MANIFEST, {}) or {}


def move_files(batch: Path, files: Iterable[Path]) -> list[str]:
    """Move files into the batch (a rename: same filesystem), recording them in the manifest."""
    man = read_manifest(batch)
    moved: list[str] = list(man.get("files", []))
    for f in files:
        os.replace(f, batch / f.name)
        moved.append(f.name)
    man["files"] = moved
    write_manifest(batch, man)
    return moved


def keep_copy(batch: Path, f: Path) -> None:
    """Put the current ``f`` into the batch while leaving ``f`` in place (hard link, else copy)."""
    dst = batch / f.name
    try:
        os.link(f, dst)
    except OSError:
        shutil.copy2(f, dst)


def batches(folder: Path, action: str | None = None) -> list[Path]:
    """Batch folders of ``folder``, oldest first (optionally only one action's)."""
    base = folder / TRASH_DIR
    if not base.is_dir():
        return []
    out = []
    for d in sorted(base.iterdir()):
        if d.is_dir() and (d / MANIFEST).exists():
            if action is None or read_manifest(d).get("action") == action:
                out.append(d)
    return out


def restore_batch(batch: Path, folder: Path | None = None) -> list[Path]:
    """Move a batch's files back (replacing what is there now); remove the emptied batch."""
    man = read_manifest(batch)
    folder = Path(folder or man.get("folder") or batch.parent.parent)
    restored = []
    for name in man.get("files", []):
        src = batch / name
        if src.exists():
            os.replace(src, folder / name)
            restored.append(folder / name)
    leftover = [p for p in batch.iterdir() if p.name != MANIFEST]
    if not leftover:
        shutil.rmtree(batch, ignore_errors=True)
    return restored
