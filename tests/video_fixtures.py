"""Short synthetic clips for the video tests (written with PyAV, a second or two long)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def clip_frame(i: int, w: int, h: int) -> np.ndarray:
    """A frame that changes every time (a moving bar and gradient), BGR uint8."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (x * 255 // max(1, w - 1)).astype(np.uint8)
    img[..., 1] = (y * 255 // max(1, h - 1)).astype(np.uint8)
    img[..., 2] = (i * 9) % 256
    bx = (i * 7) % max(1, w - 16)
    img[:, bx : bx + 16] = 255
    return img


def make_clip(path: Path, seconds: float = 1.0, fps: int | Fraction = 25, size: tuple[int, int] = (96, 64),
              audio: bool = True, audio_codec: str = "aac") -> Path:
    """Write a short H.264 mp4 (with a 440 Hz tone when ``audio``); returns ``path``."""
    w, h = size
    n = int(round(seconds * float(fps)))
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=Fraction(fps))
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "18"}
        a = None
        if audio:
            a = out.add_stream(audio_codec, rate=48000)
            a.layout = "stereo"
        for i in range(n):
            f = av.VideoFrame.from_ndarray(clip_frame(i, w, h), format="bgr24")
            f.pts = i
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        if a is not None:
            sr = 48000
            total = int(seconds * sr)
            t = np.arange(total) / sr
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, total, 1024):
                chunk = tone[start : start + 1024]
                fr = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
                fr.sample_rate = sr
                fr.pts = start
                for p in a.encode(fr):
                    out.mux(p)
            for p in a.encode(None):
                out.mux(p)
    return path


def video_stats(path: Path) -> dict:
    """Frames (decoded), fps, duration and audio of a video, measured by decoding it."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        n = sum(1 for _ in c.decode(vs))
        fps = float(vs.average_rate)
        has_audio = bool(c.streams.audio)
        meta = dict(c.metadata)
    with av.open(str(path)) as c:
        audio_s = 0.0
        if c.streams.audio:
            ast = c.streams.audio[0]
            samples = sum(f.samples for f in c.decode(ast))
            audio_s = samples / ast.codec_context.sample_rate
    return {"frames": n, "fps": fps, "audio": has_audio, "audio_seconds": audio_s, "metadata": meta,
            "width": vs.codec_context.width, "height": vs.codec_context.height}
