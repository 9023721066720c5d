"""What the reviewer shows of one face: the face (with landmarks or mask), its source frame (with the
face's box and landmarks), and the lines of facts beside it. Runs in thread workers; returns RGB
arrays for :class:`~dfl_tui.tui.widgets.picture.Picture`, which draws them with the session's graphics.

Overlays are drawn *after* scaling to the size they will be shown at, so a landmark is a visible dot
on a 64-pixel half-block preview and a fine one on a 512-pixel kitty picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text

FRAME_EXTS = (".jpg", ".png", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass
class PreviewResult:
    name: str
    rgb: Any  # H x W x 3 uint8, or None (error)
    info: Text
    frame: Any = None  # the source frame (side-by-side view), or None
    notes: list[str] = field(default_factory=list)


def find_source_frame(meta: Any, dirs: list[Path | None]) -> Path | None:
    """The frame a face was cut from: ``source_filename`` in the first of ``dirs`` that has it
    (under its own name or its stem with an image extension)."""
    if meta is None or not meta.source_filename:
        return None
    stem = Path(meta.source_filename).stem
    for d in dirs:
        if d is None or not d.is_dir():
            continue
        for c in [d / meta.source_filename] + [d / f"{stem}{e}" for e in FRAME_EXTS]:
            if c.is_file():
                return c
    return None


def _scale_to(img: Any, box: tuple[int, int]) -> tuple[Any, float]:
    import cv2

    h, w = img.shape[:2]
    s = min(box[0] / w, box[1] / h, 1.0)  # never more pixels than there are: the Picture scales up for free
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    if (nw, nh) == (w, h):
        return img.copy(), 1.0
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR), s


def draw_landmarks(img: Any, pts: Any, scale: float, color: tuple[int, int, int] = (0, 255, 0)) -> None:
    """68 points as dots (radius grows with the picture), joined along the jaw, brows, nose, eyes, mouth (BGR)."""
    import cv2
    import numpy as np

    p = np.round(np.asarray(pts, np.float32) * scale).astype(np.int32)
    r = max(1, img.shape[1] // 160)
    if img.shape[1] >= 96:
        for a, b in ((0, 17), (17, 22), (22, 27), (27, 31), (31, 36), (36, 42), (42, 48), (48, 60), (60, 68)):
            closed = a >= 36
            cv2.polylines(img, [p[a:b].reshape(-1, 1, 2)], closed, (0, 160, 0), max(1, r // 2), cv2.LINE_AA)
    for x, y in p:
        if 0 <= x < img.shape[1] and 0 <= y < img.shape[0]:
            if r <= 1:
                img[y, x] = color
            else:
                cv2.circle(img, (int(x), int(y)), r, color, -1, cv2.LINE_AA)


def face_facts(path: Path, img: Any, meta: Any, tag: str | None, F: Any, meta_error: str | None = None) -> Text:
    import numpy as np

    info = Text()
    info.append(f"{path.name}", style="bold")
    info.append(f"  {img.shape[1]}x{img.shape[0]}\n")
    if tag:
        info.append(f"tag: {tag}\n")
    if meta is not None:
        info.append(f"{meta.face_type}  from {meta.source_filename or '?'}\n")
        if meta.landmarks is not None and len(meta.landmarks) == 68:
            with np.errstate(all="ignore"):
                try:
                    pitch, yaw = F.pose(meta, img.shape[1])
                    info.append(f"yaw {math.degrees(yaw):+.0f}°  pitch {math.degrees(pitch):+.0f}°\n")
                except Exception:  # noqa: BLE001 - odd landmarks: no pose line
                    pass
        if meta.xseg_mask_buf is not None or meta.has_polys():
            info.append("mask: " + ("XSeg " if meta.xseg_mask_buf is not None else "")
                        + ("polygons" if meta.has_polys() else "") + "\n")
    else:
        info.append(f"{meta_error}\n" if meta_error else "no face metadata\n", style="red" if meta_error else "dim")
    return info


def render_preview(path: Path, box: tuple[int, int], *, landmarks: bool, mask: bool, source: bool,
                   frames_dir: Path | None, debug_dir: Path | None, tag: str | None,
                   side_by_side: bool = False, frame_box: tuple[int, int] | None = None) -> PreviewResult:
    """The face at ``box`` pixels (w, h) with the overlays asked for; ``source``: its source frame instead
    (the reviewer's ``F``, and always for ``aligned_debug``); ``side_by_side``: the face *and* the frame
    (``frame_box``) with the face's box and landmarks drawn on the frame."""
    import cv2
    import numpy as np

    from ...faceset import features as F

    data = F.read_bytes(path)
    img = F.decode(data, str(path))
    meta_error = None
    try:
        meta = F.try_meta(data, str(path))
    except F.FaceFileError as exc:  # damaged metadata: the picture is still shown, with why
        meta, meta_error = None, str(exc)
    info = face_facts(path, img, meta, tag, F, meta_error)
    shown = "face"
    lm = None if meta is None or meta.landmarks is None else np.asarray(meta.landmarks, np.float32)
    frame_img = None
    if source or side_by_side:
        found = find_source_frame(meta, [frames_dir, debug_dir] if side_by_side else [debug_dir, frames_dir])
        frame = cv2.imread(str(found), cv2.IMREAD_COLOR) if found is not None else None
        if frame is None:
            info.append("source frame not found" + (f" ({meta.source_filename})" if meta and meta.source_filename
                                                     else "") + "\n", style="dim")
        else:
            from_frames = found.parent == frames_dir
            fb = frame_box if side_by_side and frame_box else box
            small, s = _scale_to(frame, fb)
            if from_frames and meta is not None:
                if meta.source_rect is not None:
                    l, t, r, b = [int(round(v * s)) for v in meta.source_rect[:4]]
                    cv2.rectangle(small, (l, t), (r, b), (0, 0, 255), max(1, small.shape[1] // 250), cv2.LINE_AA)
                if meta.source_landmarks is not None:
                    draw_landmarks(small, meta.source_landmarks, s)
            label = f"{found.parent.name}/{found.name}"
            if side_by_side:
                frame_img = small[..., ::-1]
                info.append(f"right: {label}" + (" + box + landmarks" if from_frames and meta else "") + "\n",
                            style="dim")
            else:
                info.append(f"source frame {label}", style="dim")
                return PreviewResult(path.name, small[..., ::-1], info)
    if mask and meta is not None:
        m = meta.get_xseg_mask()
        if m is None and lm is not None:
            m = F.hull_mask(img.shape, meta)
            m = None if m is None else m.astype(np.float32)
        if m is not None:
            m = cv2.resize(m.astype(np.float32), (img.shape[1], img.shape[0]))[..., None]
            tint = np.array([0, 80, 255], np.float32)  # BGR: orange
            img = (img * (1 - 0.45 * m) + tint * 0.45 * m).astype(np.uint8)
            shown = "face + mask"
    small, s = _scale_to(img, box)
    if (landmarks or side_by_side) and lm is not None:
        draw_landmarks(small, lm, s)
        shown += " + landmarks"
    info.append(shown, style="dim")
    return PreviewResult(path.name, small[..., ::-1], info, frame=frame_img)


def image_names(folder: Path) -> list[str]:
    """Names of the images directly in ``folder``, sorted (like ``list_images`` but without 50,000 Path objects)."""
    import os

    from ...workspace import IMAGE_EXTS

    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if not e.name.startswith(".")
                     and os.path.splitext(e.name)[1].lower() in IMAGE_EXTS and e.is_file()]
    except OSError:
        return []
    names.sort()
    return names
