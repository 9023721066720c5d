"""The audio track of a reference video, cut to a time range and fed to an output video.

Packets are produced on demand up to a time, so audio and video are
interleaved in the output as they are encoded. AAC is copied packet by packet
when the range starts at 0 (make-video); otherwise the audio is decoded,
trimmed to the sample and encoded to AAC 192 kbit/s 48 kHz (DeepFaceLab's
choice). Audio past ``end`` is dropped, so the result is as long as its video.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import av
import numpy as np

from ..errors import InputError
from ..jobs.context import Reporter

AUDIO_BITRATE = 192_000
AUDIO_RATE = 48_000
COPY_AUDIO_CODECS = {"aac"}  # what mp4/mov/mkv take as is


def slice_audio(frame: Any, a: int, b: int) -> Any:
    """Samples ``a:b`` of an audio frame, as a new frame."""
    arr = frame.to_ndarray()
    if frame.format.is_planar:
        arr = arr[:, a:b]
    else:
        ch = len(frame.layout.channels)
        arr = arr[:, a * ch : b * ch]
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=frame.format.name, layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    return out


class AudioSource:
    """Audio of ``ref_path`` (track ``track``) between ``start`` and ``end`` seconds, for ``output``."""

    def __init__(self, output: Any, ref_path: Path, *, start: float = 0.0, end: float = math.inf, track: int = 0,
                 copy: bool = True, reporter: Reporter | None = None) -> None:
        self.ctx = reporter or Reporter()
        self.path = Path(ref_path)
        self.start, self.end = float(start), float(end)
        self.input = av.open(str(ref_path), "r")
        if track >= len(self.input.streams.audio):
            n = len(self.input.streams.audio)
            self.input.close()
            raise InputError(f"{ref_path}: has no audio track {track} (it has {n}; the first is 0)")
        self.in_stream = self.input.streams.audio[track]
        self.zero = (self.input.start_time or 0) / 1_000_000  # seconds: time 0 as players show it
        codec = self.in_stream.codec_context.name
        self.copy = copy and codec in COPY_AUDIO_CODECS and self.start == 0.0
        if self.copy:
            self.out_stream = output.add_stream_from_template(self.in_stream)
            self.mode = "copied"
        else:
            self.out_stream = output.add_stream("aac", rate=AUDIO_RATE)
            self.out_stream.bit_rate = AUDIO_BITRATE
            self.out_stream.layout = "stereo"
            self.mode = "aac"
        self._iter = self._packets()
        self._pending: tuple[float, Any] | None = None
        self._last_t = 0.0
        self.done = False

    # -- producing packets ------------------------------------------------------------
    def _packets(self) -> Iterator[tuple[float, Any]]:
        if self.copy:
            tb = self.in_stream.time_base
            for pkt in self.input.demux(self.in_stream):
                if pkt.dts is None or pkt.pts is None:
                    continue
                t = float(pkt.pts * tb) - self.zero
                if t >= self.end:
                    break
                pkt.stream = self.out_stream
                yield t, pkt
            return
        if self.start > 0:
            tb = self.in_stream.time_base
            target = int((self.start + self.zero) / tb)
            self.input.seek(target, stream=self.in_stream, backward=True, any_frame=False)
        length = self.end - self.start
        limit: int | None = None
        sent = 0  # samples passed to the encoder
        sr = 0
        for frame in self.input.decode(self.in_stream):
            if limit is None:
                sr = frame.sample_rate
                limit = int(round(length * sr)) if math.isfinite(length) else None
            n = frame.samples
            ft = (frame.time - self.zero) if frame.time is not None else self.start + sent / sr
            a = max(0, int(round((self.start - ft) * sr)))
            if a >= n:
                continue
            b = n if limit is None else min(n, a + (limit - sent))
            if b <= a:
                break
            if a or b != n:
                frame = slice_audio(frame, a, b)
            frame.pts = None
            t = sent / sr
            sent += b - a
            for pkt in self.out_stream.encode(frame):
                yield t, pkt
            if limit is not None and sent >= limit:
                break
        for pkt in self.out_stream.encode(None):
            yield math.inf, pkt

    def mux_until(self, output: Any, t: float) -> None:
        """Write every audio packet that starts before ``t`` seconds of output time."""
        while not self.done:
            if self._pending is None:
                try:
                    self._pending = next(self._iter)
                except StopIteration:
                    self.done = True
                    return
                except av.error.FFmpegError as exc:
                    self.ctx.warn(f"{self.path}: the audio is damaged after {self._last_t:.1f} s ({exc}); "
                                  "the rest of the video has no sound")
                    self.done = True
                    return
            at, pkt = self._pending
            if at > t:
                return
            output.mux(pkt)
            if math.isfinite(at):
                self._last_t = at
            self._pending = None

    def close(self) -> None:
        self.input.close()
