"""Make the video: frames -> H.264 ``result.mp4`` with the audio of ``data_dst.mp4``.

DeepFaceLab's video-from-sequence, through PyAV's libx264: fps from the
reference video, its first audio track copied (AAC) or re-encoded to AAC
192 kbit/s, quality by CRF (default), by bitrate (DeepFaceLab's way) or
lossless. The file is written under a hidden temporary name and renamed at the
end, so ``result.mp4`` is never a half-written video. :func:`encode_video` is
the reusable part (the merger calls it with metadata marking synthetic output).
"""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import av
import numpy as np

from ..errors import InputError
from ..jobs.context import Reporter
from ..provenance.metadata import read_provenance, video_tags
from ..workspace import list_images
from .audio import AudioSource
from .output import abandon, publish
from .imageio import read_ahead
from .options import MakeVideoOptions
from .probe import container_format, find_video, open_video, probe, resolve_in_workspace, stream_fps

# Tags written into videos made from merged (synthetic) frames: machine-readable
# disclosure that the content is AI-generated (see DESIGN.md, "Responsible use").
# The merged frames' own provenance (model, watermark id) is added when they carry it.
SYNTHETIC_TAGS = video_tags()

DEFAULT_FPS = Fraction(25)


def as_rate(fps: float | Fraction | int) -> Fraction:
    """A frame rate as an exact fraction (29.97 -> 30000/1001)."""
    if isinstance(fps, Fraction):
        return fps if fps > 0 else DEFAULT_FPS
    if fps <= 0:
        return DEFAULT_FPS
    for base in (24, 30, 48, 60, 120):  # NTSC rates typed as decimals (23.976, 29.97, 59.94...)
        ntsc = Fraction(base * 1000, 1001)
        if abs(float(fps) - float(ntsc)) < 0.006:
            return ntsc
    return Fraction(fps).limit_denominator(1000)


def encode_video(
    frames: Sequence[Path],
    out: Path,
    fps: float | Fraction = DEFAULT_FPS,
    audio_from: Path | None = None,
    *,
    crf: int | None = 18,
    bitrate: float | None = None,
    lossless: bool = False,
    metadata: dict[str, str] | None = None,
    reporter: Reporter | None = None,
    preset: str = "medium",
    copy_audio: bool = True,
    trash_old: bool = False,
    stage: str | None = None,
) -> dict[str, Any]:
    """Encode image files (in the given order) to an H.264 video at ``out``.

    ``bitrate`` is in Mbit/s and wins over ``crf``; ``lossless`` uses QP 0.
    ``audio_from``: a video whose first audio track is added (trimmed to the
    video's length). ``metadata``: container tags (title, comment, ...).
    ``trash_old``: an existing ``out`` goes to ``out.parent/.trash/`` instead of
    being replaced. Returns what was written.
    """
    import cv2

    ctx = reporter or Reporter()
    frames = list(frames)
    if not frames:
        raise InputError(f"no frames to make {out.name} from")
    out = Path(out)
    fmt = container_format(out)
    rate = as_rate(fps)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    workers = max(1, min(4, (os.cpu_count() or 2)))

    has_audio = False
    if audio_from is not None:
        with open_video(audio_from) as ref:
            has_audio = bool(ref.streams.audio)
        if not has_audio:
            ctx.log(f"{audio_from.name} has no audio track: the video will be silent")

    n = len(frames)
    ctx.stage(stage or f"encode {out.name}", total=n, unit="frames")
    t_start = time.monotonic()
    output = av.open(str(tmp), "w", format=fmt)
    audio: AudioSource | None = None
    written = 0
    warned_size = False
    bad = 0
    try:
        if metadata:
            output.metadata.update({str(k): str(v) for k, v in metadata.items()})
        vstream = None
        size: tuple[int, int] | None = None
        prev: np.ndarray | None = None
        for path, img in read_ahead(frames, workers):
            ctx.check_cancel()
            if img is None:
                bad += 1
                ctx.warn(f"{path}: not a readable image; " + ("the previous frame is repeated" if prev is not None
                                                               else "skipped"))
                if prev is None:
                    continue
                img = prev
            if vstream is None:
                h, w = img.shape[:2]
                size = (w + (w % 2), h + (h % 2))  # 4:2:0 needs even sizes
                if size != (w, h):
                    ctx.log(f"frames are {w}x{h}: padded to {size[0]}x{size[1]} (H.264 needs even sizes)")
                vstream = output.add_stream("libx264", rate=rate)
                vstream.width, vstream.height = size
                vstream.pix_fmt = "yuv420p"
                opts = {"preset": preset}
                if lossless:
                    opts["qp"] = "0"
                elif bitrate:
                    vstream.bit_rate = int(bitrate * 1_000_000)
                else:
                    opts["crf"] = str(int(18 if crf is None else crf))
                vstream.options = opts
                vstream.thread_type = "AUTO"
                if has_audio and audio_from is not None:
                    audio = AudioSource(output, audio_from, end=n / float(rate), copy=copy_audio, reporter=ctx)
            assert size is not None
            h, w = img.shape[:2]
            if (w, h) != size:
                if (w + (w % 2), h + (h % 2)) == size:
                    img = cv2.copyMakeBorder(img, 0, size[1] - h, 0, size[0] - w, cv2.BORDER_REPLICATE)
                else:
                    if not warned_size:
                        ctx.warn(f"{path}: {w}x{h} differs from the first frame's {size[0]}x{size[1]}; resized")
                        warned_size = True
                    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            prev = img
            vf = av.VideoFrame.from_ndarray(img, format="bgr24")
            vf.pts = written
            vf.time_base = 1 / rate
            for pkt in vstream.encode(vf):
                output.mux(pkt)
            written += 1
            if audio is not None:
                audio.mux_until(output, written / float(rate))
            ctx.progress(written, n)
        if vstream is None:
            raise InputError(f"none of the {n} frames could be read (first: {frames[0]})")
        for pkt in vstream.encode(None):
            output.mux(pkt)
        if audio is not None:
            audio.mux_until(output, float("inf"))
        output.close()
        output = None
        publish(tmp, out, ctx, keep_old=trash_old)
    except BaseException:
        abandon(output, tmp)
        raise
    finally:
        if audio is not None:
            audio.close()
    elapsed = time.monotonic() - t_start
    speed = written / elapsed if elapsed > 0 else 0.0
    ctx.log(f"{out} written: {written} frames at {float(rate):g} fps"
            + (f", audio {audio.mode}" if audio else ", no audio") + f" in {elapsed:.1f} s ({speed:.1f} frames/s)")
    return {"out": str(out), "frames": written, "fps": round(float(rate), 4), "audio": audio.mode if audio else None,
            "bytes": out.stat().st_size, "seconds": round(elapsed, 2), "frames_per_s": round(speed, 1),
            **({"unreadable_frames": bad} if bad else {})}


