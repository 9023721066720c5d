"""A generic whole-face mask with no download: FaceMesh, a forehead, and the skin's colour.

DeepFaceLab's "generic WF XSeg" model ships only in its Windows build. dfl-tui makes
a comparable mask from what is already installed: the 468-point FaceMesh of the
offline MediaPipe backend (:mod:`dfl_tui.faces.detect.facemesh`), run on the aligned
face itself.

1. **Mesh.** FaceMesh is fitted on the aligned face (its region of interest from the
   face's 68 landmarks, then twice from its own points, as MediaPipe tracks). The mesh
   is 3D: x, y in pixels and a depth.
2. **Surface.** The mesh is turned to face the camera (its own eye line and
   forehead-to-chin axis), triangulated there (Delaunay), and those triangles are
   filled where the mesh really is. Filling triangles rather than the outline keeps a
   profile right: the outline of a turned face folds behind the nose, its triangles
   do not. A fan from the nose bridge to the outline closes the notches Delaunay
   leaves at the border.
3. **Forehead.** The mesh stops mid-forehead. Its top arc is pushed further up the
   face's vertical axis (in 3D, then projected) by ``forehead`` times the distance from
   the brows to the mesh top, fading to nothing at the temples: by the rule of facial
   thirds, 1.0 reaches the hairline of a face with a bare forehead.
4. **Skin.** Hair, fringes and caps cover that forehead more often than not, and the
   mesh's own top reaches into hair as well. A robust Lab colour model of the skin is
   taken at the cheeks, nose and brow ridge; then, column by column in the face's
   upright view, the mask is cut where going up from the brows the first mostly
   non-skin run starts (the hairline), smoothed across columns. Optionally
   (``trim_sides``) hair over the temples is trimmed the same way row by row; it helps
   fringe-framed faces and hurts shadowed profiles, so it is off by default.

The mask is binarised at 0.5 and stored at 256 px like an applied XSeg mask. Quality
is measured against hand-labelled faces in ``tests/fixtures/xseg`` (see
``tests/test_xseg_generic.py``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import cv2
import numpy as np

from ..faces.detect.facemesh import MESH_LEFT_EYE_OUTER, MESH_RIGHT_EYE_OUTER, FaceMesh, roi_from_points

MASK_SIZE = 256

#: The face outline (MediaPipe's FACE_OVAL), clockwise from the forehead top (vertex 10).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
             149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
#: The outline's upper arc (temple to temple over the forehead), pushed up for the forehead.
TOP_ARC = (162, 21, 54, 103, 67, 109, 10, 338, 297, 332, 284, 251, 389)
TOP, BETWEEN_BROWS, CHIN, NOSE_BRIDGE, NOSE_TIP = 10, 9, 152, 168, 4
#: Vertices around the cheeks, nose and brow ridge: skin on almost every face.
SKIN_SAMPLES = (50, 101, 118, 117, 123, 187, 205, 36, 280, 330, 347, 346, 352, 411, 425, 266, 4, 5, 195, 197, 6, 168,
                8, 9, 151, 108, 337, 69, 299, 104, 333)
#: The inner features (brows, eyes, nose, lips): always face, whatever their colour.
INNER = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300, 33, 133, 362, 263, 145, 374, 159, 386, 4, 98, 327, 61, 291, 0,
         17, 130, 359, 46, 276)
#: Brow vertices (upper edge): the hairline search starts here and goes up.
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def face_axes(mesh: np.ndarray) -> np.ndarray:
    """3 x 3 rows: the face's right-to-left (x), top-to-chin (y) and depth (z) unit axes."""
    p = np.asarray(mesh, np.float64)
    x = _unit(p[MESH_LEFT_EYE_OUTER] - p[MESH_RIGHT_EYE_OUTER])
    y = p[CHIN] - p[TOP]
    y = _unit(y - x * float(y @ x))
    z = np.cross(x, y)
    return np.stack([x, y, z])


