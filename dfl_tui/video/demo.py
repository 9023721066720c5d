"""Demo media: two short clips of real, public-domain faces that ship inside installed packages.

``data_src.mp4`` animates the Grace Hopper portrait (matplotlib's sample data),
``data_dst.mp4`` the astronaut Eileen Collins (scikit-image). Each frame is the
photo seen through a slowly moving virtual camera: rotation, scale, translation
and a little perspective (a hint of yaw), with drifting brightness, contrast and
colour temperature, so every later step (face extraction, sorting, training,
merging) has varied but consistent input. The frame is cropped around the face
so it stays fully in frame and large (about 200-250 px at 512). ``data_dst.mp4``
gets a soft, speech-like synthetic audio track so make-video has audio to carry.
Everything is seeded: the same options give the same frames.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import DflError
from ..faceset.trash import set_aside, undo_hint
from ..jobs.context import Reporter
from ..util.atomic import _fsync_dir
from .options import DemoOptions


@dataclass(frozen=True)
class Portrait:
    """A sample photo and where its face is (pixel centre, face box size), measured once by eye."""

    name: str
    center: tuple[float, float]
    face: float  # face box side in the photo, px
    crop: float  # side of the photo region that fills a frame, px

    def load(self) -> np.ndarray:
        """The photo as BGR uint8."""
        import cv2

        if self.name == "grace_hopper":
            from matplotlib import cbook

            path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise DflError(f"{path}: matplotlib's sample image could not be read; reinstall matplotlib")
            return img
        if self.name == "astronaut":
            from skimage import data

            return np.ascontiguousarray(data.astronaut()[:, :, ::-1])
        if self.name == "camera":
            from skimage import data

            return np.ascontiguousarray(np.repeat(data.camera()[:, :, None], 3, axis=2))
        raise ValueError(self.name)


# Grace Hopper (512x600): face about x 160-360, y 130-340. The astronaut (512x512): face about
# x 175-275, y 60-175 (90-110 px), so her frame is cropped tighter to make the face bigger.
GRACE_HOPPER = Portrait("grace_hopper", center=(258.0, 238.0), face=205.0, crop=430.0)
ASTRONAUT = Portrait("astronaut", center=(225.0, 120.0), face=110.0, crop=250.0)


class Drift:
    """A smooth, seeded signal in [-1, 1]: a sum of slow sines with random phases."""

    def __init__(self, rng: np.random.Generator, n: int = 3, lo: float = 0.08, hi: float = 0.45) -> None:
        self.freqs = rng.uniform(lo, hi, n)
        self.phases = rng.uniform(0, 2 * math.pi, n)
        self.amps = rng.uniform(0.5, 1.0, n)
        self.amps /= self.amps.sum()

    def __call__(self, t: float) -> float:
        return float(np.sum(self.amps * np.sin(2 * math.pi * self.freqs * t + self.phases)))


class Camera:
    """Head motion and light for one clip, as functions of time."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.roll = Drift(rng)  # in-plane rotation
        self.zoom = Drift(rng)
        self.tx, self.ty = Drift(rng), Drift(rng)
        self.yaw = Drift(rng, lo=0.1, hi=0.3)
        self.bright, self.contrast, self.warm = Drift(rng, lo=0.05, hi=0.2), Drift(rng, lo=0.05, hi=0.2), Drift(rng)

    def matrix(self, t: float, p: Portrait, size: int) -> np.ndarray:
        """3x3 homography from photo pixels to frame pixels at time ``t``."""
        s = size / p.crop * (1.0 + 0.07 * self.zoom(t))
        a = math.radians(9.0 * self.roll(t))
        cx, cy = p.center
        # Photo -> face-centred, rotated and scaled coordinates.
        to_center = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], np.float64)
        rot = np.array([[s * math.cos(a), -s * math.sin(a), 0], [s * math.sin(a), s * math.cos(a), 0], [0, 0, 1]])
        # A little yaw: points on one side come closer (bigger) than the other.
        k = 0.22 * self.yaw(t) / size
        persp = np.array([[1, 0, 0], [0, 1, 0], [k, 0, 1]], np.float64)
        shift = 0.05 * size
        to_frame = np.array([[1, 0, size / 2 + shift * self.tx(t)], [0, 1, size / 2 + shift * self.ty(t)], [0, 0, 1]])
        return to_frame @ persp @ rot @ to_center

    def light(self, img: np.ndarray, t: float) -> np.ndarray:
        """Brightness, contrast and colour temperature drift (BGR float in, uint8 out)."""
        c = 1.0 + 0.12 * self.contrast(t)
        b = 14.0 * self.bright(t)
        w = 0.07 * self.warm(t)  # >0: warmer (more red, less blue)
        out = (img - 128.0) * c + 128.0 + b
        out *= np.array([1.0 - w, 1.0, 1.0 + w], np.float32)
        return np.clip(out, 0, 255).astype(np.uint8)