def run_make_video(ctx: Reporter, o: MakeVideoOptions) -> dict[str, Any]:
    ws = ctx.workspace
    src = resolve_in_workspace(ws, o.from_dir, ws.merged)
    if not src.is_dir():
        raise InputError(f"{src}: no such folder" + (": run merge first, or give --from DIR" if not o.from_dir else ""))
    frames = list_images(src)
    if not frames:
        raise InputError(f"{src}: no images to make a video from" + (" (run merge first)" if src == ws.merged else ""))
    out = resolve_in_workspace(ws, o.out, ws.result)

    if o.reference:
        reference: Path | None = resolve_in_workspace(ws, o.reference, ws.video("dst"))
        if not reference.exists():
            raise InputError(f"{reference}: no such file (--reference)")
    else:
        reference = find_video(ws, "dst")
    fps: Fraction | None = as_rate(o.fps) if o.fps else None
    if reference is not None:
        try:
            info = probe(reference)
        except InputError as exc:
            if fps is None:
                raise InputError(f"{exc}; give --fps N (and --no-audio) to make the video without it") from None
            ctx.warn(f"{exc}; making the video without its audio")
            reference = None
        else:
            if fps is None:
                fps = info.fps
            if info.frames_exact and info.frames != len(frames):
                ctx.log(f"note: {len(frames)} frames in {src.name}/ but {info.frames} in {reference.name}")
    if fps is None:
        fps = DEFAULT_FPS
        ctx.warn(f"no data_dst video in {ws.root}: using {float(fps):g} fps and no audio (give --fps N to choose)")
    provenance = read_provenance(frames[0]) if frames[0].suffix.lower() == ".png" else None
    synthetic = src.resolve() == ws.merged.resolve() or provenance is not None
    metadata = video_tags(provenance) if synthetic else None
    quality = dict(crf=o.crf, bitrate=o.bitrate, lossless=o.lossless)
    res = encode_video(frames, out, fps, reference if o.audio else None, metadata=metadata, reporter=ctx,
                       trash_old=True, **quality)
    result: dict[str, Any] = {"result": res["out"], "frames": res["frames"], "fps": res["fps"], "audio": res["audio"],
                              "frames_per_s": res["frames_per_s"]}
    masks_dir = ws.merged_mask
    if o.mask and synthetic and masks_dir.is_dir():
        masks = list_images(masks_dir)
        if masks:
            mask_out = ws.result_mask if out == ws.result else out.with_name(f"{out.stem}_mask{out.suffix}")
            mres = encode_video(masks, mask_out, fps, None, metadata=metadata, reporter=ctx, trash_old=True,
                                stage=f"encode {mask_out.name}", **quality)
            result["result_mask"] = mres["out"]
    return result


def video_fps(path: Path) -> Fraction:
    """The frame rate of a video (InputError naming it when it cannot be read)."""
    with open_video(path) as c:
        return stream_fps(c.streams.video[0])
