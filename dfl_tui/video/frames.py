"""Extract frames: ``data_src.mp4`` -> ``data_src/00001.png ...`` (DeepFaceLab's extract-video).

Decoding runs in this thread (FFmpeg's own threads decode in parallel); the
PNG/JPEG encoding and the writes run in a small thread pool, since OpenCV's
encoders release the GIL. Each frame is written to a hidden temporary name and
renamed, so a frame that exists is always complete. Frames already in the
folder are moved to the folder's trash first (``<folder>/.trash/``, undoable:
:mod:`dfl_tui.faceset.trash`; DeepFaceLab deletes them): re-extracting never
silently loses a user's images.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator

import av
import numpy as np

from ..errors import InputError, JobCancelled
from ..faceset.trash import set_aside, undo_hint
from ..jobs.context import Reporter
from ..util.atomic import atomic_write_json, read_json
from ..workspace import list_images
from ..util.tempfiles import clean_stale_temps
from .imageio import ImageWriter
from .options import ExtractFramesOptions
from .probe import find_video, open_video, resolve_in_workspace, stream_fps

MARKER = ".frames.json"  # what was extracted, and whether it finished


def run_extract_frames(ctx: Reporter, o: ExtractFramesOptions) -> dict[str, Any]:
    ws = ctx.workspace
    folder = ws.frames(o.side)
    if o.video:
        video: Path | None = resolve_in_workspace(ws, o.video, ws.video(o.side))
    else:
        video = find_video(ws, o.side)
    if video is None:
        images = list_images(folder)
        if images:
            ctx.log(f"no data_{o.side} video in {ws.root}: the {len(images)} images in {folder} are used as the "
                    f"{o.side} frames as they are (photos work as a source)")
            return {"frames": len(images), "video": None, "folder": str(folder), "source": "images"}
        raise InputError(f"no {o.side} video: put data_{o.side}.mp4 (or .mkv, .mov, ...) in {ws.root}, "
                         f"or put photos in {folder}/ and skip this step")
    return extract_frames(video, folder, fps=o.fps, fmt=o.format, jpeg_quality=o.jpeg_quality, reporter=ctx)


def rotation_steps(frame: Any) -> int:
    """Quarter turns (counter-clockwise) that show the frame as players do (phone videos carry one)."""
    return int(round((getattr(frame, "rotation", 0) or 0) / 90.0)) % 4


def upright(frame: Any) -> np.ndarray:
    """The frame as BGR, turned upright like FFmpeg's autorotate does."""
    arr = frame.to_ndarray(format="bgr24")
    k = rotation_steps(frame)
    return np.ascontiguousarray(np.rot90(arr, k)) if k else arr


def frame_name(index: int, digits: int, ext: str) -> str:
    """1-based, zero-padded like DeepFaceLab's ``%05d``."""
    return f"{index:0{digits}d}.{ext}"


def _frame_times(container: Any, stream: Any) -> Iterator[tuple[float, Any]]:
    """Decoded frames with their time in seconds from the first frame."""
    native = float(stream_fps(stream))
    t0: float | None = None
    for i, frame in enumerate(container.decode(stream)):
        t = frame.time
        if t is None:
            t = i / native
        if t0 is None:
            t0 = t
        yield t - t0, frame


def select_frames(frames: Iterator[tuple[float, Any]], fps: float, native: float) -> Iterator[Any]:
    """Resample to ``fps`` (0: every frame) by taking, for each output time, the nearest input frame.

    Frames are repeated when ``fps`` is above the video's rate, as FFmpeg's ``-r`` does.
    """
    if fps <= 0:
        for _, f in frames:
            yield f
        return
    step = 1.0 / fps
    k = 0
    prev: tuple[float, Any] | None = None
    for t, f in frames:
        if prev is not None:
            mid = (prev[0] + t) / 2
            while k * step < mid - 1e-9:
                yield prev[1]
                k += 1
        prev = (t, f)
    if prev is not None:
        end = prev[0] + 1.0 / native
        while k * step < end - 1e-6:
            yield prev[1]
            k += 1


