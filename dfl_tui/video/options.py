"""Options of the video steps and the demo (light: no numpy, cv2 or av here).

Paths typed by the user are made absolute against the current folder when
they exist there (the job runs with the workspace as its folder); other
relative paths are taken relative to the workspace by the step.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..options import OptionError, opt

SIDE_CHOICES = ("src", "dst")

_TIME_RE = re.compile(r"^\s*(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d*)?)\s*$")


def parse_time(text: str) -> float | None:
    """``HH:MM:SS.mmm``, ``MM:SS.mmm`` or seconds -> seconds; empty -> None."""
    if text is None or str(text).strip() == "":
        return None
    m = _TIME_RE.match(str(text))
    if not m:
        raise OptionError(f"time {text!r}: use HH:MM:SS.mmm (e.g. 00:01:02.500) or seconds")
    a, b, c = m.groups()
    if a is not None and b is not None:
        h, mnt = int(a), int(b)
    elif a is not None:
        h, mnt = 0, int(a)
    else:
        h, mnt = 0, 0
    sec = float(c)
    if mnt >= 60 and h:
        raise OptionError(f"time {text!r}: minutes must be below 60")
    return h * 3600 + mnt * 60 + sec


def format_time(sec: float) -> str:
    ms = int(round(sec * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def user_path(value: str | None) -> str | None:
    """Absolute when the path exists from the current folder; else left for the step to resolve."""
    if not value:
        return value
    p = os.path.expanduser(value)
    if not os.path.isabs(p) and os.path.exists(p):
        p = os.path.abspath(p)
    return p


def user_out_path(value: str | None) -> str | None:
    """An output path: relative to the current folder when its parent folder exists there."""
    if not value:
        return value
    p = os.path.expanduser(value)
    if not os.path.isabs(p) and os.path.isdir(os.path.dirname(p) or "."):
        p = os.path.abspath(p)
    return p


@dataclass
class DemoOptions:
    seconds: float = opt(6.0, "length of each demo clip in seconds", min=0.5, max=300)
    fps: int = opt(25, "frames per second of the demo clips", min=1, max=120)
    size: int = opt(512, "frame width and height in pixels (even)", min=128, max=2048)
    seed: int = opt(0, "random seed of the synthetic motion (same seed: same videos)", advanced=True)
    overwrite: bool = opt(False, "replace existing data_src.mp4 / data_dst.mp4 (the old ones go to .trash/)")
    hard: bool = opt(False, "a harder data_dst.mp4: two people (the astronaut to keep, the cameraman), occlusion, "
                     "motion blur, a near-profile stretch and a scene cut, size x size/2; also writes reference/ "
                     "(faces of the astronaut) and data_dst_truth.json (who is where, per frame)")

    def check(self) -> None:
        if int(self.size) % 2:
            raise OptionError(f"size: {self.size} must be even (H.264 with 4:2:0 colour needs even sizes)")


@dataclass
class ExtractFramesOptions:
    side: str = opt("src", "which video: src (data_src.mp4) or dst (data_dst.mp4)", choices=SIDE_CHOICES,
                    positional=True)
    fps: float = opt(0.0, "frames per second to extract; 0 = every frame of the video", min=0, max=240)
    format: str = opt("png", "image format of the frames (png: lossless; jpg: smaller)", choices=("png", "jpg"))
    jpeg_quality: int = opt(95, "JPEG quality when --format jpg (100 = best)", min=1, max=100)
    video: str | None = opt(None, "read this video instead of data_<side>.* in the workspace", advanced=True)

    def check(self) -> None:
        self.video = user_path(self.video)


@dataclass
class CutVideoOptions:
    file: str = opt("data_src.mp4", "the video to cut (a path, or a file name in the workspace)", positional=True)
    from_time: str = opt("", "start time HH:MM:SS.mmm (empty: the beginning)", flag="--from", label="from")
    to_time: str = opt("", "end time HH:MM:SS.mmm, not included (empty: the end)", flag="--to", label="to")
    audio_track: int = opt(0, "audio track to keep (0 = the first; -1 = no audio)", min=-1, max=63)
    bitrate: float = opt(25.0, "video bitrate in Mbit/s (DeepFaceLab calls it MB/s)", min=0.1, max=1000)
    out: str | None = opt(None, "output file", unset="<name>_cut.mp4 beside the input", advanced=True)

    def check(self) -> None:
        self.file = user_path(self.file) or ""
        self.out = user_out_path(self.out)
        if not self.file:
            raise OptionError("file: give the video to cut")
        start, end = parse_time(self.from_time), parse_time(self.to_time)
        if start is not None and end is not None and end <= start:
            raise OptionError(f"--to {self.to_time} must be after --from {self.from_time}")


@dataclass
class DenoiseOptions:
    side: str = opt("dst", "which frames: src (data_src/) or dst (data_dst/)", choices=SIDE_CHOICES, positional=True)
    factor: int = opt(7, "denoise strength (like DeepFaceLab's hqdn3d factor)", min=1, max=20)
    undo: bool = opt(False, "put back the frames from before the last denoise (kept in the folder's .trash/)")
    folder: str | None = opt(None, "denoise this folder instead of data_<side>/", advanced=True)

    def check(self) -> None:
        self.folder = user_path(self.folder)


@dataclass
class MakeVideoOptions:
    from_dir: str | None = opt(None, "folder of frames", flag="--from", unset="data_dst/merged")
    out: str | None = opt(None, "video to write", unset="result.mp4 in the workspace")
    crf: int = opt(18, "H.264 quality: 0 = lossless ... 51 = worst; 18 looks lossless", min=0, max=51)
    bitrate: float | None = opt(None, "video bitrate in Mbit/s instead of --crf (DeepFaceLab: 16)", min=0.1, max=1000)
    lossless: bool = opt(False, "lossless H.264 (much bigger files)")
    fps: float | None = opt(None, "frames per second", min=0.1, max=240, unset="the reference video's, else 25")
    audio: bool = opt(True, "copy the reference video's audio into the result")
    reference: str | None = opt(None, "video giving fps and audio", advanced=True, unset="data_dst.*")
    mask: bool = opt(True, "also make result_mask.mp4 from data_dst/merged_mask when it is there", advanced=True)

    def check(self) -> None:
        self.from_dir = user_path(self.from_dir)
        self.out = user_out_path(self.out)
        self.reference = user_path(self.reference)
        if self.lossless and self.bitrate is not None:
            raise OptionError("--lossless and --bitrate exclude each other")
        if self.out and os.path.splitext(self.out)[1].lower() not in (".mp4", ".m4v", ".mov", ".mkv"):
            raise OptionError(f"--out {self.out}: use a .mp4, .mov or .mkv file name")
