"""68-point landmarks: DeepFaceLab's alignment, landmark masks, pose, debug drawing.

This is the one place the project turns landmarks into crops and masks, so
extraction, sorting, training and merging all agree with each other and with
DeepFaceLab (constants and steps from shared/reference/dfl-constants.md).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Sequence

import cv2
import numpy as np

from .facetype import FaceType

# 68-point indices 17..48 and 54 map to this mean face in a unit square (dfl-constants §1).
MEAN_FACE_33 = np.array(
    [[0.000213256, 0.106454], [0.0752622, 0.038915], [0.18113, 0.0187482], [0.29077, 0.0344891], [0.393397, 0.0773906],
     [0.586856, 0.0773906], [0.689483, 0.0344891], [0.799124, 0.0187482], [0.904991, 0.038915], [0.98004, 0.106454],
     [0.490127, 0.203352], [0.490127, 0.307009], [0.490127, 0.409805], [0.490127, 0.515625], [0.36688, 0.587326],
     [0.426036, 0.609345], [0.490127, 0.628106], [0.554217, 0.609345], [0.613373, 0.587326], [0.121737, 0.216423],
     [0.187122, 0.178758], [0.265825, 0.179852], [0.334606, 0.231733], [0.260918, 0.245099], [0.182743, 0.244077],
     [0.645647, 0.231733], [0.714428, 0.179852], [0.793132, 0.178758], [0.858516, 0.216423], [0.79751, 0.244077],
     [0.719335, 0.245099], [0.254149, 0.780233], [0.726104, 0.780233]],
    dtype=np.float32,
)
ALIGN_INDICES = np.array(list(range(17, 49)) + [54])

# 3D mean head, 68 points (x, y, z), for the pose estimate (dfl-constants §5).
MEAN_HEAD_3D = np.array(
    [[-73.393523, -29.801432, 47.667532], [-72.775014, -10.949766, 45.909403], [-70.533638, 7.929818, 44.84258],
     [-66.850058, 26.07428, 43.141114], [-59.790187, 42.56439, 38.635298], [-48.368973, 56.48108, 30.750622],
     [-34.121101, 67.246992, 18.456453], [-17.875411, 75.056892, 3.609035], [0.098749, 77.061286, -0.881698],
     [17.477031, 74.758448, 5.181201], [32.648966, 66.929021, 19.176563], [46.372358, 56.311389, 30.77057],
     [57.34348, 42.419126, 37.628629], [64.388482, 25.45588, 40.886309], [68.212038, 6.990805, 42.281449],
     [70.486405, -11.666193, 44.142567], [71.375822, -30.365191, 47.140426], [-61.119406, -49.361602, 14.254422],
     [-51.287588, -58.769795, 7.268147], [-37.8048, -61.996155, 0.442051], [-24.022754, -61.033399, -6.606501],
     [-11.635713, -56.686759, -11.967398], [12.056636, -57.391033, -12.051204], [25.106256, -61.902186, -7.315098],
     [38.338588, -62.777713, -1.022953], [51.191007, -59.302347, 5.349435], [60.053851, -50.190255, 11.615746],
     [0.65394, -42.19379, -13.380835], [0.804809, -30.993721, -21.150853], [0.992204, -19.944596, -29.284036],
     [1.226783, -8.414541, -36.94806], [-14.772472, 2.598255, -20.132003], [-7.180239, 4.751589, -23.536684],
     [0.55592, 6.5629, -25.944448], [8.272499, 4.661005, -23.695741], [15.214351, 2.643046, -20.858157],
     [-46.04729, -37.471411, 7.037989], [-37.674688, -42.73051, 3.021217], [-27.883856, -42.711517, 1.353629],
     [-19.648268, -36.754742, -0.111088], [-28.272965, -35.134493, -0.147273], [-38.082418, -34.919043, 1.476612],
     [19.265868, -37.032306, -0.665746], [27.894191, -43.342445, 0.24766], [37.437529, -43.110822, 1.696435],
     [45.170805, -38.086515, 4.894163], [38.196454, -35.532024, 0.282961], [28.764989, -35.484289, -1.172675],
     [-28.916267, 28.612716, -2.24031], [-17.533194, 22.172187, -15.934335], [-6.68459, 19.029051, -22.611355],
     [0.381001, 20.721118, -23.748437], [8.375443, 19.03546, -22.721995], [18.876618, 22.394109, -15.610679],
     [28.794412, 28.079924, -3.217393], [19.057574, 36.298248, -14.987997], [8.956375, 39.634575, -22.554245],
     [0.381549, 40.395647, -23.591626], [-7.428895, 39.836405, -22.406106], [-18.160634, 36.677899, -15.121907],
     [-24.37749, 28.677771, -4.785684], [-6.897633, 25.475976, -20.893742], [0.340663, 26.014269, -22.220479],
     [8.444722, 25.326198, -21.02552], [24.474473, 28.323008, -5.712776], [8.449166, 30.596216, -20.671489],
     [0.205322, 31.408738, -21.90367], [-7.198266, 30.844876, -20.328022]],
    dtype=np.float32,
)
_POSE_INDICES = np.array(list(range(0, 27)) + list(range(30, 36)))

# Landmark groups, as DeepFaceLab names them (used for drawing and masks).
JAW = slice(0, 17)
RIGHT_BROW = slice(17, 22)
LEFT_BROW = slice(22, 27)
NOSE = slice(27, 36)
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
MOUTH = slice(48, 68)


# ---------------------------------------------------------------------------
# Alignment
# ---------------------------------------------------------------------------


def umeyama(src: np.ndarray, dst: np.ndarray, estimate_scale: bool = True) -> np.ndarray:
    """Least-squares similarity transform src -> dst (Umeyama 1991), as a 3x3 matrix."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    num, dim = src.shape
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_d, dst_d = src - src_mean, dst - dst_mean
    a = dst_d.T @ src_d / num
    d = np.ones(dim)
    if np.linalg.det(a) < 0:
        d[-1] = -1
    t = np.eye(dim + 1)
    u, s, vt = np.linalg.svd(a)
    rank = np.linalg.matrix_rank(a)
    if rank == 0:
        return np.full((dim + 1, dim + 1), np.nan)
    if rank == dim - 1:
        if np.linalg.det(u) * np.linalg.det(vt) > 0:
            t[:dim, :dim] = u @ vt
        else:
            keep = d[-1]
            d[-1] = -1
            t[:dim, :dim] = u @ np.diag(d) @ vt
            d[-1] = keep
    else:
        t[:dim, :dim] = u @ np.diag(d) @ vt
    scale = (1.0 / src_d.var(axis=0).sum()) * (s @ d) if estimate_scale else 1.0
    t[:dim, dim] = dst_mean - scale * (t[:dim, :dim] @ src_mean)
    t[:dim, :dim] *= scale
    return t


