"""Opening and describing videos with PyAV, with errors a user can act on.

Every way a video can be bad (missing, not a video, truncated, no video
stream, a codec this build cannot decode) ends here as an
:class:`~dfl_tui.errors.InputError` that names the file.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..errors import InputError

# Containers we write, by file extension.
CONTAINER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


@dataclass
class VideoInfo:
    """What the steps need to know about a video."""

    path: str
    width: int
    height: int
    fps: Fraction  # frames per second (the stream's average rate)
    frames: int  # frame count (from the container, else estimated from the duration)
    frames_exact: bool  # False when ``frames`` is an estimate
    duration: float  # seconds
    codec: str
    pix_fmt: str | None
    has_audio: bool
    audio_codec: str | None = None
    audio_rate: int | None = None
    audio_channels: int | None = None
    audio_tracks: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fps"] = float(self.fps)
        return d


def _bad(path: Path, what: str) -> InputError:
    return InputError(f"{path}: {what}")


def open_video(path: str | os.PathLike) -> "av.container.InputContainer":
    """Open a video for reading, or raise an InputError that says what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise _bad(path, "no such file")
    if path.is_dir():
        raise _bad(path, "is a folder, not a video file")
    if path.stat().st_size == 0:
        raise _bad(path, "the file is empty (0 bytes): copy the video again")
    try:
        container = av.open(str(path), "r")
    except av.error.InvalidDataError:
        raise _bad(path, "not a video this build can read, or the file is damaged/truncated "
                   "(e.g. an interrupted download or copy): get a complete copy of the video") from None
    except av.error.PermissionError:
        raise _bad(path, "permission denied: check the file's permissions") from None
    except av.error.FFmpegError as exc:
        raise _bad(path, f"cannot open the video ({exc.strerror or exc}); is it a complete video file?") from None
    if not container.streams.video:
        container.close()
        raise _bad(path, "has no video stream (an audio file or a damaged video?)")
    vs = container.streams.video[0]
    if vs.codec_context is None or not vs.codec_context.name:
        container.close()
        raise _bad(path, "its video codec is not supported by this build of PyAV/FFmpeg: convert it to H.264 mp4")
    return container


def stream_fps(stream: Any, default: Fraction = Fraction(25)) -> Fraction:
    """The frame rate players use: average rate, else the guessed/base rate."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate > 0:
            return Fraction(rate)
    return default


def stream_duration(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def probe(path: str | os.PathLike) -> VideoInfo:
    """Describe a video without decoding it (cheap)."""
    path = Path(path)
    with open_video(path) as c:
        vs = c.streams.video[0]
        fps = stream_fps(vs)
        duration = stream_duration(c, vs)
        frames = int(vs.frames or 0)
        exact = frames > 0
        if not exact:
            frames = int(round(duration * float(fps)))
        cc = vs.codec_context
        info = VideoInfo(
            path=str(path),
            width=int(cc.width),
            height=int(cc.height),
            fps=fps,
            frames=frames,
            frames_exact=exact,
            duration=duration,
            codec=cc.name,
            pix_fmt=cc.pix_fmt,
            has_audio=bool(c.streams.audio),
            audio_tracks=len(c.streams.audio),
        )
        if c.streams.audio:
            a = c.streams.audio[0]
            info.audio_codec = a.codec_context.name
            info.audio_rate = int(a.codec_context.sample_rate or 0) or None
            info.audio_channels = int(a.codec_context.channels or 0) or None
        if info.width <= 0 or info.height <= 0:
            raise _bad(path, "the video stream has no picture size: the file is damaged")
        return info


def count_frames(path: str | os.PathLike) -> int:
    """Count frames by demuxing (no decoding): exact even when the header has no count."""
    with open_video(path) as c:
        vs = c.streams.video[0]
        n = 0
        try:
            for pkt in c.demux(vs):
                if pkt.size:
                    n += 1
        except av.error.FFmpegError as exc:
            raise _bad(Path(path), f"damaged after {n} frames ({exc})") from None
        return n


def container_format(path: Path) -> str:
    fmt = CONTAINER_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unsupported output type {path.suffix!r}; use .mp4, .mov or .mkv")
    return fmt


def resolve_in_workspace(ws: Any, value: str | None, default: Path) -> Path:
    """A user path: absolute as is, relative ones from the workspace (the job's folder)."""
    if not value:
        return default
    p = Path(os.path.expanduser(value))
    if not p.is_absolute():
        p = Path(ws.root) / p
    return p


def find_video(ws: Any, side: str) -> Path | None:
    """``data_<side>.mp4`` or another container with that stem, if there is one."""
    p = ws.video(side)
    return p if p.exists() else None
