"""Preview panels laid out as DeepFaceLab's (reference §6.7, §6.8), and the loss-graph strip.

SAEHD and Quick96, resolution <= 256: one row per sample (n = min(4, batch, 800 // res)), columns
``src | src->src | dst | dst->dst | src->dst``; the "masked" panel multiplies src and dst by their
target masks, dst->dst by its predicted mask and src->dst by the predicted dst mask times the swap
mask (only the swap mask for head). Above 256 px DeepFaceLab shows six 2-column panels instead.

AMP: "AMP morph 1.0" (src, dst, dst->dst masked / src->src, dst->dst, swap), "AMP morph list"
(dst->dst and the swap at 0.25, 0.5, 0.65, 0.75, 1.0) and its masked version, for one sample.

Input is :meth:`FaceSwapModel.preview`'s dict (float32 CPU tensors, NCHW, BGR); output is a list
of ``(name, uint8 BGR HxWx3)``. :func:`write_previews` stores them as PNGs atomically.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from ..util.atomic import atomic_write_bytes, atomic_write_json
from .modeldir import ModelDir, slug

AMP_MORPHS = (0.25, 0.5, 0.65, 0.75, 1.0)


def _nhwc(t: Any) -> np.ndarray:
    a = t.detach().float().cpu().numpy() if hasattr(t, "detach") else np.asarray(t, np.float32)
    a = np.transpose(a, (0, 2, 3, 1))
    return np.clip(a, 0.0, 1.0)


def _grid(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    return np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)


def _u8(a: np.ndarray) -> np.ndarray:
    a = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return np.ascontiguousarray(a)


def n_preview_rows(batch: int, res: int) -> int:
    return max(1, min(4, batch, 800 // max(res, 1)))


def layout_previews(model_name: str, out: dict[str, Any], *, face_type: str = "f", max_rows: int | None = None) \
        -> list[tuple[str, np.ndarray]]:
    """The model's preview panels as uint8 BGR images."""
    S, SS, D, DD, SD = (_nhwc(out[k]) for k in ("target_src", "pred_src_src", "target_dst", "pred_dst_dst",
                                                "pred_src_dst"))
    SM, DM = _nhwc(out["target_srcm"]), _nhwc(out["target_dstm"])
    DDM, SDM = _nhwc(out["pred_dst_dstm"]), _nhwc(out["pred_src_dstm"])
    res = S.shape[1]
    n = n_preview_rows(S.shape[0], res) if max_rows is None else max(1, min(max_rows, S.shape[0]))
    head = str(face_type).lower() in ("head", "head_no_align")

    if model_name == "AMP":
        i = 0
        morphs = [(v, _nhwc(out[f"pred_src_dst_{v:g}"]), _nhwc(out[f"pred_src_dstm_{v:g}"]))
                  for v in AMP_MORPHS if f"pred_src_dst_{v:g}" in out]
        sd1 = _nhwc(out["pred_src_dst"])
        panels = [("AMP morph 1.0", _grid([[S[i], D[i], DD[i] * DDM[i]], [SS[i], DD[i], sd1[i]]]))]
        if len(morphs) == 5:
            sds = [m[1][i] for m in morphs]
            sdm = [m[1][i] * DDM[i] * m[2][i] for m in morphs]
            panels.append(("AMP morph list", _grid([[DD[i], sds[0], sds[1]], [sds[2], sds[3], sds[4]]])))
            panels.append(("AMP morph list masked", _grid([[DD[i], sdm[0], sdm[1]], [sdm[2], sdm[3], sdm[4]]])))
        return [(name, _u8(img)) for name, img in panels]

    rows = range(n)
    swap_mask = [SDM[i] if head else DDM[i] * SDM[i] for i in rows]
    if res <= 256:
        plain = _grid([[S[i], SS[i], D[i], DD[i], SD[i]] for i in rows])
        masked = _grid([[S[i] * SM[i], SS[i], D[i] * DM[i], DD[i] * DDM[i], SD[i] * swap_mask[i]] for i in rows])
        return [(model_name, _u8(plain)), (f"{model_name} masked", _u8(masked))]
    panels = [
        (f"{model_name} src-src", _grid([[S[i], SS[i]] for i in rows])),
        (f"{model_name} dst-dst", _grid([[D[i], DD[i]] for i in rows])),
        (f"{model_name} pred", _grid([[D[i], SD[i]] for i in rows])),
        (f"{model_name} masked src-src", _grid([[S[i] * SM[i], SS[i] * SM[i]] for i in rows])),
        (f"{model_name} masked dst-dst", _grid([[D[i] * DM[i], DD[i] * DDM[i]] for i in rows])),
        (f"{model_name} masked pred", _grid([[D[i] * DM[i], SD[i] * swap_mask[i]] for i in rows])),
    ]
    return [(name, _u8(img)) for name, img in panels]


