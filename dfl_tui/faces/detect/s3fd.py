"""The ``s3fd`` backend: face-alignment 1.5.0's S3FD detector + FAN landmarks (DeepFaceLab's pair).

Loading goes through face-alignment itself (``FaceAlignment(..., face_detector='sfd')``),
so its weights come from where it looks for them: the torch hub cache, or the folder
given with ``--weights-dir`` (S3FD through ``face_detector_kwargs={'path_to_detector':
...}``, FAN through ``torch.hub.set_dir``). ``compile=False``: on a CPU, torch.compile
costs minutes and gains nothing (offline-models.md section 2).

Inference is our own code around face-alignment's two networks, because DeepFaceLab's
details differ from face-alignment's ``get_landmarks`` and because we batch across
frames (one S3FD call for a batch of same-size frames, one FAN call for all faces of
the batch), which is what keeps a GPU busy:

* S3FD (deepfacelab.md 2.2): the frame is scaled so its longer side is half its size
  (640 px from 1280 px up, at least 64); BGR minus (104, 117, 123); anchors at stride
  centres of side 4x stride, offsets x0.1 and log-sizes x0.2; score >= 0.5 and NMS at
  IoU 0.3.
* FAN (2.3): a 256 px crop of the "200 x scale" box around the rect centre with
  scale = (w + h) / 195, RGB / 255; 68 heatmaps of 64 px decoded by argmax, a
  quarter-pixel step towards the higher neighbour, +0.5, and back through the crop.
  2DFAN, or 3DFAN (its 2D projection, no depth network) for head face types.
* Second pass: a 256 px FULL aligned crop from the first landmarks; S3FD on it; only when
  it finds exactly one face, FAN on that box and four 1 px diagonal shifts of it,
  averaged, then mapped back to the frame.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from ...errors import DflError
from . import weights
from .base import Backend, Candidate, Fit, filter_boxes

S3FD_MEAN_BGR = (104.0, 117.0, 123.0)
S3FD_SCORE = 0.5
S3FD_NMS_IOU = 0.3
FAN_RES = 256
FAN_REFERENCE_SCALE = 195.0
FAN_HM = 64
JITTER = ((0, 0), (-1, -1), (1, 1), (-1, 1), (1, -1))


def s3fd_input_scale(h: int, w: int) -> float:
    """Frame pixels per S3FD input pixel (DeepFaceLab's pre-scaling)."""
    d = max(h, w)
    scale_to = 640.0 if d >= 1280 else d / 2.0
    scale_to = max(64.0, scale_to)
    return d / scale_to


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Plain greedy NMS; returns kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        ov = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[ov <= iou]
    return np.array(keep, np.int64)


def fan_crop_matrix(rect: Sequence[float]) -> tuple[np.ndarray, float]:
    """Frame -> 256 px FAN crop (2x3) for a rect, and the crop's pixels per frame pixel."""
    l, t, r, b = [float(v) for v in rect[:4]]
    cx, cy = (l + r) / 2.0, (t + b) / 2.0
    scale = ((r - l) + (b - t)) / FAN_REFERENCE_SCALE
    k = FAN_RES / (200.0 * max(scale, 1e-6))
    h = (FAN_RES - 1) / 2.0
    return np.array([[k, 0, h - k * cx], [0, k, h - k * cy]], np.float64), k


def decode_heatmaps(hm: np.ndarray) -> np.ndarray:
    """(N, 68, 64, 64) heatmaps -> (N, 68, 2) points in 256 px crop pixels."""
    n, c, hh, ww = hm.shape
    flat = hm.reshape(n, c, hh * ww)
    idx = flat.argmax(-1)
    px, py = (idx % ww).astype(np.int64), (idx // ww).astype(np.int64)
    pts = np.stack([px, py], -1).astype(np.float32)
    inner = (px > 0) & (px < ww - 1) & (py > 0) & (py < hh - 1)
    ni, ci = np.nonzero(inner)
    if len(ni):
        x, y = px[ni, ci], py[ni, ci]
        dx = hm[ni, ci, y, x + 1] - hm[ni, ci, y, x - 1]
        dy = hm[ni, ci, y + 1, x] - hm[ni, ci, y - 1, x]
        pts[ni, ci, 0] += np.sign(dx) * 0.25
        pts[ni, ci, 1] += np.sign(dy) * 0.25
    pts += 0.5
    # heatmap cell units -> crop pixels (pixel-centre convention)
    return pts * (FAN_RES / FAN_HM) - 0.5


@contextlib.contextmanager
def hub_dir(path: Path) -> Iterator[None]:
    """torch.hub's folder set to ``path`` for the duration (face-alignment reads it for FAN)."""
    import torch

    old = torch.hub.get_dir()
    torch.hub.set_dir(str(path))
    try:
        yield
    finally:
        torch.hub.set_dir(old)


class S3FDBackend(Backend):
    name = "s3fd"

    def __init__(self, device: str = "cpu", three_d: bool = False, weights_dir: str | os.PathLike | None = None,
                 flip_input: bool = False) -> None:
        import torch

        try:
            import face_alignment as fa
        except ImportError as exc:
            raise DflError(f"the s3fd detector needs face-alignment 1.5.0 ({exc}); pip install face-alignment==1.5.0") from None
        missing = weights.missing_files(three_d, weights_dir)
        if missing:
            raise DflError(f"s3fd weights not found: {', '.join(missing)}. {weights.where_to_put(weights_dir)}; "
                           "or use --detector mediapipe (offline)")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise DflError(f"device {device} asked for, but torch sees no CUDA GPU; use --device cpu")
        self.device = device
        self.three_d = three_d
        self.flip_input = flip_input
        self.batch_size = 16 if device.startswith("cuda") else 4
        self.fan_batch = 64 if device.startswith("cuda") else 8
        fan_file = weights.FAN3D_FILE if three_d else weights.FAN2D_FILE
        fan_path = weights.find_file(fan_file, weights_dir)
        s3fd_path = weights.find_file(weights.S3FD_FILE, weights_dir)
        assert fan_path is not None and s3fd_path is not None
        self._tmp: tempfile.TemporaryDirectory | None = None
        if fan_path.parent.name == "checkpoints":
            hub = fan_path.parent.parent
        else:  # a plain folder: give face-alignment a hub folder that links to the file
            self._tmp = tempfile.TemporaryDirectory(prefix="dfl-tui-hub-")
            hub = Path(self._tmp.name)
            (hub / "checkpoints").mkdir()
            os.symlink(fan_path.resolve(), hub / "checkpoints" / fan_file)
        lt = fa.LandmarksType.TWO_HALF_D if three_d else fa.LandmarksType.TWO_D
        try:
            with hub_dir(hub):
                self.fa = fa.FaceAlignment(lt, device=device, flip_input=flip_input, face_detector="sfd",
                                           face_detector_kwargs={"path_to_detector": str(s3fd_path)},
                                           compile=False, max_batch_size=self.fan_batch)
        except (RuntimeError, OSError, ValueError, KeyError) as exc:
            raise DflError(f"cannot load the s3fd/FAN weights from {s3fd_path.parent} / {fan_path.parent}: "
                           f"{str(exc).splitlines()[0][:300]}") from None
        self.s3fd = self.fa.face_detector.face_detector
        self.fan = self.fa.face_alignment_net
        self.s3fd.eval()
        self.fan.eval()
        self.weights = {"s3fd": str(s3fd_path), "fan": str(fan_path)}
        self._torch = torch
        self._flip = fa.utils.flip

    def describe(self) -> str:
        fan = "3DFAN" if self.three_d else "2DFAN"
        return f"s3fd (face-alignment S3FD + {fan}, {self.device}{', flip' if self.flip_input else ''})"

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- S3FD -----------------------------------------------------------------------
    def _s3fd_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Same-size BGR images -> per image (M, 5) boxes x1 y1 x2 y2 score in image pixels."""
        torch = self._torch
        h, w = images[0].shape[:2]
        s = s3fd_input_scale(h, w)
        nw, nh = max(1, int(w / s)), max(1, int(h / s))
        small = np.stack([cv2.resize(im, (nw, nh), interpolation=cv2.INTER_LINEAR) for im in images])
        x = torch.from_numpy(small).to(self.device).permute(0, 3, 1, 2).float()
        x = x - torch.tensor(S3FD_MEAN_BGR, device=self.device).view(1, 3, 1, 1)
        with torch.inference_mode():
            outs = self.s3fd(x)
            boxes_all, scores_all, img_all = [], [], []
            for i in range(len(outs) // 2):
                cls = torch.softmax(outs[2 * i], dim=1)[:, 1]
                loc = outs[2 * i + 1]
                stride = 2 ** (i + 2)
                b, yy, xx = torch.nonzero(cls > S3FD_SCORE, as_tuple=True)
                if b.numel() == 0:
                    continue
                sc = cls[b, yy, xx]
                lo = loc[b, :, yy, xx]  # (K, 4)
                pcx = stride / 2.0 + xx.float() * stride
                pcy = stride / 2.0 + yy.float() * stride
                pw = float(stride * 4)
                cx = pcx + lo[:, 0] * 0.1 * pw
                cy = pcy + lo[:, 1] * 0.1 * pw
                bw = pw * torch.exp(lo[:, 2] * 0.2)
                bh = pw * torch.exp(lo[:, 3] * 0.2)
                boxes_all.append(torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1))
                scores_all.append(sc)
                img_all.append(b)
        res = [np.zeros((0, 5), np.float32) for _ in images]
        if not boxes_all:
            return res
        boxes = torch.cat(boxes_all).float().cpu().numpy() * s
        scores = torch.cat(scores_all).float().cpu().numpy()
        owner = torch.cat(img_all).cpu().numpy()
        for k in range(len(images)):
            m = owner == k
            if not m.any():
                continue
            bk, sk = boxes[m], scores[m]
            keep = nms(bk, sk, S3FD_NMS_IOU)
            res[k] = np.concatenate([bk[keep], sk[keep, None]], 1).astype(np.float32)
        return res

    def _s3fd(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(images)
        groups: dict[tuple, list[int]] = {}
        for i, im in enumerate(images):
            groups.setdefault(im.shape[:2], []).append(i)
        for idx in groups.values():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                for i, r in zip(chunk, self._s3fd_batch([images[i] for i in chunk])):
                    out[i] = r
        return out  # type: ignore[return-value]

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Candidate]]:
        return [[Candidate(r[:4].copy(), float(r[4])) for r in rows] for rows in self._s3fd(images)]

    # -- FAN ------------------------------------------------------------------------
    def _fan(self, crops: list[np.ndarray]) -> np.ndarray:
        """256 px BGR crops -> (N, 68, 2) points in crop pixels."""
        torch = self._torch
        pts = []
        for start in range(0, len(crops), self.fan_batch):
            chunk = np.stack(crops[start:start + self.fan_batch])[..., ::-1]  # BGR -> RGB
            x = torch.from_numpy(np.ascontiguousarray(chunk)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
            with torch.inference_mode():
                hm = self.fan(x)
                hm = hm[-1] if isinstance(hm, (list, tuple)) else hm
                if self.flip_input:
                    hf = self.fan(torch.flip(x, dims=[3]))
                    hf = hf[-1] if isinstance(hf, (list, tuple)) else hf
                    hm = hm + self._flip(hf, is_label=True)
            pts.append(decode_heatmaps(hm.float().cpu().numpy()))
        return np.concatenate(pts) if pts else np.zeros((0, 68, 2), np.float32)

    def _fan_on_rects(self, images: Sequence[np.ndarray], rects: Sequence[Sequence[float]]) -> list[np.ndarray]:
        crops, mats = [], []
        for img, rect in zip(images, rects):
            m, _k = fan_crop_matrix(rect)
            crops.append(cv2.warpAffine(img, m, (FAN_RES, FAN_RES), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT))
            mats.append(m)
        pts = self._fan(crops)
        out = []
        for p, m in zip(pts, mats):
            inv = cv2.invertAffineTransform(m)
            out.append((p @ inv[:, :2].T + inv[:, 2]).astype(np.float32))
        return out

    def landmarks(self, images: Sequence[np.ndarray], cands: Sequence[Sequence[Candidate]]) -> list[list[Fit | None]]:
        flat_img, flat_rect, where = [], [], []
        for i, (img, cs) in enumerate(zip(images, cands)):
            for j, c in enumerate(cs):
                flat_img.append(img)
                flat_rect.append(c.rect)
                where.append((i, j))
        out: list[list[Fit | None]] = [[None] * len(cs) for cs in cands]
        if not flat_img:
            return out
        for (i, j), lm in zip(where, self._fan_on_rects(flat_img, flat_rect)):
            out[i][j] = Fit(lm)
        return out

    def refine(self, images: Sequence[np.ndarray], fits: Sequence[Sequence[Fit]]) -> list[list[Fit]]:
        from ..landmarks import get_transform_mat
        from ..facetype import FaceType

        out = [list(f) for f in fits]
        flat = [(i, j) for i, fl in enumerate(fits) for j in range(len(fl))]
        if not flat:
            return out
        crops, mats = [], []
        for i, j in flat:
            try:
                m = get_transform_mat(fits[i][j].lm68, FAN_RES, FaceType.FULL)
            except (ValueError, np.linalg.LinAlgError):
                m = None
            mats.append(m)
            crops.append(cv2.warpAffine(images[i], m, (FAN_RES, FAN_RES), flags=cv2.INTER_LINEAR)
                         if m is not None else None)
        ok = [k for k, c in enumerate(crops) if c is not None]
        dets = self._s3fd([crops[k] for k in ok])
        jobs = []  # (flat index, rect in crop)
        for k, rows in zip(ok, dets):
            cands = filter_boxes([Candidate(r[:4], float(r[4])) for r in rows])
            if len(cands) == 1:
                jobs.append((k, cands[0].rect))
        if not jobs:
            return out
        jit_imgs, jit_rects = [], []
        for k, rect in jobs:
            for dx, dy in JITTER:
                jit_imgs.append(crops[k])
                jit_rects.append(np.asarray(rect, np.float32) + np.float32([dx, dy, dx, dy]))
        pts = self._fan_on_rects(jit_imgs, jit_rects)
        n = len(JITTER)
        for q, (k, _rect) in enumerate(jobs):
            mean = np.mean(pts[q * n:(q + 1) * n], axis=0)
            inv = cv2.invertAffineTransform(mats[k])
            lm = (mean @ inv[:, :2].T + inv[:, 2]).astype(np.float32)
            i, j = flat[k]
            out[i][j] = Fit(lm, refined=True)
        return out