def render_frames(p: Portrait, n: int, fps: float, size: int, seed: int) -> Iterator[np.ndarray]:
    """The clip's frames, BGR uint8 ``size`` x ``size``."""
    import cv2

    photo = p.load().astype(np.float32)
    cam = Camera(seed)
    for i in range(n):
        t = i / fps
        m = cam.matrix(t, p, size)
        frame = cv2.warpPerspective(photo, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
        yield cam.light(frame, t)


def face_box(p: Portrait, t: float, size: int, seed: int) -> tuple[float, float, float, float]:
    """Where the face is in the frame at time ``t`` (x0, y0, x1, y1): for tests and checks."""
    import cv2

    cam = Camera(seed)
    cx, cy = p.center
    h = p.face / 2
    pts = np.array([[[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h]]], np.float64)
    q = cv2.perspectiveTransform(pts, cam.matrix(t, p, size))[0]
    return float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max())


def speech_like_audio(seconds: float, rate: int = 48000, seed: int = 0) -> np.ndarray:
    """A soft chord with syllable-like swells and a gliding voice-like tone; float32 (2, samples)."""
    rng = np.random.default_rng(seed + 7)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 3
    # Syllables: 3-5 per second, each a smooth bump; a pause now and then.
    env = np.zeros(n)
    pos = 0.05
    while pos < seconds:
        dur = rng.uniform(0.12, 0.28)
        if rng.random() > 0.15:
            c = pos + dur / 2
            env += np.exp(-0.5 * ((t - c) / (dur / 4)) ** 2)
        pos += dur + rng.uniform(0.02, 0.12)
    pitch = 160 + 25 * np.sin(2 * np.pi * 0.7 * t) + 10 * np.sin(2 * np.pi * 2.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.25 * np.sin(3 * phase)
    fade = np.minimum(1.0, np.minimum(t / 0.2, (seconds - t) / 0.3).clip(0))
    mono = (0.12 * chord + 0.18 * voice * np.minimum(env, 1.0)) * fade
    left = mono
    right = np.roll(mono, int(0.0004 * rate))  # a hint of stereo width
    return np.stack([left, right]).astype(np.float32)


def write_clip(path: Path, frames: Iterator[np.ndarray], n: int, fps: int, size: int | tuple[int, int], *,
               audio: np.ndarray | None = None, audio_rate: int = 48000, reporter: Reporter | None = None,
               crf: int = 17) -> None:
    """Encode frames (and audio) to an H.264/AAC mp4 at ``path`` (the caller renames it into place)."""
    import av

    ctx = reporter or Reporter()
    tmp = path
    try:
        with av.open(str(tmp), "w", format="mp4") as out:
            vs = out.add_stream("libx264", rate=Fraction(fps))
            vs.width, vs.height = (size, size) if isinstance(size, int) else size
            vs.pix_fmt = "yuv420p"
            vs.options = {"crf": str(crf), "preset": "medium"}
            vs.thread_type = "AUTO"
            astream = None
            if audio is not None:
                astream = out.add_stream("aac", rate=audio_rate)
                astream.layout = "stereo"
                astream.bit_rate = 160_000
            a_pos = 0
            chunk = 1024
            for i, img in enumerate(frames):
                ctx.check_cancel()
                f = av.VideoFrame.from_ndarray(img, format="bgr24")
                f.pts = i
                for pkt in vs.encode(f):
                    out.mux(pkt)
                if astream is not None:  # interleave: audio up to this frame's end
                    until = min(audio.shape[1], int(round((i + 1) / fps * audio_rate)))
                    while a_pos < until:
                        part = np.ascontiguousarray(audio[:, a_pos : a_pos + chunk])
                        af = av.AudioFrame.from_ndarray(part, format="fltp", layout="stereo")
                        af.sample_rate = audio_rate
                        af.pts = a_pos
                        for pkt in astream.encode(af):
                            out.mux(pkt)
                        a_pos += part.shape[1]
                ctx.progress(i + 1, n)
            for pkt in vs.encode(None):
                out.mux(pkt)
            if astream is not None:
                for pkt in astream.encode(None):
                    out.mux(pkt)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run_demo(ctx: Reporter, o: DemoOptions) -> dict[str, Any]:
    ws = ctx.workspace
    ws.ensure()
    targets = {"src": ws.root / "data_src.mp4", "dst": ws.root / "data_dst.mp4"}
    existing = [p for p in targets.values() if p.exists()]
    from .demo_hard import REFERENCE_DIR, TRUTH_FILE

    if o.hard or (ws.root / TRUTH_FILE).exists():
        # the hard demo's own files count too: the truth and references of another clip must not stay
        # (a plain demo over a hard one; a reference/ folder of the user's own, without the truth, is left alone)
        existing += [p for p in (ws.root / TRUTH_FILE, ws.root / REFERENCE_DIR) if p.exists()]
    # Another container with the same stem (data_dst.mkv) would be picked over ours: count it too.
    others = [ws.video(s) for s in ("src", "dst") if ws.video(s).exists() and ws.video(s) not in targets.values()]
    if (existing or others) and not o.overwrite:
        names = ", ".join(p.name for p in existing + others)
        raise DflError(f"{names} already in {ws.root}: the demo does not replace your videos. "
                       "Use another workspace, or --overwrite (the old files go to .trash/)")
    set_aside(ws.root, existing + others, "demo --overwrite", ctx, displace="names",
              undo=undo_hint("src", ws.root))
    n = max(1, int(round(o.seconds * o.fps)))
    t0 = time.monotonic()
    # Both clips are written under hidden names and renamed together at the end, so a stopped
    # demo leaves neither (and a re-run does not find half of it).
    tmps = {k: p.with_name(f".{p.name}.{os.getpid()}.part") for k, p in targets.items()}
    try:
        ctx.stage("data_src.mp4 (Grace Hopper)", total=n, unit="frames")
        write_clip(tmps["src"], render_frames(GRACE_HOPPER, n, o.fps, o.size, o.seed), n, o.fps, o.size,
                   reporter=ctx)
        audio = speech_like_audio(n / o.fps, seed=o.seed)
        if o.hard:
            from .demo_hard import render_hard

            ctx.stage("data_dst.mp4 (the astronaut and the cameraman: occlusion, blur, profile, a cut)", total=n,
                      unit="frames")
            write_clip(tmps["dst"], render_hard(n, o.fps, o.size, o.seed + 1), n, o.fps, hard_size(o.size), audio=audio,
                       reporter=ctx)
        else:
            ctx.stage("data_dst.mp4 (the astronaut, with audio)", total=n, unit="frames")
            write_clip(tmps["dst"], render_frames(ASTRONAUT, n, o.fps, o.size, o.seed + 1), n, o.fps, o.size,
                       audio=audio, reporter=ctx)
        for k in ("src", "dst"):
            os.replace(tmps[k], targets[k])
        _fsync_dir(ws.root)
    finally:
        for t in tmps.values():
            t.unlink(missing_ok=True)
    res = {"data_src": str(targets["src"]), "data_dst": str(targets["dst"]), "frames": n, "fps": o.fps,
           "seconds": round(n / o.fps, 3), "size": o.size}
    if o.hard:
        res.update(_hard_extras(ws.root, n, o, ctx))
    elapsed = time.monotonic() - t0
    ctx.log(f"wrote {targets['src'].name} and {targets['dst'].name}: {n} frames each, {o.fps} fps, "
            f"{o.size}x{o.size}" + (f" (dst {'x'.join(map(str, hard_size(o.size)))})" if o.hard else "")
            + f", in {elapsed:.1f} s. Next: dfl-tui extract-frames src")
    return res


def hard_size(size: int) -> tuple[int, int]:
    """The hard demo's dst frame: two square tiles side by side."""
    tile = size // 2 - (size // 2) % 2
    return 2 * tile, tile


def _hard_extras(root: Path, n: int, o: DemoOptions, ctx: Reporter) -> dict[str, Any]:
    """The hard demo's ground truth and reference faces."""
    from ..util.atomic import atomic_write_json
    from .demo_hard import REFERENCE_DIR, TRUTH_FILE, truth, write_references

    ctx.stage("reference faces and ground truth", total=None)
    t = truth(n, o.fps, o.size, o.seed + 1)
    refs = write_references(root, n, o.fps, o.size, o.seed + 1, ctx)
    t["references"] = [str(p.relative_to(root)) for p in refs]
    atomic_write_json(root / TRUTH_FILE, t, indent=1)
    ctx.log(f"demo --hard: {root / TRUTH_FILE} (who is where, per frame) and {len(refs)} reference face(s) in "
            f"{root / REFERENCE_DIR}/. Keep only the astronaut: dfl-tui extract-faces dst --reference "
            f"{REFERENCE_DIR}")
    return {"truth": str(root / TRUTH_FILE), "references": [str(p) for p in refs]}
