"""Denoise a frame sequence in place (DeepFaceLab's "denoise image sequence").

DeepFaceLab runs FFmpeg's ``hqdn3d=F:F:5:5`` over the frames. This is the same
idea written in numpy: a recursive (IIR) low-pass filter, horizontal, then
vertical, then temporal (against the previous *output* frame), where each step
moves a pixel toward its neighbour by a weight that falls with their difference:
``w(d) = (1 - |d|/255) ** gamma``, with ``gamma`` chosen so that ``w = 0.25``
when ``|d|`` equals the strength. Small differences (noise) are smoothed away,
large ones (edges, motion) are kept. It runs on Y, Cr and Cb.

The denoised frames are written to the folder's staging area and swap places
with the originals as one operation of the folder's trash
(:meth:`dfl_tui.faceset.trash.Trash.replace`): the originals go to
``<folder>/.trash/``, and ``--undo`` puts them back.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, JobCancelled
from ..faceset.trash import Trash
from ..jobs.context import Reporter
from ..workspace import TRASH_DIR, list_images
from ..util.tempfiles import clean_stale_temps
from .imageio import ImageWriter, read_ahead
from .options import DenoiseOptions

# how to undo a denoise, in the TUI and on the command line (log lines carry both)
DENOISE_UNDO = "the Denoise frames tool with undo on, or dfl-tui denoise-frames SIDE --undo"

TEMPORAL_STRENGTH = 5.0  # DeepFaceLab's fixed temporal luma/chroma strength
LUT_STEPS = 16  # weight table resolution: 1/16 of a grey level


def weight_table(strength: float) -> np.ndarray:
    """``w[i]`` = weight of the neighbour for a difference of ``i / LUT_STEPS`` grey levels."""
    d = np.arange(256 * LUT_STEPS + 1, dtype=np.float64) / LUT_STEPS
    if strength <= 0:
        return np.zeros_like(d, dtype=np.float32)
    gamma = math.log(0.25) / math.log(1.0 - min(strength, 252.0) / 255.0 - 0.00001)
    return (np.maximum(0.0, 1.0 - d / 255.0) ** gamma).astype(np.float32)


def _lowpass(prev: np.ndarray, cur: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``cur`` moved toward ``prev`` by the table's weight for their difference."""
    d = prev - cur
    idx = np.minimum(np.abs(d) * LUT_STEPS, len(table) - 1).astype(np.intp)
    return cur + d * table[idx]


class Hqdn3d:
    """The filter's state across frames (the previous output, for the temporal step)."""

    def __init__(self, spatial: float, temporal: float = TEMPORAL_STRENGTH) -> None:
        self.spatial = weight_table(spatial)
        self.temporal = weight_table(temporal)
        self.prev: np.ndarray | None = None

    def reset(self) -> None:
        self.prev = None

    def spatial_pass(self, img: np.ndarray) -> np.ndarray:
        """Recursive left-to-right, then top-to-bottom smoothing (float32 HxWxC)."""
        out = img.copy()
        t = self.spatial
        for x in range(1, out.shape[1]):
            out[:, x] = _lowpass(out[:, x - 1], out[:, x], t)
        for y in range(1, out.shape[0]):
            out[y] = _lowpass(out[y - 1], out[y], t)
        return out

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        import cv2

        ycc = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb).astype(np.float32)
        sp = self.spatial_pass(ycc)
        if self.prev is None or self.prev.shape != sp.shape:
            self.prev = sp  # first frame (or a size change): nothing to average with yet
        out = _lowpass(self.prev, sp, self.temporal)
        self.prev = out
        return cv2.cvtColor(np.clip(np.rint(out), 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2BGR)


def run_denoise(ctx: Reporter, o: DenoiseOptions) -> dict[str, Any]:
    ws = ctx.workspace
    folder = Path(o.folder) if o.folder else ws.frames(o.side)
    if o.folder and not folder.is_absolute():
        folder = ws.root / folder
    if o.undo:
        return undo_denoise(folder, reporter=ctx)
    return denoise_folder(folder, o.factor, reporter=ctx)


def denoise_folder(folder: Path, factor: int = 7, *, reporter: Reporter | None = None,
                   temporal: float = TEMPORAL_STRENGTH) -> dict[str, Any]:
    """Denoise every image of ``folder`` in name order; the originals go to the folder's trash."""
    ctx = reporter or Reporter()
    frames = list_images(folder)
    if not frames:
        raise InputError(f"{folder}: no frames to denoise (run extract-frames first)")
    clean_stale_temps(folder)
    exts = {p.suffix.lower() for p in frames}
    if len(exts) > 1:
        ctx.warn(f"{folder} mixes {', '.join(sorted(exts))} images: they are denoised as one sequence in name order")
    trash = Trash(folder)
    staging = trash.staging()
    clean_stale_temps(staging)
    filt = Hqdn3d(float(factor), temporal)
    workers = max(1, min(3, (os.cpu_count() or 2)))
    writer = ImageWriter(workers, jpeg_quality=95)
    done: list[str] = []
    skipped = 0
    ctx.stage(f"denoise {folder.name}", total=len(frames), unit="frames")
    t0 = time.monotonic()

    def swap_in() -> None:
        """The denoised frames take the originals' places; the originals go to the trash (one undo)."""
        if not done:
            return
        trash.replace(done, "denoise", info={"factor": factor, "temporal": temporal, "total": len(frames)})
        ctx.log(f"the {len(done)} original frames are in {folder / TRASH_DIR} (undo: {DENOISE_UNDO})")

    try:
        for i, (path, img) in enumerate(read_ahead(frames, workers)):
            ctx.check_cancel()
            if img is None:
                ctx.warn(f"{path}: not a readable image; left as it is")
                skipped += 1
                filt.reset()
                continue
            writer.put(staging / path.name, filt(img))
            done.append(path.name)
            ctx.progress(i + 1, len(frames), skipped=skipped)
        writer.close()
        writer.sync(staging)
    except JobCancelled:
        writer.close(wait=True)  # frames already queued are finished so the sequence is consistent
        swap_in()
        ctx.log(f"stopped after {len(done)} frames; to put those back: {DENOISE_UNDO}")
        raise
    except BaseException:
        writer.close(wait=True)
        for name in done:  # nothing was replaced: the originals stay, the half-done copies go
            (staging / name).unlink(missing_ok=True)
        raise
    swap_in()
    elapsed = time.monotonic() - t0
    rate = len(done) / elapsed if elapsed > 0 else 0.0
    ctx.log(f"denoised {len(done)} frames in {folder} (factor {factor}) in {elapsed:.1f} s ({rate:.1f} frames/s)")
    return {"folder": str(folder), "frames": len(done), "skipped": skipped, "factor": factor,
            "trash": str(folder / TRASH_DIR), "frames_per_s": round(rate, 1)}


def undo_denoise(folder: Path, *, reporter: Reporter | None = None) -> dict[str, Any]:
    """Put back the originals of the last denoise of ``folder`` (the denoised frames go back to staging)."""
    ctx = reporter or Reporter()
    trash = Trash(folder)
    op = trash.last("denoise")
    if op is None:
        raise InputError(f"{folder}: no denoise to undo (nothing in {folder / TRASH_DIR})")
    undone = trash.undo(op.id)
    restored = sum(1 for a, _b in undone.moves if a.startswith(TRASH_DIR + "/")) if undone else 0
    ctx.log(f"put back {restored} original frames from {folder / TRASH_DIR}")
    return {"folder": str(folder), "restored": restored, "from": str(folder / TRASH_DIR)}