def transform_points(points: np.ndarray, mat: np.ndarray, invert: bool = False) -> np.ndarray:
    """Apply a 2x3 affine to Nx2 points (or its inverse)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    m = np.asarray(mat, np.float64)
    if invert:
        m = cv2.invertAffineTransform(m)
    out = pts @ m[:, :2].T + m[:, 2]
    return out.astype(np.float32)


def _norm(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _polygon_area(x: np.ndarray, y: np.ndarray) -> float:
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def landmarks_to_unit_mat(lm68: np.ndarray) -> np.ndarray:
    """Similarity (2x3) from frame landmarks to the unit mean-face square."""
    lm = np.asarray(lm68, np.float32)
    return umeyama(lm[ALIGN_INDICES], MEAN_FACE_33, True)[:2]


def get_transform_mat(lm68: np.ndarray, output_size: int, face_type: FaceType | str | int, scale: float = 1.0) -> np.ndarray:
    """The frame-to-face 2x3 matrix of DeepFaceLab (dfl-constants §3), float64."""
    ft = FaceType.from_string(face_type)
    if ft == FaceType.MARK_ONLY:
        raise ValueError("mark_only faces have no crop transform")
    lm = np.asarray(lm68, np.float32)
    mat = landmarks_to_unit_mat(lm)
    g_p = transform_points(np.float32([(0, 0), (1, 0), (1, 1), (0, 1), (0.5, 0.5)]), mat, invert=True).astype(np.float64)
    g_c = g_p[4].copy()
    tb_diag = _norm(g_p[2] - g_p[0])
    bt_diag = _norm(g_p[1] - g_p[3])
    mod = (1.0 / scale) * (np.linalg.norm(g_p[0] - g_p[2]) * (ft.padding * math.sqrt(2.0) + 0.5))
    if ft == FaceType.WHOLE_FACE:
        g_c += _norm(g_p[0] - g_p[3]) * np.linalg.norm(g_p[0] - g_p[3]) * 0.07
    elif ft == FaceType.HEAD:
        yaw = estimate_averaged_yaw(transform_points(lm, mat))
        yaw *= abs(math.tanh(yaw * 2))
        g_c -= _norm(g_p[0] - g_p[1]) * (yaw * np.linalg.norm(g_p[0] - g_p[1]) / 2.0)
        g_c += _norm(g_p[0] - g_p[3]) * np.linalg.norm(g_p[0] - g_p[3]) * 0.50
    if not ft.no_align:
        l_t = np.array([g_c - tb_diag * mod, g_c + bt_diag * mod, g_c + tb_diag * mod])
    else:
        quad = np.array([g_c - tb_diag * mod, g_c + bt_diag * mod, g_c + tb_diag * mod, g_c - bt_diag * mod])
        side = math.sqrt(_polygon_area(quad[:, 0], quad[:, 1])) / 2
        l_t = np.array([g_c + [-side, -side], g_c + [side, -side], g_c + [side, side]])
    pts2 = np.float32([(0, 0), (output_size, 0), (output_size, output_size)])
    return cv2.getAffineTransform(l_t.astype(np.float32), pts2).astype(np.float64)


def border_args(border: str) -> dict[str, Any]:
    """``warpAffine`` keywords for a crop's fill past the frame edge: ``black`` (DeepFaceLab's,
    constant 0) or ``replicate`` (the edge pixels repeated); see ExtractFacesOptions.border."""
    if border == "black":
        return {"borderMode": cv2.BORDER_CONSTANT, "borderValue": 0}
    if border == "replicate":
        return {"borderMode": cv2.BORDER_REPLICATE}
    raise ValueError(f"border must be 'black' or 'replicate', not {border!r}")


def crop_face(frame: np.ndarray, mat: np.ndarray, size: int, border: str = "black",
              interpolation: int = cv2.INTER_LANCZOS4) -> np.ndarray:
    """The aligned face image: ``frame`` warped by the frame->face ``mat`` to size x size (as extraction does)."""
    return cv2.warpAffine(frame, mat, (size, size), flags=interpolation, **border_args(border))


def align_face(frame: np.ndarray, lm68: np.ndarray, size: int, face_type: FaceType | str | int,
               interpolation: int = cv2.INTER_LANCZOS4, border: str = "black") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop an aligned face: (face image size x size, frame->face matrix, landmarks in face space)."""
    mat = get_transform_mat(lm68, size, face_type)
    return crop_face(frame, mat, size, border, interpolation), mat, transform_points(lm68, mat)