def fit_mesh(face: np.ndarray, lm68: np.ndarray, mesh_model: FaceMesh, passes: int = 2) -> tuple[np.ndarray, float]:
    """FaceMesh on an aligned face: (468 x 3 points in face pixels, face-presence score)."""
    lm = np.asarray(lm68, np.float32)
    roi = roi_from_points(lm, lm[36], lm[45])
    (pts, score), = mesh_model.run([face], [roi])
    for _ in range(passes):
        roi = roi_from_points(pts, pts[MESH_RIGHT_EYE_OUTER], pts[MESH_LEFT_EYE_OUTER])
        (pts, score), = mesh_model.run([face], [roi])
    return pts, score


def _fill_triangles(mask: np.ndarray, pts2: np.ndarray, tris: np.ndarray, shift: int = 4) -> None:
    fixed = np.round(pts2 * (1 << shift)).astype(np.int32)
    for t in tris:
        cv2.fillConvexPoly(mask, fixed[t], (1.0,), cv2.LINE_8, shift)


def forehead_points(mesh: np.ndarray, forehead: float) -> np.ndarray:
    """The top arc moved up the face by ``forehead`` x (brows to mesh top), 3D, fading at the temples."""
    p = np.asarray(mesh, np.float64)
    ax = face_axes(p)
    up = -ax[1]
    height = float((p[TOP] - p[BETWEEN_BROWS]) @ up)
    arc = p[list(TOP_ARC)]
    # Fade by the horizontal position across the arc: an elliptical cap, zero at the temples.
    xs = (arc - p[TOP]) @ ax[0]
    half = max(float(np.abs(xs).max()), 1e-6)
    w = np.sqrt(np.clip(1.0 - (xs / half) ** 2, 0.0, 1.0))
    return arc + up[None, :] * (forehead * height * w)[:, None]