# ---------------------------------------------------------------------------
# The loss graph strip (DeepFaceLab's preview window and history images)
# ---------------------------------------------------------------------------

_GRAPH_COLORS = [(0, 200, 255), (255, 160, 0), (80, 220, 80), (200, 80, 255), (255, 255, 80), (80, 80, 255)]


def loss_graph(history: np.ndarray, width: int, height: int = 100) -> np.ndarray:
    """A ``height`` x ``width`` BGR strip: per column the min-max band of each loss (one hue each),
    y scaled to twice the mean of the last 80 % of the history, 5 grid lines."""
    img = np.zeros((height, width, 3), np.uint8)
    h = np.asarray(history, np.float64)
    if h.ndim != 2 or len(h) == 0:
        return img
    h = np.where(np.isfinite(h), h, 0.0)
    tail = h[int(len(h) * 0.2):]
    top = float(2.0 * tail.mean()) if tail.size else 1.0
    top = top if top > 0 else 1.0
    for g in range(1, 5):
        y = int(height * g / 5)
        img[y, :] = (40, 40, 40)
    cols = np.array_split(np.arange(len(h)), min(width, len(h)))
    scale = width / max(len(cols), 1)
    for ci, idx in enumerate(cols):
        if len(idx) == 0:
            continue
        block = h[idx]
        x0, x1 = int(ci * scale), max(int((ci + 1) * scale), int(ci * scale) + 1)
        for li in range(h.shape[1]):
            lo, hi = float(block[:, li].min()), float(block[:, li].max())
            y_lo = height - 1 - int(np.clip(lo / top, 0, 1) * (height - 1))
            y_hi = height - 1 - int(np.clip(hi / top, 0, 1) * (height - 1))
            img[y_hi:y_lo + 1, x0:x1] = _GRAPH_COLORS[li % len(_GRAPH_COLORS)]
    return img


def with_graph(img: np.ndarray, history: np.ndarray | None, iteration: int) -> np.ndarray:
    """The preview with a loss-graph strip and the iteration on top (history images)."""
    if history is None or len(history) == 0:
        return img
    strip = loss_graph(history, img.shape[1], 100)
    cv2.putText(strip, f"Iter: {iteration}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([strip, img], axis=0)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def _encode(img: np.ndarray, ext: str) -> bytes:
    params = [int(cv2.IMWRITE_JPEG_QUALITY), 95] if ext == ".jpg" else [int(cv2.IMWRITE_PNG_COMPRESSION), 3]
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise ValueError("could not encode the preview image")
    return buf.tobytes()


def write_previews(mdir: ModelDir, panels: list[tuple[str, np.ndarray]], iteration: int,
                   cell: int | None = None) -> list[Path]:
    """The latest panels as ``previews/<panel>.png`` plus ``previews/index.json`` (for the monitor).

    ``cell`` is the face size in pixels: the monitor uses it to show one row of a panel at a time."""
    mdir.previews_dir.mkdir(parents=True, exist_ok=True)
    paths, index = [], []
    for name, img in panels:
        fname = slug(name) + ".png"
        atomic_write_bytes(mdir.previews_dir / fname, _encode(img, ".png"), fsync=False)
        paths.append(mdir.previews_dir / fname)
        entry = {"name": name, "file": fname, "width": int(img.shape[1]), "height": int(img.shape[0])}
        if cell:
            entry.update(cell=int(cell), rows=int(img.shape[0]) // int(cell), cols=int(img.shape[1]) // int(cell))
        index.append(entry)
    atomic_write_json(mdir.preview_index_path, {"iteration": int(iteration), "time": time.time(), "panels": index},
                      fsync=False)
    return paths


def write_history(mdir: ModelDir, panels: list[tuple[str, np.ndarray]], iteration: int,
                  history: np.ndarray | None = None) -> list[Path]:
    """``history/<panel>/<iteration:07d>.jpg`` and ``_last.jpg``, each with the loss graph on top."""
    paths = []
    for name, img in panels:
        folder = mdir.history_dir / slug(name)
        folder.mkdir(parents=True, exist_ok=True)
        data = _encode(with_graph(img, history, iteration), ".jpg")
        atomic_write_bytes(folder / f"{iteration:07d}.jpg", data, fsync=False)
        atomic_write_bytes(folder / "_last.jpg", data, fsync=False)
        paths.append(folder / f"{iteration:07d}.jpg")
    return paths


__all__ = ["layout_previews", "loss_graph", "n_preview_rows", "with_graph", "write_history", "write_previews"]