def get_rect_from_landmarks(lm68: np.ndarray) -> np.ndarray:
    """The face rectangle (l, t, r, b) in the frame: the FULL_NO_ALIGN square at 256 px, mapped back."""
    mat = get_transform_mat(lm68, 256, FaceType.FULL_NO_ALIGN)
    pts = transform_points(np.float32([(0, 0), (255, 255)]), mat, invert=True)
    (l, t), (r, b) = pts
    return np.array([l, t, r, b], np.float32)


def alignment_residual(lm68: np.ndarray) -> float:
    """RMS distance of the 33 alignment points from the template, in template units (quality check)."""
    mat = landmarks_to_unit_mat(lm68)
    p = transform_points(np.asarray(lm68, np.float32)[ALIGN_INDICES], mat)
    return float(np.sqrt(((p - MEAN_FACE_33) ** 2).sum(1).mean()))


@lru_cache(maxsize=1)
def _mean_face_68_unit() -> np.ndarray:
    """68 mean-face points in the unit square of MEAN_FACE_33 (from the 3D mean head)."""
    flat = MEAN_HEAD_3D[:, :2]
    m = umeyama(flat[ALIGN_INDICES], MEAN_FACE_33, True)[:2]
    return transform_points(flat, m)


def mean_face_68(center: Sequence[float], vector: Sequence[float]) -> np.ndarray:
    """The mean face placed by a drawn vector (manual extraction's "force landmarks").

    ``center`` is where the nose tip (point 30) goes; ``vector`` points from the face's
    centre towards the top of the head, and its length is the face's height.
    """
    pts = _mean_face_68_unit().astype(np.float64)
    pts = pts - pts[30]
    height = float(np.linalg.norm(vector)) or 1.0
    ang = math.atan2(vector[0], -vector[1])  # 0 when the vector points straight up
    c, s = math.cos(ang), math.sin(ang)
    rot = np.array([[c, -s], [s, c]])
    out = (pts * height) @ rot.T + np.asarray(center, np.float64)
    return out.astype(np.float32)


