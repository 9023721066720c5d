"""Tiny real-face batches for the model tests: the astronaut (src) and Grace Hopper (dst),
cropped to the face, resized, with an elliptic face mask and eyes/mouth boxes."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

# (crop y0, y1, x0, x1), face centre (cx, cy) and half-axes (ax, ay), eye row, mouth row; all in crop fractions
_FACES = {
    "src": ((20, 240, 130, 350), (0.43, 0.48), (0.30, 0.40), 0.37, 0.57),
    "dst": ((60, 330, 120, 390), (0.52, 0.62), (0.34, 0.36), 0.52, 0.80),
}


@functools.lru_cache(maxsize=None)
def _photo(side: str) -> np.ndarray:
    if side == "src":
        import skimage.data

        rgb = skimage.data.astronaut()
    else:
        import matplotlib.cbook as cbook
        import matplotlib.image as mpimg

        rgb = mpimg.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return np.ascontiguousarray(rgb[..., ::-1])  # BGR, as the models expect


def face_sample(side: str, res: int, shift: int = 0, flip: bool = False) -> dict[str, np.ndarray]:
    (y0, y1, x0, x1), (cx, cy), (ax, ay), eye_y, mouth_y = _FACES[side]
    crop = _photo(side)[y0 + shift:y1 + shift, x0 - shift:x1 - shift]
    img = cv2.resize(crop, (res, res), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    mask = np.zeros((res, res), np.float32)
    cv2.ellipse(mask, (int(cx * res), int(cy * res)), (int(ax * res), int(ay * res)), 0, 0, 360, 1.0, -1)
    em = np.zeros_like(mask)
    h = max(1, res // 16)
    em[int(eye_y * res) - h:int(eye_y * res) + h, int((cx - 0.25) * res):int((cx + 0.25) * res)] = 1
    em[int(mouth_y * res) - h:int(mouth_y * res) + h, int((cx - 0.12) * res):int((cx + 0.12) * res)] = 1
    em *= mask
    if flip:
        img, mask, em = img[:, ::-1], mask[:, ::-1], em[:, ::-1]
    return {"img": img, "mask": mask, "em": em}


def face_batch(res: int, n: int = 4, warp: bool = True) -> dict[str, torch.Tensor]:
    """A fixed training batch (NCHW float, BGR). ``warped`` = the target shifted by a few pixels."""
    out: dict[str, torch.Tensor] = {}
    for side in ("src", "dst"):
        samples = [face_sample(side, res, shift=4 * i, flip=bool(i % 2)) for i in range(n)]
        img = torch.from_numpy(np.stack([s["img"] for s in samples])).permute(0, 3, 1, 2).contiguous()
        out[f"target_{side}"] = img
        out[f"warped_{side}"] = torch.roll(img, shifts=(1, -1), dims=(2, 3)) if warp else img.clone()
        out[f"target_{side}m"] = torch.from_numpy(np.stack([s["mask"] for s in samples]))[:, None].contiguous()
        out[f"target_{side}m_em"] = torch.from_numpy(np.stack([s["em"] for s in samples]))[:, None].contiguous()
    return out


def tiny_saehd(**kw):
    """SAEHD options far below the UI minimums (tests only)."""
    from dfl_tui.models.options import SAEHDOptions

    base = dict(resolution=32, archi="liae-ud", ae_dims=16, e_dims=8, d_dims=8, d_mask_dims=8, batch_size=2)
    base.update(kw)
    return SAEHDOptions(**base)


def tiny_amp(**kw):
    from dfl_tui.models.options import AMPOptions

    base = dict(resolution=64, ae_dims=16, inter_dims=32, e_dims=8, d_dims=8, d_mask_dims=8, batch_size=2)
    base.update(kw)
    return AMPOptions(**base)
