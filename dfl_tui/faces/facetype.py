"""DeepFaceLab's face types: how much of the head an aligned crop covers.

The integer values and stored strings are DeepFaceLab's, so files move both ways.
Light module: no numpy.
"""

from __future__ import annotations

from enum import IntEnum


class FaceType(IntEnum):
    HALF = 0
    MID_FULL = 1
    FULL = 2
    FULL_NO_ALIGN = 3
    WHOLE_FACE = 4
    HEAD = 10
    HEAD_NO_ALIGN = 20
    MARK_ONLY = 100

    def to_string(self) -> str:
        return _TO_STRING[self]

    @property
    def padding(self) -> float:
        return _PADDING[self]

    @property
    def no_align(self) -> bool:
        return self in (FaceType.FULL_NO_ALIGN, FaceType.HEAD_NO_ALIGN)

    @property
    def short(self) -> str:
        """The name used on dfl-tui's command line (``--face-type whole``)."""
        return _SHORT[self]

    @classmethod
    def from_string(cls, s: "str | int | FaceType") -> "FaceType":
        """Accept stored strings (``whole_face``), CLI names (``whole``), DFL prompt keys (``wf``) or ints."""
        if isinstance(s, FaceType):
            return s
        if isinstance(s, int):
            return cls(s)
        key = str(s).strip().lower().replace("-", "_").replace(" ", "_")
        if key in _FROM_STRING:
            return _FROM_STRING[key]
        raise ValueError(f"unknown face type {s!r}; use one of: {', '.join(CLI_CHOICES)}")


_TO_STRING = {
    FaceType.HALF: "half_face",
    FaceType.MID_FULL: "midfull_face",
    FaceType.FULL: "full_face",
    FaceType.FULL_NO_ALIGN: "full_face_no_align",
    FaceType.WHOLE_FACE: "whole_face",
    FaceType.HEAD: "head",
    FaceType.HEAD_NO_ALIGN: "head_no_align",
    FaceType.MARK_ONLY: "mark_only",
}
_SHORT = {
    FaceType.HALF: "half",
    FaceType.MID_FULL: "mid-full",
    FaceType.FULL: "full",
    FaceType.FULL_NO_ALIGN: "full-no-align",
    FaceType.WHOLE_FACE: "whole",
    FaceType.HEAD: "head",
    FaceType.HEAD_NO_ALIGN: "head-no-align",
    FaceType.MARK_ONLY: "mark-only",
}
_PADDING = {
    FaceType.HALF: 0.0,
    FaceType.MID_FULL: 0.0675,
    FaceType.FULL: 0.2109375,
    FaceType.FULL_NO_ALIGN: 0.2109375,
    FaceType.WHOLE_FACE: 0.40,
    FaceType.HEAD: 0.70,
    FaceType.HEAD_NO_ALIGN: 0.70,
    FaceType.MARK_ONLY: 0.0,
}
_FROM_STRING: dict[str, FaceType] = {}
for _ft, _s in _TO_STRING.items():
    _FROM_STRING[_s] = _ft
    _FROM_STRING[_SHORT[_ft].replace("-", "_")] = _ft
_FROM_STRING.update({"h": FaceType.HALF, "mf": FaceType.MID_FULL, "f": FaceType.FULL, "wf": FaceType.WHOLE_FACE,
                     "whole": FaceType.WHOLE_FACE, "midfull": FaceType.MID_FULL, "mid_full_face": FaceType.MID_FULL})

#: Choices for ``--face-type`` on the command line, in DeepFaceLab's order.
CLI_CHOICES = tuple(_SHORT[f] for f in FaceType)