# ---------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------


def expand_eyebrows(lm68: np.ndarray, mod: float = 1.0) -> np.ndarray:
    """Push the brow points up (dfl-constants §4) so hull masks cover the forehead line."""
    lm = np.array(lm68, np.float32).astype(np.int64).astype(np.float32)
    if mod == 0:
        return lm
    ml = (lm[36] + lm[0]) // 2
    mr = (lm[16] + lm[45]) // 2
    ql = (lm[36] + ml) // 2
    qr = (lm[45] + mr) // 2
    bot_l = np.array([ql, lm[36], lm[37], lm[38], lm[39]])
    bot_r = np.array([lm[42], lm[43], lm[44], lm[45], qr])
    top_l = lm[17:22]
    top_r = lm[22:27]
    lm[17:22] = top_l + ((top_l - bot_l) * 0.5 * mod)
    lm[22:27] = top_r + ((top_r - bot_r) * 0.5 * mod)
    return lm


_HULL_GROUPS = (
    (list(range(0, 9)) + [17]),
    (list(range(8, 17)) + [26]),
    ([17, 18, 19, 8]),
    ([24, 25, 26, 8]),
    (list(range(19, 25)) + [8]),
    (list(range(17, 22)) + [27, 31, 32, 33, 34, 35, 8]),
    (list(range(22, 27)) + [27, 31, 32, 33, 34, 35, 8]),
    (list(range(27, 31)) + [31, 32, 33, 34, 35]),
)


def get_image_hull_mask(shape: Sequence[int], lm68: np.ndarray, eyebrows_expand_mod: float = 1.0) -> np.ndarray:
    """DeepFaceLab's landmark hull mask, HxWx1 float32 in {0, 1}."""
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), np.float32)
    lm = expand_eyebrows(lm68, eyebrows_expand_mod)
    for group in _HULL_GROUPS:
        pts = lm[group].astype(np.int32)
        cv2.fillConvexPoly(mask, cv2.convexHull(pts), (1.0,))
    return mask[..., None]


