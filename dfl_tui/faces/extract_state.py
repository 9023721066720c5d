"""What extract-faces remembers between runs: the resume plan and the books.

``aligned/.extract.json`` lists the frames already done (with the face type, size
and format they were done with), so a re-run (after a stop, a crash or new frames)
does only the rest. A faceset without that file (made by DeepFaceLab) continues as
DeepFaceLab does: from the frame of the 128th-from-last face. Faces of frames that
are redone make way first (to the trash, never overwritten).

``aligned/.noface.json`` lists the frames where no face was found (and those that
could not be read), for manual extraction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DflError
from ..util.atomic import atomic_write_json, read_json
from ..workspace import list_images
from .options import BORDER_CHOICES, ExtractFacesOptions

STATE_FILE = ".extract.json"
BORDER_KEY = "crop_border"  # in each face's metadata: black | replicate (DeepFaceLab keeps keys it does not know)
NOFACE_FILE = ".noface.json"
CONTINUE_BACK = 128  # DeepFaceLab restarts at the frame of the 128th-from-last face


def frame_stem_of_face(face: Path) -> str:
    """``00042_1.jpg`` -> ``00042`` (the frame it came from, by DeepFaceLab's naming)."""
    stem = face.stem
    head, sep, tail = stem.rpartition("_")
    return head if sep and tail.isdigit() else stem


# What a state file written before a setting existed means: faces of dfl-tui before
# ``--border`` were cut with the frame's edge replicated.
_BEFORE = {"border": "replicate"}


def state_signature(o: ExtractFacesOptions) -> dict[str, Any]:
    """The settings a resumed run must share with the earlier one."""
    return {"face_type": o.face_type_enum.to_string(), "size": o.image_size, "format": o.format,
            "border": o.border}


def _describe(sig: dict[str, Any]) -> str:
    return f"{sig['face_type']} {sig['size']} px {sig['format']} (border {sig['border']})"


def extraction_border(aligned: Path) -> str:
    """How the faces of ``aligned`` were filled past the frame edge, for faces that do not say
    (:func:`face_border`): as extract-faces recorded it in the folder, ``replicate`` for dfl-tui
    faces made before that was recorded, else ``black`` (DeepFaceLab's)."""
    state = read_json(aligned / STATE_FILE, None)
    if isinstance(state, dict) and state.get("version") == 1:
        border = state.get("border", _BEFORE["border"])
        if border in BORDER_CHOICES:
            return str(border)
    return "black"


def face_border(meta: Any, folder_default: str = "black") -> str:
    """The fill one aligned face was cut with (its ``crop_border`` metadata, written at extraction),
    else ``folder_default`` (:func:`extraction_border`).

    Crops cut later from the same frame (the merger's model input, ``model predict``) use the
    same fill, so a model sees at merge time what it was trained on."""
    border = (getattr(meta, "extra", None) or {}).get(BORDER_KEY)
    return str(border) if border in BORDER_CHOICES else folder_default


@dataclass
class Plan:
    todo: list[Path]
    done: set[str]
    noface: set[str]
    redo_faces: list[Path]
    message: str

    @classmethod
    def fresh(cls, frames: list[Path]) -> "Plan":
        return cls(list(frames), set(), set(), [], "")


def _last_readable_meta(faces: list[Path]) -> Any:
    """The metadata of the last face that has readable metadata (a damaged one is passed over:
    extraction does not read it, and the job that does names it)."""
    from .dflimg import FaceFileError, read_meta

    for p in reversed(faces[-CONTINUE_BACK:]):
        try:
            return read_meta(p)
        except FaceFileError:
            continue
    return None


def plan_run(frames: list[Path], aligned: Path, o: ExtractFacesOptions) -> Plan:
    """Which frames to do, and which existing faces must make way (resume logic)."""
    faces = list_images(aligned)
    state = read_json(aligned / STATE_FILE, None)
    sig = state_signature(o)
    names = [p.name for p in frames]
    if not faces and not state:
        return Plan.fresh(frames)
    if isinstance(state, dict) and state.get("version") == 1:
        old = {k: state.get(k, _BEFORE.get(k)) for k in sig}
        if old != sig and not faces:  # nothing of the earlier run is left: start afresh
            return Plan.fresh(frames)
        if old != sig:
            raise DflError(
                f"{aligned} holds {len(faces)} faces extracted as {_describe(old)}, not {_describe(sig)}. "
                "Use --overwrite to move them to the trash and start again, or keep the earlier settings")
        done = set(state.get("done") or []) & set(names)
        noface = set(state.get("noface") or []) & done
        todo = [p for p in frames if p.name not in done]
        msg = f"continuing: {len(done)} of {len(frames)} frames were done before" if done else ""
    else:
        # A faceset without our state (DeepFaceLab's, or copied in): DeepFaceLab's rule.
        if len(faces) <= CONTINUE_BACK:
            raise DflError(
                f"{aligned} already holds {len(faces)} faces that this extraction did not make. "
                "Use --overwrite to move them to the trash and extract again, or move them elsewhere first")
        meta = _last_readable_meta(faces)
        if meta is not None and meta.face_type != sig["face_type"]:
            raise DflError(f"{aligned} holds {meta.face_type} faces, not {sig['face_type']}: use --overwrite "
                           "to move them to the trash and start again, or choose --face-type to match")
        ref_stem = frame_stem_of_face(faces[-CONTINUE_BACK])
        stems = [p.stem for p in frames]
        start = stems.index(ref_stem) if ref_stem in stems else 0
        done = set(names[:start])
        noface = set()
        todo = frames[start:]
        msg = (f"continuing DeepFaceLab-style from frame {frames[start].name if todo else '-'} "
               f"(the frame of the {CONTINUE_BACK}th-from-last face)")
    todo_stems = {p.stem for p in todo}
    redo = [f for f in faces if frame_stem_of_face(f) in todo_stems]
    return Plan(todo, done, noface, redo, msg)


class ExtractBooks:
    """Frames done, frames with no face, frames unreadable: kept by one thread, saved atomically."""

    def __init__(self, aligned: Path, frames_dir: Path, side: str, o: ExtractFacesOptions, plan: Plan) -> None:
        self.aligned = aligned
        self.frames_dir = frames_dir
        self.side = side
        self.state: dict[str, Any] = {"version": 1, "side": side, **state_signature(o), "detector": None,
                                      "done": sorted(plan.done), "noface": sorted(plan.noface), "unreadable": []}
        self.done: set[str] = set(plan.done)
        self.noface: set[str] = set(plan.noface)
        self.unreadable: list[str] = []

    def frame_done(self, name: str, faces: int) -> None:
        if faces:
            self.noface.discard(name)
        else:
            self.noface.add(name)
        self.done.add(name)

    def save(self, final: bool = False) -> None:
        """Write the resume state and the no-face list (``final``: fsync them)."""
        st = self.state
        st["done"] = sorted(self.done)
        st["noface"] = sorted(self.noface)
        st["unreadable"] = sorted(self.unreadable)
        st["updated"] = time.time()
        atomic_write_json(self.aligned / STATE_FILE, st, fsync=final)
        atomic_write_json(self.aligned / NOFACE_FILE, {"side": self.side, "frames_dir": str(self.frames_dir),
                                                       "frames": sorted(self.noface),
                                                       "unreadable": sorted(self.unreadable),
                                                       "updated": st["updated"]}, fsync=final)


def noface_frames(aligned: Path) -> list[str]:
    """Frames of a set where extraction found no face (for the manual re-extract flow)."""
    data = read_json(Path(aligned) / NOFACE_FILE, None) or {}
    return list(data.get("frames") or [])
