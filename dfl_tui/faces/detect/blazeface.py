"""BlazeFace: MediaPipe's SSD face detector (the offline detector of the ``mediapipe`` backend).

What the model gives: for each of a fixed grid of anchors, a box (centre, size)
and six keypoints (both eyes, nose tip, mouth, both ear tragions) as offsets from
the anchor, and a score logit. What we add, following MediaPipe's published graph
settings: the anchor grid, letterboxing to the square input, decoding, the
sigmoid score threshold and *weighted* NMS (overlapping candidates are averaged,
weighted by score, which steadies boxes from frame to frame).

Three model variants ship in the wheel; they differ only in input size, anchor
strides and score threshold:

* ``back``  (256 px): the back-camera model, faces from close-up to ~1/10 of the frame.
* ``short`` (128 px): selfie range, best on faces that fill the image (aligned crops).
* ``full``  (192 px): full range, small faces in big frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .tflite import TFLiteNet

#: Keypoint order in BlazeFace's output (subject's right is the image's left).
KP_RIGHT_EYE, KP_LEFT_EYE, KP_NOSE, KP_MOUTH, KP_RIGHT_EAR, KP_LEFT_EAR = range(6)
NUM_KEYPOINTS = 6

# A detection row: x1, y1, x2, y2, 6 keypoints (x, y), score.
COL_BOX = slice(0, 4)
COL_KPS = slice(4, 16)
COL_SCORE = 16
ROW_LEN = 17


@dataclass(frozen=True)
class SSDConfig:
    """MediaPipe SsdAnchorsCalculator / TensorsToDetections settings of one model."""

    file: str
    size: int  # square input side
    strides: tuple[int, ...]  # one per anchor layer
    two_per_layer: bool  # interpolated_scale_aspect_ratio == 1.0: two anchors per layer and cell
    min_score: float
    outputs: tuple[str, str]  # (regressors, classificators)

    def branches(self) -> list[int]:
        """Anchor count per output branch (layers with equal strides share a branch)."""
        out: list[int] = []
        i = 0
        while i < len(self.strides):
            j = i
            while j < len(self.strides) and self.strides[j] == self.strides[i]:
                j += 1
            per_cell = (j - i) * (2 if self.two_per_layer else 1)
            fm = -(-self.size // self.strides[i])
            out.append(fm * fm * per_cell)
            i = j
        return out


CONFIGS = {
    "back": SSDConfig("face_detection_back.tflite", 256, (16, 32, 32, 32), True, 0.52,
                      ("regressors", "classificators")),
    "short": SSDConfig("face_detection_short_range.tflite", 128, (8, 16, 16, 16), True, 0.5,
                       ("regressors", "classificators")),
    "full": SSDConfig("face_detection_full_range.tflite", 192, (4,), False, 0.6,
                      ("reshaped_regressor_face_4", "reshaped_classifier_face_4")),
}

NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold for faces
RAW_SCORE_CLIP = 80.0  # keeps the sigmoid finite in float32


def ssd_anchors(cfg: SSDConfig) -> np.ndarray:
    """Anchor centres, normalised to [0, 1], in the model's output order (N x 2).

    With MediaPipe's ``fixed_anchor_size`` every anchor is 1 x 1, so only the centres
    matter. Layers with the same stride are merged: each cell repeats its centre
    once per anchor of every merged layer.
    """
    centres = []
    i = 0
    while i < len(cfg.strides):
        j = i
        while j < len(cfg.strides) and cfg.strides[j] == cfg.strides[i]:
            j += 1
        per_cell = (j - i) * (2 if cfg.two_per_layer else 1)
        fm = -(-cfg.size // cfg.strides[i])
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
        i = j
    return np.concatenate(centres, axis=0).astype(np.float32)


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    a = (box[2] - box[0]) * (box[3] - box[1])
    b = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = a + b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(rows: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """MediaPipe's WEIGHTED non-maximum suppression on detection rows.

    Take the best remaining candidate; every remaining candidate overlapping it by more
    than ``iou`` joins its cluster; the cluster's box and keypoints are the score-weighted
    mean, its score the best score. Repeat on what is left.
    """
    if len(rows) == 0:
        return rows.reshape(0, ROW_LEN)
    rows = rows[np.argsort(-rows[:, COL_SCORE], kind="stable")]
    out = []
    while len(rows):
        ov = iou_one_to_many(rows[0, COL_BOX], rows[:, COL_BOX])
        member = ov > iou
        member[0] = True
        cluster = rows[member]
        w = cluster[:, COL_SCORE:COL_SCORE + 1]
        merged = (cluster[:, :COL_SCORE] * w).sum(0) / w.sum()
        out.append(np.concatenate([merged, rows[0, COL_SCORE:COL_SCORE + 1]]))
        rows = rows[~member]
    return np.stack(out).astype(np.float32)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """Fit ``image`` into a ``size`` square, centred on black; return (square, scale, pad_x, pad_y)."""
    h, w = image.shape[:2]
    s = size / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    small = cv2.resize(image, (nw, nh), interpolation=interp)
    px, py = (size - nw) // 2, (size - nh) // 2
    out = np.zeros((size, size, 3), np.uint8)
    out[py:py + nh, px:px + nw] = small
    return out, s, float(px), float(py)


class BlazeFace:
    """One BlazeFace model; ``detect`` takes BGR frames and returns detection rows in frame pixels."""

    def __init__(self, kind: str = "back") -> None:
        self.cfg = CONFIGS[kind]
        self.kind = kind
        self.net = TFLiteNet(self.cfg.file, self.cfg.outputs)
        self.anchors = ssd_anchors(self.cfg)
        self._batch_ok = self._check_batching()

    def _check_batching(self) -> bool:
        """Whether a multi-image blob gives the same rows as single images once regrouped.

        The models flatten each output branch with the batch folded in before
        concatenating, so a batch comes back branch-major; :meth:`_regroup` undoes that.
        We verify it once on random input rather than trust one OpenCV version's layout.
        """
        rng = np.random.default_rng(0)
        blob = rng.random((2, 3, self.cfg.size, self.cfg.size), dtype=np.float32) * 2 - 1
        try:
            both = self._regroup(self.net(blob), 2)
            one = [self._regroup(self.net(blob[i:i + 1]), 1) for i in range(2)]
        except Exception:  # noqa: BLE001 - any failure: run images one by one
            return False
        return all(np.allclose(both[k][i], one[i][k][0], atol=1e-3) for k in range(2) for i in range(2))

    def _regroup(self, outs: Sequence[np.ndarray], n: int) -> list[np.ndarray]:
        """Raw outputs -> [regressors (n, A, 16), scores (n, A)] in anchor order."""
        a = len(self.anchors)
        res = []
        for o, c in zip(outs, (16, 1)):
            flat = np.asarray(o, np.float32).reshape(-1, c)
            if n == 1:
                res.append(flat.reshape(1, a, c))
                continue
            parts, start = [], 0
            for cnt in self.cfg.branches():
                parts.append(flat[start:start + n * cnt].reshape(n, cnt, c))
                start += n * cnt
            res.append(np.concatenate(parts, axis=1))
        return [res[0], res[1][..., 0]]

    def blob(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
        squares, geo = [], []
        for img in images:
            sq, s, px, py = letterbox(img, self.cfg.size)
            squares.append(sq)
            geo.append((s, px, py))
        blob = cv2.dnn.blobFromImages(squares, 1 / 127.5, (self.cfg.size, self.cfg.size), (127.5, 127.5, 127.5),
                                      swapRB=True, crop=False)
        return blob, geo

    def raw(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = blob.shape[0]
        if n == 1 or self._batch_ok:
            reg, cls = self._regroup(self.net(blob), n)
            return reg, cls
        regs, clss = [], []
        for i in range(n):
            r, c = self._regroup(self.net(blob[i:i + 1]), 1)
            regs.append(r)
            clss.append(c)
        return np.concatenate(regs), np.concatenate(clss)

    def decode(self, reg: np.ndarray, cls: np.ndarray, min_score: float | None = None) -> np.ndarray:
        """One image's raw outputs -> NMS-ed rows, normalised to the square input (0..1)."""
        thr = self.cfg.min_score if min_score is None else min_score
        scores = 1.0 / (1.0 + np.exp(-np.clip(cls, -RAW_SCORE_CLIP, RAW_SCORE_CLIP)))
        keep = np.nonzero(scores >= thr)[0]
        if len(keep) == 0:
            return np.zeros((0, ROW_LEN), np.float32)
        r = reg[keep] / self.cfg.size
        anc = self.anchors[keep]
        cx, cy = r[:, 0] + anc[:, 0], r[:, 1] + anc[:, 1]
        w, h = r[:, 2], r[:, 3]
        rows = np.empty((len(keep), ROW_LEN), np.float32)
        rows[:, 0], rows[:, 1] = cx - w / 2, cy - h / 2
        rows[:, 2], rows[:, 3] = cx + w / 2, cy + h / 2
        kps = r[:, 4:16].reshape(-1, NUM_KEYPOINTS, 2) + anc[:, None, :]
        rows[:, COL_KPS] = kps.reshape(-1, 12)
        rows[:, COL_SCORE] = scores[keep]
        return weighted_nms(rows)

    def detect(self, images: Sequence[np.ndarray], min_score: float | None = None) -> list[np.ndarray]:
        """BGR images -> per image an (M, 17) array: box x1 y1 x2 y2, 6 keypoints, score (pixels)."""
        if not len(images):
            return []
        blob, geo = self.blob(images)
        reg, cls = self.raw(blob)
        out = []
        for i, (s, px, py) in enumerate(geo):
            rows = self.decode(reg[i], cls[i], min_score)
            if len(rows):
                xy = rows[:, :COL_SCORE].reshape(len(rows), -1, 2) * self.cfg.size
                xy = (xy - np.array([px, py], np.float32)) / s
                rows[:, :COL_SCORE] = xy.reshape(len(rows), -1)
            out.append(rows)
        return out