def extract_frames(
    video: Path,
    folder: Path,
    *,
    fps: float = 0.0,
    fmt: str = "png",
    jpeg_quality: int = 95,
    reporter: Reporter | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Write the frames of ``video`` into ``folder``; return counts and timings."""
    ctx = reporter or Reporter()
    fmt = "jpg" if fmt in ("jpg", "jpeg") else "png"
    container = open_video(video)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        native_fps = stream_fps(stream)
        duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else (
            container.duration / 1_000_000 if container.duration else 0.0)
        src_frames = int(stream.frames or 0) or int(round(duration * float(native_fps)))
        resample = fps > 0 and abs(fps - float(native_fps)) > 1e-3
        out_fps = float(fps) if resample else float(native_fps)
        total = int(round(duration * fps)) if resample else src_frames
        digits = max(5, len(str(total or 0)))

        folder.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(folder)
        existing = list_images(folder)
        marker = folder / MARKER
        set_aside(folder, existing + [marker] if existing else [], "extract-frames", ctx, displace="images",
                  reason=f"re-extracting frames from {video.name}",
                  undo=undo_hint("src", folder))
        info = {"video": str(video), "fps": out_fps, "native_fps": float(native_fps), "format": fmt,
                "expected": total, "frames": 0, "complete": False, "started": time.time()}
        atomic_write_json(marker, info, fsync=False)

        n_workers = workers or max(1, min(4, (os.cpu_count() or 2)))
        writer = ImageWriter(n_workers, jpeg_quality=jpeg_quality)
        ctx.stage(f"extract frames from {video.name}", total=total or None, unit="frames")
        t_start = time.monotonic()
        submitted = 0
        error: str | None = None
        last_frame: Any = None
        last_arr: np.ndarray | None = None
        try:
            frames = select_frames(_frame_times(container, stream), fps if resample else 0, float(native_fps))
            try:
                for frame in frames:
                    ctx.check_cancel()
                    if frame is not last_frame:  # a repeated frame (fps above the video's) is converted once
                        last_arr = upright(frame)
                        last_frame = frame
                        if submitted == 0 and rotation_steps(frame):
                            ctx.log(f"{video.name} is stored rotated by {90 * rotation_steps(frame)} degrees: "
                                    "the frames are turned upright")
                    submitted += 1
                    writer.put(folder / frame_name(submitted, digits, fmt), last_arr)
                    ctx.progress(writer.done, total or None)
            except av.error.FFmpegError as exc:
                error = f"{video}: the video is damaged after frame {submitted} ({exc})"
            writer.close()
            writer.sync(folder)
            written = writer.done
            ctx.progress(written, total or None)
        except JobCancelled:
            writer.close(wait=False)
            info.update(frames=writer.done, complete=False, stopped=True)
            atomic_write_json(marker, info, fsync=False)
            ctx.log(f"stopped after {writer.done} frames; run extract-frames again to redo them all")
            raise
        except BaseException:
            writer.close(wait=False)
            raise
        elapsed = time.monotonic() - t_start
        if written == 0:
            marker.unlink(missing_ok=True)
            raise InputError(error or f"{video}: no frame could be decoded; the video is damaged or empty")
        if error is None and stream.frames and not resample and written < int(stream.frames) - 1:
            error = (f"{video}: the video ends early ({written} of {int(stream.frames)} frames): "
                     "the file is probably truncated")
        if error:
            ctx.warn(error + f"; kept the {written} frames before it")
        info.update(frames=written, complete=error is None, ended=time.time(), error=error)
        atomic_write_json(marker, info)
        rate = written / elapsed if elapsed > 0 else 0.0
        ctx.log(f"{written} frames -> {folder} ({out_fps:g} fps, {fmt}) in {elapsed:.1f} s ({rate:.1f} frames/s)")
        return {"video": str(video), "folder": str(folder), "frames": written, "fps": round(out_fps, 4),
                "format": fmt, "seconds": round(elapsed, 2), "frames_per_s": round(rate, 1),
                **({"warning": error} if error else {})}
    finally:
        container.close()


def extraction_info(folder: Path) -> dict[str, Any] | None:
    """What the last extract-frames wrote into ``folder`` (None if it never ran there)."""
    return read_json(folder / MARKER, None)
