"""XSeg labels: include/exclude polygons on an aligned face, their editing, and the baked mask.

The polygons live in the face file's metadata (``seg_ie_polys``) in face-image
pixels, exactly where DeepFaceLab's editor keeps them, so labels move between the
two tools. Baking follows DeepFaceLab (§5.1): every *include* polygon is filled
first, then every *exclude* polygon is cut out, so an exclude always wins over an
include whatever order they were drawn in.

:class:`LabelEditor` is the editor's model without any UI: the modes of
DeepFaceLab's editor (none / drawing / editing), hit tests, every edit as a method,
and undo/redo by snapshots. The terminal screen only maps mouse and keys onto it,
which is what lets the tests drive the logic directly as well as through Textual.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

INCLUDE, EXCLUDE = 1, 0
TYPE_NAMES = {INCLUDE: "include", EXCLUDE: "exclude"}

# Modes of the editor (DeepFaceLab's NONE / DRAW_PTS / EDIT_PTS).
MODE_NONE, MODE_DRAW, MODE_EDIT = "none", "draw", "edit"


@dataclass
class Poly:
    """One polygon: ``type`` 1 = include, 0 = exclude; ``pts`` N x 2 float32 in face pixels."""

    type: int
    pts: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))

    def __post_init__(self) -> None:
        self.type = INCLUDE if int(self.type) == INCLUDE else EXCLUDE
        self.pts = np.asarray(self.pts, np.float32).reshape(-1, 2)

    @property
    def n(self) -> int:
        return len(self.pts)

    def copy(self) -> "Poly":
        return Poly(self.type, self.pts.copy())

    def to_meta(self) -> dict[str, Any]:
        return {"type": int(self.type), "pts": self.pts.astype(np.float32).copy()}


def polys_from_meta(items: Iterable[dict[str, Any]] | None) -> list[Poly]:
    """Polygons from :attr:`FaceMeta.seg_ie_polys` (already normalised by dflimg)."""
    return [Poly(int(p["type"]), p["pts"]) for p in (items or [])]


def polys_to_meta(polys: Iterable[Poly]) -> list[dict[str, Any]] | None:
    """What :attr:`FaceMeta.seg_ie_polys` stores; polygons under 3 points are dropped (they bake to nothing)."""
    out = [p.to_meta() for p in polys if p.n >= 3]
    return out or None


def has_labels(polys: Iterable[Poly]) -> bool:
    return any(p.n >= 3 for p in polys)


# ---------------------------------------------------------------------------
# Baking
# ---------------------------------------------------------------------------

_SHIFT = 4  # cv2.fillPoly sub-pixel bits: vertices are placed to 1/16 px


def rasterize(polys: Iterable[Poly | dict[str, Any]], shape: Sequence[int], scale: float = 1.0) -> np.ndarray:
    """The baked mask, HxW float32 in {0, 1}: includes filled first, then excludes cut out.

    ``scale`` maps polygon coordinates to the output (e.g. 256/512 for a 256 px mask of a
    512 px face). Pixel centres are at integer coordinates, as in OpenCV.
    """
    import cv2

    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), np.float32)
    items = [p if isinstance(p, Poly) else Poly(int(p["type"]), p["pts"]) for p in polys]
    for wanted in (INCLUDE, EXCLUDE):  # order matters: exclude wins
        for p in items:
            if p.type != wanted or p.n < 3:
                continue
            pts = np.round(p.pts.astype(np.float64) * scale * (1 << _SHIFT)).astype(np.int32)
            cv2.fillPoly(mask, [pts.reshape(-1, 1, 2)], (1.0 if wanted == INCLUDE else 0.0,), cv2.LINE_8, _SHIFT)
    return mask


def face_mask_from_meta(meta: Any, shape: Sequence[int], prefer: str = "auto") -> np.ndarray | None:
    """A face's mask at ``shape``: the trained XSeg mask or the baked labels (``prefer`` auto|xseg|labels)."""
    import cv2

    h, w = int(shape[0]), int(shape[1])
    if prefer in ("auto", "xseg"):
        m = meta.get_xseg_mask()
        if m is not None:
            if m.shape[:2] != (h, w):
                m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
            return np.clip(m, 0, 1).astype(np.float32)
        if prefer == "xseg":
            return None
    polys = polys_from_meta(meta.seg_ie_polys)
    if has_labels(polys):
        return rasterize(polys, (h, w))
    return None


# ---------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------


