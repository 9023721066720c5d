"""Cut video: a time range of a video -> ``<name>_cut.mp4`` (DeepFaceLab's cut-video).

Frame-accurate: the input is seeked to the key frame before ``--from``, decoded,
and only frames from ``--from`` up to (not including) ``--to`` are re-encoded
(H.264 yuv420p at the given bitrate). The chosen audio track is trimmed to the
sample and re-encoded to AAC. The output is written under a hidden name and
renamed when complete; an older output goes to the folder's ``.trash/``.
"""

from __future__ import annotations

import math
import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..errors import InputError
from ..jobs.context import Reporter
from .audio import AudioSource
from .output import abandon, publish
from .options import CutVideoOptions, format_time, parse_time
from .frames import rotation_steps, upright
from .probe import container_format, open_video, resolve_in_workspace, stream_fps


def run_cut_video(ctx: Reporter, o: CutVideoOptions) -> dict[str, Any]:
    ws = ctx.workspace
    src = resolve_in_workspace(ws, o.file, ws.video("src"))
    out = resolve_in_workspace(ws, o.out, src.with_name(f"{src.stem}_cut.mp4")) if o.out else \
        src.with_name(f"{src.stem}_cut.mp4")
    return cut_video(src, out, start=parse_time(o.from_time), end=parse_time(o.to_time),
                     audio_track=o.audio_track, bitrate=o.bitrate, reporter=ctx)


def cut_video(src: Path, out: Path, *, start: float | None = None, end: float | None = None, audio_track: int = 0,
              bitrate: float = 25.0, reporter: Reporter | None = None, preset: str = "medium") -> dict[str, Any]:
    """Re-encode ``src`` between ``start`` and ``end`` seconds into ``out``."""
    ctx = reporter or Reporter()
    start = max(0.0, start or 0.0)
    fmt = container_format(out)
    if out.resolve() == src.resolve():
        raise InputError(f"{out}: the output would overwrite the input; choose another --out")
    inp = open_video(src)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    output = None
    audio: AudioSource | None = None
    try:
        vs = inp.streams.video[0]
        vs.thread_type = "AUTO"
        rate = stream_fps(vs)
        zero = (inp.start_time or 0) / 1_000_000
        duration = inp.duration / 1_000_000 if inp.duration else (
            float(vs.duration * vs.time_base) if vs.duration else math.inf)
        stop = min(end, duration) if end is not None else duration
        if start >= duration:
            raise InputError(f"{src}: --from {format_time(start)} is past the end of the video "
                             f"({format_time(duration)})")
        total = int(round((stop - start) * float(rate))) if math.isfinite(stop) else None
        if audio_track >= 0 and audio_track >= len(inp.streams.audio):
            if inp.streams.audio:
                raise InputError(f"{src}: has no audio track {audio_track} (it has {len(inp.streams.audio)}; "
                                 "the first is 0)")
            ctx.log(f"{src.name} has no audio: the cut is silent")
            audio_track = -1

        output = av.open(str(tmp), "w", format=fmt)
        ovs = None  # made at the first frame kept, when its (upright) size is known

        ctx.stage(f"cut {src.name} {format_time(start)}-{format_time(stop)}", total=total, unit="frames")
        t_start = time.monotonic()
        if start > 0:
            inp.seek(int((start + zero) / vs.time_base), stream=vs, backward=True, any_frame=False)
        written = 0
        half = 0.5 / float(rate)  # a frame belongs to the range if it starts in it (to half a frame)
        try:
            for frame in inp.decode(vs):
                ctx.check_cancel()
                if frame.time is None:
                    continue
                t = frame.time - zero
                if t < start - half:
                    continue
                if t >= stop - half:
                    break
                k = rotation_steps(frame)
                if k:  # a phone video stored sideways: cut it upright, as players show it
                    frame = av.VideoFrame.from_ndarray(upright(frame), format="bgr24")
                if ovs is None:
                    ovs = output.add_stream("libx264", rate=rate)
                    ovs.width, ovs.height = frame.width + frame.width % 2, frame.height + frame.height % 2
                    ovs.pix_fmt = "yuv420p"
                    ovs.bit_rate = int(bitrate * 1_000_000)
                    ovs.options = {"preset": preset}
                    ovs.thread_type = "AUTO"
                    if audio_track >= 0:
                        audio = AudioSource(output, src, start=start, end=stop, track=audio_track, copy=False,
                                            reporter=ctx)
                if (frame.width, frame.height) != (ovs.width, ovs.height):
                    frame = frame.reformat(width=ovs.width, height=ovs.height)
                frame.pts = written
                frame.time_base = 1 / Fraction(rate)
                for pkt in ovs.encode(frame):
                    output.mux(pkt)
                written += 1
                if audio is not None:
                    audio.mux_until(output, written / float(rate))
                ctx.progress(written, total)
        except av.error.FFmpegError as exc:
            ctx.warn(f"{src}: the video is damaged after {format_time(start + written / float(rate))} ({exc}); "
                     "the cut ends there")
        if written == 0 or ovs is None:
            raise InputError(f"{src}: no frame between {format_time(start)} and {format_time(stop)}")
        for pkt in ovs.encode(None):
            output.mux(pkt)
        if audio is not None:
            audio.mux_until(output, math.inf)
        output.close()
        output = None
        publish(tmp, out, ctx)
    except BaseException:
        abandon(output, tmp)
        raise
    finally:
        if audio is not None:
            audio.close()
        inp.close()
    elapsed = time.monotonic() - t_start
    seconds = written / float(rate)
    ctx.log(f"{out} written: {written} frames ({seconds:.3f} s) in {elapsed:.1f} s")
    return {"out": str(out), "frames": written, "seconds": round(seconds, 3), "fps": round(float(rate), 4),
            "audio": audio.mode if audio else None}