def _feature_mask(shape: Sequence[int], groups: Sequence[np.ndarray]) -> np.ndarray:
    """Filled hulls, dilated by h/32 and blurred by h/16 (DeepFaceLab's eye/mouth masks).

    The dilation and the blur run only on the box around the hulls plus their reach: outside it
    the mask is 0 either way, so the result is the same as filtering the whole image, at a small
    part of the cost (the training loaders build these masks for every face they decode)."""
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), np.float32)
    hulls = [cv2.convexHull(np.asarray(pts, np.float32).astype(np.int32)) for pts in groups]
    k = max(1, h // 32)
    blur = max(1, h // 16)
    blur += 1 - blur % 2
    pts = np.concatenate([c.reshape(-1, 2) for c in hulls])
    reach = k + blur // 2 + 2
    x0, y0 = max(0, int(pts[:, 0].min()) - reach), max(0, int(pts[:, 1].min()) - reach)
    x1, y1 = min(w, int(pts[:, 0].max()) + reach + 1), min(h, int(pts[:, 1].max()) + reach + 1)
    if x0 >= x1 or y0 >= y1:  # every hull outside the image
        return mask[..., None]
    roi = np.zeros((y1 - y0, x1 - x0), np.float32)
    for c in hulls:
        cv2.fillConvexPoly(roi, c - np.array([x0, y0], np.int32), (1.0,))
    roi = cv2.dilate(roi, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)), iterations=1)
    mask[y0:y1, x0:x1] = cv2.GaussianBlur(roi, (blur, blur), 0)
    return mask[..., None]


def get_image_eye_mask(shape: Sequence[int], lm68: np.ndarray) -> np.ndarray:
    lm = np.asarray(lm68, np.float32)
    return _feature_mask(shape, [lm[RIGHT_EYE], lm[LEFT_EYE]])


def get_image_mouth_mask(shape: Sequence[int], lm68: np.ndarray) -> np.ndarray:
    lm = np.asarray(lm68, np.float32)
    return _feature_mask(shape, [lm[60:68]])


def get_image_eyes_mouth_mask(shape: Sequence[int], lm68: np.ndarray) -> np.ndarray:
    """Eyes and mouth together: the "eyes and mouth priority" weight of SAEHD."""
    return np.clip(get_image_eye_mask(shape, lm68) + get_image_mouth_mask(shape, lm68), 0, 1)


# ---------------------------------------------------------------------------
# Pose
# ---------------------------------------------------------------------------


def estimate_averaged_yaw(lm68: np.ndarray) -> float:
    """Jaw-to-nose asymmetry (dfl-constants §5); used for HEAD crops."""
    lm = np.asarray(lm68, np.float32)
    l = ((lm[27, 0] - lm[0, 0]) + (lm[28, 0] - lm[1, 0]) + (lm[29, 0] - lm[2, 0])) / 3.0
    r = ((lm[16, 0] - lm[27, 0]) + (lm[15, 0] - lm[28, 0]) + (lm[14, 0] - lm[29, 0])) / 3.0
    return float(r - l)


def _euler_from_matrix(r: np.ndarray) -> tuple[float, float, float]:
    sy = math.sqrt(r[0, 0] * r[0, 0] + r[1, 0] * r[1, 0])
    if sy >= 1e-6:
        x = math.atan2(r[2, 1], r[2, 2])
        y = math.atan2(-r[2, 0], sy)
        z = math.atan2(r[1, 0], r[0, 0])
    else:
        x = math.atan2(-r[1, 2], r[1, 1])
        y = math.atan2(-r[2, 0], sy)
        z = 0.0
    return x, y, z


def estimate_pitch_yaw_roll(aligned_lm68: np.ndarray, size: int = 256) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in radians of an aligned face, by PnP against the 3D mean head."""
    lm = np.asarray(aligned_lm68, np.float64)
    cam = np.array([[size, 0, size / 2], [0, size, size / 2], [0, 0, 1]], np.float64)
    ok, rvec, _tvec = cv2.solvePnP(
        MEAN_HEAD_3D[_POSE_INDICES].astype(np.float64), lm[_POSE_INDICES], cam, np.zeros((4, 1)),
    )
    rmat, _ = cv2.Rodrigues(rvec)
    pitch, yaw, roll = _euler_from_matrix(rmat)
    half_pi = math.pi / 2
    pitch = float(np.clip(pitch, -half_pi, half_pi))
    yaw = float(np.clip(yaw, -half_pi, half_pi))
    roll = float(np.clip(roll, -half_pi, half_pi))
    return -pitch, yaw, roll


def calc_face_pitch(lm68: np.ndarray) -> float:
    """DeepFaceLab's older, simple pitch from the jaw."""
    lm = np.asarray(lm68, np.float32)
    t = ((lm[6, 1] - lm[8, 1]) + (lm[10, 1] - lm[8, 1])) / 2.0
    return float(lm[8, 1] - t)