def _dist_point_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Distance from ``p`` to segment ab and the position t in [0, 1] of the closest point."""
    ab = b - a
    denom = float(ab @ ab)
    t = 0.0 if denom == 0 else float(np.clip((p - a) @ ab / denom, 0.0, 1.0))
    q = a + t * ab
    return float(np.hypot(*(p - q))), t


def point_in_poly(pt: Sequence[float], pts: np.ndarray) -> bool:
    """Even-odd rule test (no cv2 needed)."""
    x, y = float(pt[0]), float(pt[1])
    inside = False
    n = len(pts)
    for i in range(n):
        x1, y1 = pts[i]
        x2, y2 = pts[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xc:
                inside = not inside
    return inside


# ---------------------------------------------------------------------------
# The editor's model
# ---------------------------------------------------------------------------


@dataclass
class Hit:
    poly: int
    vertex: int | None = None  # a point hit
    edge: int | None = None  # an edge hit: between vertex ``edge`` and ``edge + 1``
    t: float = 0.0  # where on the edge
    dist: float = 0.0


class LabelEditor:
    """Polygons of one face and every edit on them, with undo/redo.

    Coordinates are face-image pixels (floats). ``radius`` is the hit-test distance
    in those pixels; the screen sets it from its zoom so "near" means the same number
    of terminal cells at every zoom.
    """

    UNDO_LIMIT = 500

    def __init__(self, polys: Iterable[Poly] | None = None, size: tuple[int, int] = (256, 256)) -> None:
        self.polys: list[Poly] = [p.copy() for p in (polys or [])]
        self.size = (int(size[0]), int(size[1]))  # (h, w) of the face image
        self.mode = MODE_NONE
        self.current_type = INCLUDE
        self.active: int | None = None  # the polygon being drawn or edited
        self.selected_vertex: int | None = None
        self.radius = 6.0
        self._undo: list[tuple[list[Poly], int | None, str]] = []
        self._redo: list[tuple[list[Poly], int | None, str]] = []
        self._drag_started = False
        self.dirty = False

    # -- state -------------------------------------------------------------------
    def load(self, polys: Iterable[Poly], size: tuple[int, int]) -> None:
        """Start on another face: its polygons, empty history, not dirty."""
        self.__init__(polys, size)  # type: ignore[misc]

    def to_meta(self) -> list[dict[str, Any]] | None:
        return polys_to_meta(self.polys)

    def mask(self, shape: Sequence[int] | None = None) -> np.ndarray:
        return rasterize(self.polys, shape or self.size, 1.0 if shape is None else shape[0] / self.size[0])

    def counts(self) -> tuple[int, int]:
        inc = sum(1 for p in self.polys if p.type == INCLUDE and p.n >= 3)
        exc = sum(1 for p in self.polys if p.type == EXCLUDE and p.n >= 3)
        return inc, exc

    def _clamp(self, pt: Sequence[float]) -> np.ndarray:
        h, w = self.size
        return np.array([min(max(float(pt[0]), 0.0), w - 1.0), min(max(float(pt[1]), 0.0), h - 1.0)], np.float32)

    # -- undo ------------------------------------------------------------------------
    def _snapshot(self, what: str) -> None:
        self._undo.append(([p.copy() for p in self.polys], self.active, what))
        if len(self._undo) > self.UNDO_LIMIT:
            del self._undo[0]
        self._redo.clear()
        self.dirty = True

    def _restore(self, snap: tuple[list[Poly], int | None, str]) -> None:
        polys, active, _ = snap
        self.polys = [p.copy() for p in polys]
        self.active = active if active is not None and active < len(self.polys) else None
        self.selected_vertex = None
        if self.active is None:
            self.mode = MODE_NONE
        elif self.mode == MODE_DRAW and self.polys[self.active].n == 0:
            self.mode = MODE_NONE
        self.dirty = True

    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> str | None:
        """Undo the last edit; returns what it was (for the status line)."""
        if not self._undo:
            return None
        snap = self._undo.pop()
        self._redo.append(([p.copy() for p in self.polys], self.active, snap[2]))
        self._restore(snap)
        return snap[2]

    def redo(self) -> str | None:
        if not self._redo:
            return None
        snap = self._redo.pop()
        self._undo.append(([p.copy() for p in self.polys], self.active, snap[2]))
        self._restore(snap)
        return snap[2]

    # -- hit tests ---------------------------------------------------------------------
    def hit_vertex(self, pt: Sequence[float], only: int | None = None) -> Hit | None:
        p = np.asarray(pt, np.float32)
        best: Hit | None = None
        for i, poly in enumerate(self.polys):
            if only is not None and i != only:
                continue
            if poly.n == 0:
                continue
            d = np.hypot(*(poly.pts - p).T)
            j = int(np.argmin(d))
            if d[j] <= self.radius and (best is None or d[j] < best.dist):
                best = Hit(i, vertex=j, dist=float(d[j]))
        return best

    def hit_edge(self, pt: Sequence[float], only: int | None = None) -> Hit | None:
        p = np.asarray(pt, np.float32)
        best: Hit | None = None
        for i, poly in enumerate(self.polys):
            if only is not None and i != only:
                continue
            n = poly.n
            if n < 2:
                continue
            closed = not (self.mode == MODE_DRAW and i == self.active)
            for j in range(n if closed else n - 1):
                d, t = _dist_point_segment(p, poly.pts[j], poly.pts[(j + 1) % n])
                if d <= self.radius and (best is None or d < best.dist):
                    best = Hit(i, edge=j, t=t, dist=d)
        return best

    def poly_at(self, pt: Sequence[float]) -> int | None:
        """The topmost (last drawn) polygon containing ``pt``."""
        for i in range(len(self.polys) - 1, -1, -1):
            if self.polys[i].n >= 3 and point_in_poly(pt, self.polys[i].pts):
                return i
        return None

    # -- drawing -------------------------------------------------------------------------
    def set_type(self, type_: int) -> None:
        """Q/W: the type of the next polygon (and of the one being drawn).

        A polygon selected for editing is let go, so the next click starts a new polygon
        of this type rather than changing the finished one; :meth:`toggle_type` does that.
        """
        self.current_type = INCLUDE if type_ == INCLUDE else EXCLUDE
        if self.mode == MODE_DRAW and self.active is not None:
            if self.polys[self.active].type != self.current_type:
                self._snapshot("change type")
                self.polys[self.active].type = self.current_type
        elif self.mode == MODE_EDIT:
            self.deselect()

    def toggle_type(self) -> bool:
        """Turn the selected polygon from include to exclude or back."""
        if self.active is None:
            return False
        self._snapshot("change type")
        p = self.polys[self.active]
        p.type = EXCLUDE if p.type == INCLUDE else INCLUDE
        self.current_type = p.type
        return True

    def start_poly(self, pt: Sequence[float], type_: int | None = None) -> None:
        self.finish_draw()
        self._snapshot("new polygon")
        t = self.current_type if type_ is None else type_
        self.polys.append(Poly(t, self._clamp(pt)[None]))
        self.active = len(self.polys) - 1
        self.selected_vertex = 0
        self.mode = MODE_DRAW

    def add_point(self, pt: Sequence[float]) -> bool:
        """Add a point to the polygon being drawn; True when it closed the polygon instead.

        A point on the first vertex (within the hit radius) closes the polygon when it has
        at least three points, as in DeepFaceLab's editor.
        """
        if self.mode != MODE_DRAW or self.active is None:
            self.start_poly(pt)
            return False
        poly = self.polys[self.active]
        p = self._clamp(pt)
        if poly.n >= 3 and float(np.hypot(*(poly.pts[0] - p))) <= self.radius:
            self.close()
            return True
        if poly.n and float(np.hypot(*(poly.pts[-1] - p))) < 0.5:
            return False  # a double click on the same spot adds nothing
        self._snapshot("add point")
        poly.pts = np.vstack([poly.pts, p[None]])
        self.selected_vertex = poly.n - 1
        return False

    def close(self) -> bool:
        """Finish the polygon being drawn (needs 3 points) and go to edit mode on it."""
        if self.mode != MODE_DRAW or self.active is None:
            return False
        if self.polys[self.active].n < 3:
            return False
        self.mode = MODE_EDIT
        self.selected_vertex = None
        self.dirty = True
        return True

    def finish_draw(self) -> None:
        """Leave drawing: close the polygon if it can be, else drop it (DeepFaceLab drops < 3 points)."""
        if self.mode != MODE_DRAW or self.active is None:
            return
        if self.polys[self.active].n >= 3:
            self.close()
            return
        self._snapshot("discard polygon")
        del self.polys[self.active]
        self.active = None
        self.selected_vertex = None
        self.mode = MODE_NONE

    def deselect(self) -> None:
        self.finish_draw()
        self.active = None
        self.selected_vertex = None
        self.mode = MODE_NONE

    def select(self, index: int) -> None:
        self.finish_draw()
        if 0 <= index < len(self.polys):
            self.active = index
            self.selected_vertex = None
            self.mode = MODE_EDIT
            self.current_type = self.polys[index].type

    def cycle_select(self, step: int = 1) -> None:
        if not self.polys:
            return
        i = -1 if self.active is None else self.active
        self.select((i + step) % len(self.polys))

    # -- editing ------------------------------------------------------------------------
    def begin_drag(self, poly: int, vertex: int) -> None:
        """Snapshot once for a whole drag, so one undo returns the point to where it was."""
        self._snapshot("move point")
        self.active, self.selected_vertex = poly, vertex
        if self.mode != MODE_DRAW:
            self.mode = MODE_EDIT
        self._drag_started = True

    def drag_to(self, pt: Sequence[float]) -> None:
        if self.active is None or self.selected_vertex is None:
            return
        if not self._drag_started:
            self.begin_drag(self.active, self.selected_vertex)
        self.polys[self.active].pts[self.selected_vertex] = self._clamp(pt)
        self.dirty = True

    def end_drag(self) -> None:
        self._drag_started = False

    def move_point(self, poly: int, vertex: int, pt: Sequence[float]) -> None:
        self._snapshot("move point")
        self.polys[poly].pts[vertex] = self._clamp(pt)
        self.active, self.selected_vertex = poly, vertex

    def nudge_selected(self, dx: float, dy: float) -> bool:
        """Move the selected vertex by (dx, dy); consecutive nudges are one undo step."""
        if self.active is None or self.selected_vertex is None:
            return False
        last = self._undo[-1][2] if self._undo else None
        if last != "nudge point" or self._redo:
            self._snapshot("nudge point")
        pts = self.polys[self.active].pts
        pts[self.selected_vertex] = self._clamp(pts[self.selected_vertex] + np.float32([dx, dy]))
        self.dirty = True
        return True

    def break_nudge(self) -> None:
        """The next nudge starts a new undo step (called on any other key)."""
        if self._undo and self._undo[-1][2] == "nudge point":
            polys, active, _ = self._undo[-1]
            self._undo[-1] = (polys, active, "nudge point (done)")

    def insert_point(self, poly: int, edge: int, pt: Sequence[float]) -> int:
        """Insert a point on edge ``edge`` (between vertex edge and edge+1); returns its index."""
        self._snapshot("insert point")
        p = self.polys[poly]
        p.pts = np.vstack([p.pts[: edge + 1], self._clamp(pt)[None], p.pts[edge + 1:]])
        self.active, self.selected_vertex = poly, edge + 1
        if self.mode != MODE_DRAW:
            self.mode = MODE_EDIT
        return edge + 1

    def delete_point(self, poly: int, vertex: int) -> None:
        """Delete a vertex; a closed polygon left with < 3 points is removed (DeepFaceLab)."""
        self._snapshot("delete point")
        p = self.polys[poly]
        p.pts = np.delete(p.pts, vertex, axis=0)
        drawing = self.mode == MODE_DRAW and poly == self.active
        if (p.n < 3 and not drawing) or p.n == 0:
            del self.polys[poly]
            self.active = None
            self.selected_vertex = None
            self.mode = MODE_NONE
            return
        self.active = poly
        self.selected_vertex = min(vertex, p.n - 1) if drawing else None

    def delete_last_point(self) -> bool:
        """While drawing: remove the last point (Backspace)."""
        if self.mode != MODE_DRAW or self.active is None:
            return False
        self.delete_point(self.active, self.polys[self.active].n - 1)
        return True

    def delete_poly(self, index: int | None = None) -> bool:
        i = self.active if index is None else index
        if i is None or not 0 <= i < len(self.polys):
            return False
        self._snapshot("delete polygon")
        del self.polys[i]
        self.active = None
        self.selected_vertex = None
        self.mode = MODE_NONE
        return True

    def clear(self) -> bool:
        if not self.polys:
            return False
        self._snapshot("clear labels")
        self.polys = []
        self.active = None
        self.selected_vertex = None
        self.mode = MODE_NONE
        return True

    # -- the one-call actions the screen maps the mouse to ---------------------------------
    def click(self, pt: Sequence[float], edit_modifier: bool = False) -> str:
        """A left click, as DeepFaceLab's editor reads it; returns what happened.

        * drawing: add a point, or close on the first point;
        * ``edit_modifier`` (Ctrl in DeepFaceLab): on a point delete it, on an edge insert one;
        * on a point: select it (the caller may start a drag);
        * on a polygon's wire or inside it: select that polygon;
        * elsewhere: start a new polygon of the current type.
        """
        if self.mode == MODE_DRAW:
            if edit_modifier:
                h = self.hit_vertex(pt, only=self.active)
                if h is not None and h.vertex is not None:
                    self.delete_point(h.poly, h.vertex)
                    return "delete point"
            return "close" if self.add_point(pt) else "add point"
        if edit_modifier:
            h = self.hit_vertex(pt)
            if h is not None and h.vertex is not None:
                self.delete_point(h.poly, h.vertex)
                return "delete point"
            e = self.hit_edge(pt)
            if e is not None and e.edge is not None:
                self.insert_point(e.poly, e.edge, pt)
                return "insert point"
            return "nothing"
        h = self.hit_vertex(pt)
        if h is not None and h.vertex is not None:
            self.active, self.selected_vertex, self.mode = h.poly, h.vertex, MODE_EDIT
            self.current_type = self.polys[h.poly].type
            return "select point"
        e = self.hit_edge(pt)
        if e is not None:
            self.select(e.poly)
            return "select polygon"
        if self.mode == MODE_EDIT:
            self.deselect()
            return "deselect"
        self.start_poly(pt)
        return "new polygon"


def clone_polys(polys: Iterable[Poly]) -> list[Poly]:
    return [copy.deepcopy(p) for p in polys]
