"""``dfl-tui model export``: a trained model for DeepFaceLive (``.dfm``) or as plain ONNX.

A ``.dfm`` is an ONNX model with the names and layout DeepFaceLab's ``export_dfm`` gives it and
DeepFaceLive's ``DFMModel`` expects (checked against both projects' code):

* input ``in_face:0``: float32 ``[N, res, res, 3]`` NHWC, BGR, 0..1 (DeepFaceLive reads the
  resolution from dims 1-2, so they are fixed; N is dynamic);
* AMP only, input ``morph_value:0``: float32 ``[1]`` (the first ``int(inter_dims * v)`` code
  channels come from ``inter_src``);
* outputs, in this order (DeepFaceLive unpacks them by position): ``out_face_mask:0`` (the dst
  decoder's mask of the dst face, ``[N, res, res, 1]``), ``out_celeb_face:0`` (the swapped face,
  ``[N, res, res, 3]``), ``out_celeb_face_mask:0`` (its mask, ``[N, res, res, 1]``).

``--format onnx`` is the same graph with plain names (``face``, ``morph``; ``face_src``,
``mask_src``, ``mask_dst``). Both are written with opset 13 and IR version 7, which the
ONNX Runtime that DeepFaceLive ships (1.15) loads; the file's metadata carries the
synthetic-media mark (``dfl-tui verify`` reports it). After writing, ONNX Runtime (CPU) runs
the file on faces and the outputs are compared with the PyTorch model's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DflError

OPSET = 13
DFM_INPUTS = ("in_face:0", "morph_value:0")
DFM_OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")
ONNX_INPUTS = ("face", "morph")
ONNX_OUTPUTS = ("mask_dst", "face_src", "mask_src")
MARK_KEY = "dfl-tui:provenance"


def _wrapper(model: Any) -> Any:
    """A torch module: NHWC face (and morph value) -> (dst mask, swapped face, swap mask), NHWC."""
    import torch
    from torch import nn

    class DFMNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, face: torch.Tensor, morph: torch.Tensor | None = None):
            m = self.m
            x = face.permute(0, 3, 1, 2)
            if m.name == "AMP":
                z = m.encoder(x)
                src, dst = m.inter_src(z), m.inter_dst(z)
                k = torch.floor(morph.reshape(-1)[0] * m.inter_dims)
                sel = torch.arange(m.inter_dims, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1) < k
                psd, psdm = m.decoder(torch.where(sel, src, dst))
                _, pddm = m.decoder(dst)
            else:
                psd, psdm, _, pddm = m._swap(x)
            return pddm.permute(0, 2, 3, 1), psd.permute(0, 2, 3, 1), psdm.permute(0, 2, 3, 1)

    return DFMNet().eval()


def _mark(model_name: str, kind: str, iteration: int, fmt: str) -> dict[str, str]:
    from ..provenance import DIGITAL_SOURCE_TYPE, MARK_TEXT
    from ..provenance.metadata import provenance_record

    rec = provenance_record(model=model_name, model_type=kind, iteration=iteration, export_format=fmt)
    return {MARK_KEY: json.dumps(rec), "ai_generated": "true", "statement": MARK_TEXT,
            "digital_source_type": DIGITAL_SOURCE_TYPE,
            "description": f"{MARK_TEXT}: a face-swap model exported by {rec['tool']} {rec['version']}; "
                           "what it produces is synthetic media."}


def export_onnx(model: Any, path: Path, fmt: str, name: str) -> dict[str, Any]:
    """Write ``model`` as ONNX (``fmt`` dfm or onnx) to ``path`` atomically; returns its I/O names."""
    import io
    import warnings

    import onnx
    import torch

    from ..util.atomic import atomic_write_bytes

    model = model.to("cpu").float().eval()
    for mod in model.modules():  # convolutions run in the standard layout in the graph
        if hasattr(mod, "memory_format") and mod is not model:
            mod.memory_format = torch.contiguous_format
    morphable = model.name == "AMP"
    res = int(model.resolution)
    ins = DFM_INPUTS if fmt == "dfm" else ONNX_INPUTS
    outs = DFM_OUTPUTS if fmt == "dfm" else ONNX_OUTPUTS
    ins = ins if morphable else ins[:1]
    args: tuple[Any, ...] = (torch.rand(1, res, res, 3),)
    if morphable:
        args += (torch.tensor([0.75]),)
    dyn = {ins[0]: {0: "N"}, **{o: {0: "N"} for o in outs}}
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_wrapper(model), args, buf, input_names=list(ins), output_names=list(outs),
                          dynamic_axes=dyn, opset_version=OPSET, dynamo=False, do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    proto.producer_name = "dfl-tui"
    proto.graph.name = model.name
    del proto.metadata_props[:]
    for k, v in _mark(name, model.name, int(model.iteration), fmt).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(proto)
    atomic_write_bytes(path, proto.SerializeToString())
    return {"inputs": list(ins), "outputs": list(outs)}


def check_onnx(model: Any, path: Path, faces: np.ndarray, morph: float = 0.75) -> float:
    """Max abs difference between ONNX Runtime (CPU) on ``path`` and the PyTorch model on ``faces``."""
    import onnxruntime as ort
    import torch

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feed = {names[0]: faces.astype(np.float32)}
    if len(names) > 1:
        feed[names[1]] = np.array([morph], np.float32)
    got = sess.run(None, feed)
    with torch.no_grad():
        x = torch.from_numpy(faces.astype(np.float32)).permute(0, 3, 1, 2)
        swap, swap_m, dst_m = model.predict(x, morph if model.name == "AMP" else None)
    want = [t.permute(0, 2, 3, 1).float().numpy() for t in (dst_m, swap, swap_m)]
    return float(max(np.abs(a - b).max() for a, b in zip(got, want)))


def export_model(workspace: Any, name: str, fmt: str = "dfm", out: str | Path | None = None,
                 check: bool = True) -> dict[str, Any]:
    """Export model ``name`` of ``workspace``; the default file is beside the model as DFL names it."""
    from ..train.checkpoint import load_model
    from ..train.modeldir import ModelDir

    if fmt not in ("dfm", "onnx"):
        raise DflError(f"--format {fmt}: choose dfm (DeepFaceLive) or onnx")
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise DflError("exporting needs the 'onnx' package (pip install onnx onnxruntime)") from None
    model = load_model(workspace, name, "cpu")
    mdir = ModelDir.of(workspace, name)
    path = Path(out) if out else mdir.root / f"{name}_{model.name}_model.{fmt}"
    t0 = time.monotonic()
    io_names = export_onnx(model, path, fmt, name)
    res = {"path": str(path), "format": fmt, "model": model.name, "iteration": int(model.iteration),
           "resolution": int(model.resolution), "face_type": model.face_type, **io_names,
           "seconds": round(time.monotonic() - t0, 2)}
    if check:
        rng = np.random.default_rng(0)
        faces = rng.random((2, model.resolution, model.resolution, 3), dtype=np.float32)
        diff = check_onnx(model, path, faces)
        res["check"] = {"faces": 2, "max_abs_diff": diff}
        if diff > 1e-3:
            raise DflError(f"{path}: ONNX Runtime's output differs from PyTorch's by {diff:.2e}; the export is "
                           "not trustworthy (kept for inspection)")
    return res


def read_mark(path: str | Path) -> dict[str, Any] | None:
    """The provenance record in an ONNX/.dfm file's metadata, or None (reads no weights into torch)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several kinds
        raise DflError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if MARK_KEY not in props and props.get("ai_generated") != "true":
        return None
    try:
        rec = json.loads(props.get(MARK_KEY, "{}"))
    except ValueError:
        rec = {}
    return {"provenance": rec, "fields": {k: v for k, v in props.items() if k != MARK_KEY},
            "inputs": [i.name for i in proto.graph.input], "outputs": [o.name for o in proto.graph.output]}


__all__ = ["DFM_INPUTS", "DFM_OUTPUTS", "check_onnx", "export_model", "export_onnx", "read_mark"]