def mirror_landmarks(lm68: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the horizontally flipped image, with left/right points swapped."""
    lm = np.asarray(lm68, np.float32).copy()
    lm[:, 0] = width - 1 - lm[:, 0]
    return lm[_MIRROR_ORDER]


_MIRROR_ORDER = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65]
)


# ---------------------------------------------------------------------------
# Drawing (debug images)
# ---------------------------------------------------------------------------


def draw_landmarks(image: np.ndarray, lm68: np.ndarray, color: tuple[int, int, int] = (0, 255, 0),
                   draw_circles: bool = True, thickness: int = 1) -> None:
    """Draw the 68 points as DeepFaceLab does: feature polylines, small dots, larger jaw dots."""
    lm = np.asarray(lm68, np.float32).astype(np.int32)
    open_parts = [lm[JAW], lm[RIGHT_BROW], lm[LEFT_BROW], lm[NOSE]]
    closed_parts = [lm[RIGHT_EYE], lm[LEFT_EYE], lm[48:60], lm[60:68]]
    cv2.polylines(image, [p.reshape(-1, 1, 2) for p in open_parts], False, color, thickness, cv2.LINE_AA)
    cv2.polylines(image, [p.reshape(-1, 1, 2) for p in closed_parts], True, color, thickness, cv2.LINE_AA)
    if draw_circles:
        for x, y in lm[17:]:
            cv2.circle(image, (int(x), int(y)), 1, color, -1, cv2.LINE_AA)
        for x, y in lm[JAW]:
            cv2.circle(image, (int(x), int(y)), 2, color, -1, cv2.LINE_AA)


def draw_debug(image: np.ndarray, rect: Sequence[float] | None, lm68: np.ndarray, face_type: FaceType | str | int,
               face_size: int = 256, transparent_mask: bool = True, landmarks_color: tuple[int, int, int] = (0, 255, 0)) -> None:
    """DeepFaceLab's aligned_debug drawing, in place on a BGR frame.

    The face hull darkened to half, the detector rect in blue, the landmarks in
    green, the aligned crop's outline in red with a filled triangle in its
    top-left corner so a rotated crop's orientation is visible.
    """
    lm = np.asarray(lm68, np.float32)
    if transparent_mask:
        # Only the face's neighbourhood: a full-frame mask costs ~25 ms per 1080p frame.
        pts = expand_eyebrows(lm)
        h, w = image.shape[:2]
        x0, y0 = (int(max(0, min(v, lim))) for v, lim in zip(np.floor(pts.min(0)) - 2, (w, h)))
        x1, y1 = (int(max(0, min(v, lim))) for v, lim in zip(np.ceil(pts.max(0)) + 3, (w, h)))
        if x1 > x0 and y1 > y0:
            roi = image[y0:y1, x0:x1]
            mask = get_image_hull_mask(roi.shape, lm - np.float32([x0, y0]))
            roi[...] = (roi.astype(np.float32) * (1.0 - mask * 0.5)).astype(image.dtype)
    if rect is not None:
        l, t, r, b = [int(round(v)) for v in rect]
        cv2.rectangle(image, (l, t), (r, b), (255, 0, 0), 2)
    draw_landmarks(image, lm, landmarks_color)
    ft = FaceType.from_string(face_type)
    if ft == FaceType.MARK_ONLY:
        return
    mat = get_transform_mat(lm, face_size, ft)
    s = face_size - 1
    outline = transform_points(np.float32([(0, 0), (s, 0), (s, s), (0, s)]), mat, invert=True)
    cv2.polylines(image, [outline.astype(np.int32).reshape(-1, 1, 2)], True, (0, 0, 255), 2, cv2.LINE_AA)
    tri = transform_points(np.float32([(0, 0), (face_size * 0.12, 0), (0, face_size * 0.12)]), mat, invert=True)
    cv2.fillConvexPoly(image, tri.astype(np.int32), (0, 0, 255), cv2.LINE_AA)