def mesh_mask(mesh: np.ndarray, shape: Sequence[int], forehead: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The mesh surface plus the extrapolated forehead band: (mask HxW float32, band-only mask)."""
    from scipy.spatial import Delaunay

    h, w = int(shape[0]), int(shape[1])
    p = np.asarray(mesh, np.float64)
    front = (p - p.mean(0)) @ face_axes(p).T
    tris = Delaunay(front[:, :2]).simplices
    mask = np.zeros((h, w), np.float32)
    _fill_triangles(mask, p[:, :2], tris)
    oval = list(FACE_OVAL)
    fan = np.array([[NOSE_BRIDGE, oval[i], oval[(i + 1) % len(oval)]] for i in range(len(oval))])
    _fill_triangles(mask, p[:, :2], fan)
    band = np.zeros((h, w), np.float32)
    if forehead > 0:
        top = forehead_points(p, forehead)
        arc = p[list(TOP_ARC)]
        quads = []
        for i in range(len(TOP_ARC) - 1):
            quads.append(np.array([arc[i, :2], arc[i + 1, :2], top[i + 1, :2], top[i, :2]]))
        fixed = [np.round(q * 16).astype(np.int32) for q in quads]
        cv2.fillPoly(band, fixed, (1.0,), cv2.LINE_8, 4)
        band *= 1.0 - mask
        mask = np.maximum(mask, band)
    return mask, band


def skin_model(face: np.ndarray, mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust mean and inverse covariance of the skin in Lab, from small patches at skin vertices."""
    lab = cv2.cvtColor(face, cv2.COLOR_BGR2LAB).astype(np.float32)
    h, w = face.shape[:2]
    r = max(1, int(round(min(h, w) / 128)))
    samples = []
    for v in SKIN_SAMPLES:
        x, y = int(round(mesh[v, 0])), int(round(mesh[v, 1]))
        if r <= x < w - r and r <= y < h - r:
            samples.append(lab[y - r:y + r + 1, x - r:x + r + 1].reshape(-1, 3))
    if not samples:
        return lab.reshape(-1, 3).mean(0), np.eye(3, dtype=np.float32) / 100.0
    s = np.concatenate(samples)
    med = np.median(s, axis=0)
    # Drop the worst quarter (a shadow, a glasses rim) before the covariance.
    d = np.abs(s - med).sum(1)
    s = s[d <= np.quantile(d, 0.75)]
    cov = np.cov(s.T) + np.diag([16.0, 4.0, 4.0])  # floors: grey images, flat light
    return s.mean(0), np.linalg.inv(cov).astype(np.float32)


def skin_distance(face: np.ndarray, mean: np.ndarray, icov: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of each pixel from the skin model (HxW float32)."""
    lab = cv2.cvtColor(face, cv2.COLOR_BGR2LAB).astype(np.float32) - mean
    return np.sqrt(np.einsum("hwi,ij,hwj->hw", lab, icov, lab))


def refine_with_skin(face: np.ndarray, mask: np.ndarray, mesh: np.ndarray, threshold: float = 3.0,
                     sides: bool = False) -> np.ndarray:
    """Cut the mask at the hairline: per column, going up from the brows, stop where the skin ends.

    Works in an upright view (the face's vertical axis turned to the image's), so a
    tilted head is scanned along its own axis. A column stops at the first run of
    mostly non-skin pixels (hair, a cap) at least ``run`` pixels tall; the hairline is
    then smoothed across columns so one dark wrinkle cannot notch it.
    """
    h, w = mask.shape
    p = np.asarray(mesh, np.float64)
    ax = face_axes(p)
    down2 = ax[1][:2]
    angle = math.degrees(math.atan2(down2[0], down2[1]))  # 0 when the face is upright
    centre = (float(p[BETWEEN_BROWS, 0]), float(p[BETWEEN_BROWS, 1]))
    rot = cv2.getRotationMatrix2D(centre, -angle, 1.0)
    inv = cv2.invertAffineTransform(rot)
    mean, icov = skin_model(face, p)
    smooth = cv2.GaussianBlur(face, (0, 0), max(0.6, h / 256))
    skin = (skin_distance(smooth, mean, icov) <= threshold).astype(np.uint8)
    up_skin = cv2.warpAffine(skin, rot, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    up_mask = cv2.warpAffine((mask > 0.5).astype(np.uint8), rot, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    brows = cv2.transform(p[list(BROWS), None, :2].astype(np.float32), rot)[:, 0]
    start = int(math.floor(float(brows[:, 1].min())))
    run = max(3, int(round(h / 40)))
    cols = np.nonzero(up_mask.any(0))[0]
    hairline = np.full(w, -1.0, np.float32)
    for x in cols:
        col_m = up_mask[: start + 1, x]
        rows = np.nonzero(col_m)[0]
        if not len(rows):
            continue
        top = int(rows.min())
        col_s = up_skin[top: start + 1, x][::-1]  # from the brows upward
        non = 1 - col_s
        cut = None
        if len(non) >= run:
            c = np.convolve(non, np.ones(run), "valid") / run  # fraction non-skin in each window
            bad = np.nonzero(c >= 0.7)[0]
            if len(bad):
                cut = int(bad[0])
        hairline[x] = top if cut is None else start - cut
    have = hairline >= 0
    if have.any():
        k = max(3, int(round(w / 24)) | 1)
        xs = np.nonzero(have)[0]
        vals = hairline[xs]
        pad = k // 2
        padded = np.pad(vals, pad, mode="edge")
        med = np.array([np.median(padded[i:i + k]) for i in range(len(vals))], np.float32)
        hairline[xs] = med
    ys = np.arange(h, dtype=np.float32)[:, None]
    cut_mask = (ys >= hairline[None, :]) | (hairline[None, :] < 0)
    up_keep = (up_mask > 0) & cut_mask
    if sides:
        up_pts = cv2.transform(p[None, :, :2].astype(np.float32), rot)[0]
        inner = np.zeros((h, w), np.uint8)
        hull = cv2.convexHull(up_pts[list(INNER)].astype(np.int32))
        cv2.fillConvexPoly(inner, hull, 1)
        inner = cv2.dilate(inner, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (run * 2 + 1, run * 2 + 1)))
        up_keep &= _side_cut(up_mask, np.maximum(up_skin, inner), up_pts, run)
    keep = cv2.warpAffine(up_keep.astype(np.uint8), inv, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    keep &= (mask > 0.5).astype(np.uint8)
    k = max(3, int(round(h / 64)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    keep = cv2.morphologyEx(keep, cv2.MORPH_OPEN, kernel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(keep, connectivity=4)
    if n > 2:
        main = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        keep = (labels == main).astype(np.uint8)
    return keep.astype(np.float32)


def _side_cut(up_mask: np.ndarray, up_skin: np.ndarray, pts: np.ndarray, run: int) -> np.ndarray:
    """Trim hair over the temples and cheeks: per row from the brows to the nose tip, going outward
    from the face's inner features, stop at the first mostly non-skin run; smoothed over rows."""
    h, w = up_mask.shape
    keep = np.ones((h, w), bool)
    y0 = int(math.floor(float(pts[list(BROWS), 1].min())))
    y1 = int(math.ceil(float(pts[NOSE_TIP, 1])))
    cx = float(pts[NOSE_BRIDGE, 0])
    cuts = []
    for y in range(max(0, y0), min(h, y1 + 1)):
        xs = np.nonzero(up_mask[y])[0]
        if len(xs) < 8:
            continue
        lo, hi = int(xs.min()), int(xs.max())
        c0 = int(min(max(cx, lo), hi))
        left, right = lo, hi
        seg = 1 - up_skin[y, lo:c0 + 1][::-1]
        if len(seg) >= run:
            c = np.convolve(seg, np.ones(run), "valid") / run
            bad = np.nonzero(c >= 0.7)[0]
            if len(bad):
                left = c0 - int(bad[0]) + 1
        seg = 1 - up_skin[y, c0:hi + 1]
        if len(seg) >= run:
            c = np.convolve(seg, np.ones(run), "valid") / run
            bad = np.nonzero(c >= 0.7)[0]
            if len(bad):
                right = c0 + int(bad[0]) - 1
        cuts.append((y, left, right))
    if cuts:
        arr = np.array(cuts, np.float32)
        k = max(3, int(round(h / 24)) | 1)
        for col in (1, 2):
            padded = np.pad(arr[:, col], k // 2, mode="edge")
            arr[:, col] = [np.median(padded[i:i + k]) for i in range(len(arr))]
        for y, left, right in arr:
            keep[int(y), : max(0, int(math.ceil(left)))] = False
            keep[int(y), int(right) + 1:] = False
    return keep


class GenericMasker:
    """Whole-face masks for aligned faces from the offline FaceMesh (one per worker: not thread safe)."""

    def __init__(self, forehead: float = 1.0, skin_refine: bool = True, skin_threshold: float = 3.0,
                 trim_sides: bool = False) -> None:
        self.mesh_model = FaceMesh()
        self.forehead = forehead
        self.skin_refine = skin_refine
        self.skin_threshold = skin_threshold
        self.trim_sides = trim_sides

    def mesh(self, face: np.ndarray, lm68: np.ndarray) -> tuple[np.ndarray, float]:
        return fit_mesh(face, lm68, self.mesh_model)

    def __call__(self, face: np.ndarray, lm68: np.ndarray, out_size: int | None = MASK_SIZE) -> np.ndarray:
        """The mask of one aligned face (BGR uint8, landmarks in face pixels), binary float32.

        It is computed at the face's resolution and resized to ``out_size`` (None: keep).
        """
        if face.ndim == 2:
            face = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
        mesh, _score = self.mesh(face, lm68)
        mask, _band = mesh_mask(mesh, face.shape, self.forehead)
        if self.skin_refine:
            mask = refine_with_skin(face, mask, mesh, self.skin_threshold, self.trim_sides)
        if out_size and mask.shape[0] != out_size:
            mask = cv2.resize(mask, (out_size, out_size), interpolation=cv2.INTER_LINEAR)
        return (mask > 0.5).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two masks binarised at 0.5."""
    a, b = np.asarray(a) > 0.5, np.asarray(b) > 0.5
    union = int((a | b).sum())
    return float((a & b).sum()) / union if union else 1.0


def describe_method() -> dict[str, Any]:
    return {"method": "facemesh", "mesh_points": 468, "forehead": "extrapolated along the face axis",
            "refine": "Lab skin model above the eyes"}

