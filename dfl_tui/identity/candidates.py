"""Faces to pick a reference from: the faces of a side's first frames (the TUI's reference picker).

When the set is already extracted, its faces of the first frames that have faces are the candidates
(nothing runs). Otherwise the hidden ``reference-candidates`` job finds and aligns the faces of the
first frames into ``data_<side>/reference_candidates/``. The picked ones are copied into
``data_<side>/reference/``, which becomes ``extract-faces --reference``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..options import opt

CANDIDATES_DIR = "reference_candidates"
PICKED_DIR = "reference"
SIDE_CHOICES = ("src", "dst")


@dataclass
class CandidatesOptions:
    side: str = opt("dst", "which frames: src or dst", choices=SIDE_CHOICES, positional=True)
    frames: int = opt(10, "how many of the first frames to look in", min=1, max=1000)


def aligned_candidates(aligned: Path, frames: int = 10) -> list[Path]:
    """The faces of ``aligned`` from its first ``frames`` frames that have faces."""
    from ..faces.extract_state import frame_stem_of_face
    from ..workspace import list_images

    faces = list_images(aligned)
    stems = sorted({frame_stem_of_face(p) for p in faces})[:frames]
    keep = set(stems)
    return [p for p in faces if frame_stem_of_face(p) in keep]


def run_candidates(ctx: Any, o: CandidatesOptions) -> dict[str, Any]:
    """Detect and align the faces of the first frames into ``data_<side>/reference_candidates/``."""
    from ..errors import InputError
    from ..faces.detect import create_backend, resolve_detector
    from ..faces.detect.base import find_faces
    from ..faces.extract import read_frame
    from ..faces.face_writer import FaceWriter
    from ..faces.facetype import FaceType
    from ..faceset.trash import set_aside
    from ..workspace import list_images

    ws = ctx.workspace
    frames = list_images(ws.frames(o.side))[: o.frames]
    if not frames:
        raise InputError(f"no frames in {ws.frames(o.side)}: run 'dfl-tui extract-frames {o.side}' first")
    out = ws.frames(o.side) / CANDIDATES_DIR
    out.mkdir(parents=True, exist_ok=True)
    set_aside(out, list_images(out), "reference candidates again", ctx)
    name, why = resolve_detector("auto")
    ctx.log(f"detector: {why}")
    backend = create_backend(name)
    writer = FaceWriter(out, None, FaceType.WHOLE_FACE, 256, "jpg", 95)
    ctx.stage("faces of the first frames", len(frames), "frames")
    n = 0
    try:
        for i, p in enumerate(frames):
            img = read_frame(p)
            if img is not None:
                names, _ = writer.write(p, img, find_faces(backend, [img])[0])
                n += len(names)
            ctx.progress(i + 1, len(frames))
            ctx.check_cancel()
    finally:
        backend.close()
    ctx.log(f"{n} face(s) from the first {len(frames)} frames in {out}")
    return {"folder": str(out), "faces": n}


def save_picked(folder: Path, picked: list[Path]) -> Path:
    """Copy the picked faces into ``folder`` (earlier picks go to its trash); returns ``folder``."""
    from ..faceset.trash import set_aside
    from ..workspace import list_images

    folder.mkdir(parents=True, exist_ok=True)
    set_aside(folder, list_images(folder), "reference picked again")
    for p in picked:
        shutil.copy2(p, folder / p.name)
    return folder
