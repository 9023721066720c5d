"""``dfl-tui model import-dfl``: a DeepFaceLab model becomes a dfl-tui model that trains on.

The DFL files are read through the restricted reader and mapped tensor by tensor
(:mod:`dfl_tui.models.dflimport`); the result is written the way the trainer writes a model
(``options.json``, a complete checkpoint at DFL's iteration, ``summary.txt``, the loss history
as ``metrics.jsonl``), so ``dfl-tui train --name NAME`` continues from the same iteration and
``dfl-tui merge``/``model predict``/``model export`` use it like any other. The DFL folder is
only read, never changed. An existing dfl-tui model of the same name is never overwritten.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..models import dflimport as D
from ..util.atomic import atomic_write_text
from .modeldir import ModelDir

Log = Callable[[str], None]


def _tensor_sd(module: Any) -> dict[str, Any]:
    return dict(module.state_dict())


def _load_exact(source: str, module: Any, arrays: dict[str, np.ndarray]) -> None:
    import torch

    sd = module.state_dict()
    with torch.no_grad():
        for k, a in arrays.items():
            sd[k].copy_(torch.from_numpy(a))


def _import_faceswap(dfl: D.DflModelFiles, log: Log) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Our SAEHD/AMP/Quick96 model with DFL's weights (and optimizer state when present)."""
    import torch

    from ..models import build_model
    from ..models.archi import Archi
    from ..models.options import OPTIONS_CLASSES
    from .. import options as optmod

    model_opts, trainer, notes = D.model_options(dfl)
    for n in notes:
        log(n)
    kind = dfl.model_class
    if kind == "Quick96":
        model_opts = {}
    try:
        opts = optmod.to_dict(optmod.from_dict(OPTIONS_CLASSES[kind], model_opts))
    except optmod.OptionError as exc:
        raise D.DflImportError(f"{dfl.folder}: DeepFaceLab's options for {dfl.name} do not fit dfl-tui's {kind} "
                               f"({exc})") from None
    torch.manual_seed(0)
    model = build_model(kind, opts, "cpu")
    if kind == "AMP":
        maps = D.amp_maps()
    else:
        maps = D.saehd_maps(Archi.parse(model.hp.archi))
    gen = {part: getattr(model, part) for part in maps}
    for part, entries in maps.items():
        arrays = dfl.read_part(part)
        if arrays is None:
            raise D.DflImportError(f"{dfl.part_path(part)} is missing: a {kind} model needs its {part} weights")
        _load_exact(str(dfl.part_path(part)), gen[part], D.map_weights(str(dfl.part_path(part)), arrays, entries,
                                                                       _tensor_sd(gen[part])))
    opt = model.src_dst_opt
    arrays = dfl.read_part("src_dst_opt")
    if arrays is None:
        log("no optimizer file (src_dst_opt.npy): the optimizer state starts fresh, as after DeepFaceLab "
            "re-creates it; training continues from the imported weights")
    else:
        states = {"ms": "m", "vs": "v"} if "m" in opt.state_names else {"acc": "a"}
        named = dict(zip(opt.names, range(len(opt.names))))
        trained = {p for p in maps if any(n.startswith(p + ".") for n in named)}
        parts = {p: (maps[p], _tensor_sd(gen[p]), p + ".") for p in trained}
        try:
            state, step = D.map_optimizer(str(dfl.part_path("src_dst_opt")), arrays, states, parts)
        except D.DflImportError:
            if not any(k.startswith(tuple(states)) for k in arrays):
                raise D.DflImportError(f"{dfl.part_path('src_dst_opt')}: an optimizer of another kind than the "
                                       f"options say ({'AdaBelief' if 'm' in opt.state_names else 'RMSprop'})") \
                    from None
            raise
        sd = {"step": torch.tensor(step, dtype=torch.int64)}
        sd.update({k: torch.from_numpy(v) for k, v in state.items()})
        missing = [f"{s}.{n}" for s in opt.state_names for n in opt.names if f"{s}.{n}" not in sd]
        if missing:
            log(f"optimizer: {len(missing)} state tensors not in DeepFaceLab's file start at zero "
                f"(e.g. {missing[0]})")
        opt.load_state_dict(sd)
        log(f"optimizer state imported ({len(state)} tensors, step {step})")
    for extra in ("GAN", "GAN_opt", "code_discriminator", "D_code_opt"):
        if dfl.part_path(extra).exists():
            log(f"{dfl.part_path(extra).name}: the discriminator starts fresh in dfl-tui (as DeepFaceLab does "
                "when its patch size or dims change); the generator is imported exactly")
    model.iteration = dfl.iteration
    return model, opts, trainer


def _metrics_lines(dfl: D.DflModelFiles) -> list[dict[str, Any]]:
    """DFL's per-iteration loss history as metrics.jsonl lines (src_loss, dst_loss)."""
    hist = dfl.data.get("loss_history") or []
    lines = []
    now = round(time.time(), 3)
    for i, row in enumerate(hist, 1):
        try:
            vals = [float(x) for x in np.asarray(row, np.float64).reshape(-1)]
        except (TypeError, ValueError):
            continue
        names = ["src_loss", "dst_loss"] + [f"loss_{k}" for k in range(2, len(vals))]
        lines.append({"it": i, "t": now, "n": 1, "ms": 0.0, "sps": 0.0,
                      "loss": {n: round(v, 6) for n, v in zip(names, vals)}})
    return lines


def import_dfl(folder: str | Path, workspace: Any, name: str = "", *, which: str | None = None,
               log: Log = print) -> dict[str, Any]:
    """Import the DFL model in ``folder`` as ``model/<name>/`` of ``workspace``; returns a summary."""
    from . import checkpoint as ckpt
    from ..device import device_lines
    from .summary import summary_text

    dfl = D.open_dfl_model(folder, which)
    name = (name or dfl.name).strip()
    try:
        mdir = ModelDir.of(workspace, name)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if mdir.root.exists() and any(mdir.root.iterdir()):
        raise InputError(f"{mdir.root} already exists; choose another --name (an existing model is never "
                         "overwritten)")
    log(f"importing DeepFaceLab {dfl.model_class} model '{dfl.name}' at iteration {dfl.iteration} from {dfl.folder}")
    if dfl.model_class == "XSeg":
        return _import_xseg(dfl, mdir, log)
    model, opts, trainer = _import_faceswap(dfl, log)
    from .options import TRAINER_PERSISTED

    created = time.time()
    saved = {"format": "dfl-tui-model/1", "model": dfl.model_class, "options": opts,
             "trainer": {**TRAINER_PERSISTED, **trainer}, "fixed": _fixed(dfl.model_class), "created": created,
             "imported_from": {"tool": "DeepFaceLab", "folder": str(dfl.folder), "name": dfl.name,
                               "class": dfl.model_class, "iteration": dfl.iteration}}
    mdir.root.mkdir(parents=True, exist_ok=True)
    ckpt.save_checkpoint(mdir, model.state_dict_parts(), iteration=model.iteration, model=dfl.model_class,
                         trainer_state={"reason": "import-dfl"})
    mdir.write_options(saved)
    mdir.write_state({"model": dfl.model_class, "name": name, "iteration": model.iteration, "saved": created,
                      "saved_iteration": model.iteration})
    lines = _metrics_lines(dfl)
    if lines:
        atomic_write_text(mdir.metrics_path, "".join(json.dumps(x) + "\n" for x in lines), fsync=False)
    shown = dict(opts)
    if dfl.model_class == "Quick96":
        from ..models.quick96 import FIXED

        shown = {**FIXED, **shown}
    atomic_write_text(mdir.summary_path, summary_text(f"{name}_{dfl.model_class}", model.iteration,
                                                      {**shown, **saved["trainer"]}, device_lines(model.device)),
                      fsync=False)
    log(f"imported as model '{name}' ({mdir.root}); continue with: step 9 in the TUI, "
        f"or dfl-tui train --name {name}")
    return {"model": dfl.model_class, "name": name, "iteration": model.iteration, "path": str(mdir.root),
            "options": opts}


def _fixed(kind: str) -> list[str]:
    from .. import options as optmod
    from ..models.options import OPTIONS_CLASSES

    return [s.name for s in optmod.describe(OPTIONS_CLASSES[kind]) if s.fixed]


def _xseg_width(arrays: dict[str, Any], net_file: str) -> int:
    """The XSeg network's base width, from its first convolution (DeepFaceLab's is 32; ours may be 4..64)."""
    from ..xseg.options import XSegTrainOptions
    from .. import options as optmod

    first = arrays.get("conv01/conv/weight:0")
    shape = tuple(getattr(first, "shape", ()))
    spec = next(s for s in optmod.describe(XSegTrainOptions) if s.name == "base_ch")
    if len(shape) != 4 or not spec.min <= shape[3] <= spec.max:
        raise D.DflImportError(f"{net_file}.npy: conv01/conv/weight:0 has shape {list(shape)}, not [3, 3, 3, base] "
                               f"with base {int(spec.min)}..{int(spec.max)}: not an XSeg network")
    return int(shape[3])


def _import_xseg(dfl: D.DflModelFiles, mdir: ModelDir, log: Log) -> dict[str, Any]:
    import torch

    from ..faces.facetype import FaceType
    from ..models.optim import RMSprop
    from ..xseg.model import DFL_LAYOUT, FORMAT, NET_PART, OPT_PART
    from ..xseg.net import XSegNet
    from ..xseg.options import MODEL_NAME
    from . import checkpoint as ckpt

    res = 256
    net_file = f"XSeg_{res}"
    arrays = dfl.read_part(net_file)
    if arrays is None:
        raise D.DflImportError(f"{dfl.folder / (net_file + '.npy')} is missing: an XSeg model needs its weights")
    base = _xseg_width(arrays, net_file)
    if base != 32:
        log(f"base width {base} channels (DeepFaceLab's XSeg uses 32)")
    net = XSegNet(res, base, **DFL_LAYOUT)
    entries = D.xseg_map()
    _load_exact(net_file, net, D.map_weights(str(dfl.part_path(net_file)), arrays, entries, _tensor_sd(net)))
    opt = RMSprop(net.named_parameters(), lr=1e-4, lr_dropout=0.3)
    opt_arrays = dfl.read_part(net_file + "_opt")
    parts = {NET_PART: net.state_dict()}
    if opt_arrays is None:
        log(f"no optimizer file ({net_file}_opt.npy): the optimizer state starts fresh")
    else:
        state, step = D.map_optimizer(str(dfl.part_path(net_file + "_opt")), opt_arrays, {"acc": "a"},
                                      {"XSeg": (entries, _tensor_sd(net), "")})
        sd = {"step": torch.tensor(step, dtype=torch.int64), **{k: torch.from_numpy(v) for k, v in state.items()}}
        opt.load_state_dict(sd)
        log(f"optimizer state imported ({len(state)} tensors, step {step})")
    parts[OPT_PART] = opt.state_dict()
    o = dfl.options
    ft = FaceType.from_string(str(o.get("face_type", "wf")))
    fixed = {"face_type": ft.to_string() if hasattr(ft, "to_string") else str(o.get("face_type", "wf")),
             "resolution": res, "base_ch": base, **DFL_LAYOUT}
    mdir.root.mkdir(parents=True, exist_ok=True)
    ckpt.save_checkpoint(mdir, parts, iteration=dfl.iteration, model=MODEL_NAME, trainer_state={"reason": "import-dfl"})
    mdir.write_options({"format": FORMAT, "model": MODEL_NAME, "options": fixed,
                        "trainer": {"pretrain": bool(o.get("pretrain", False)),
                                    "batch_size": int(o.get("batch_size", 4) or 4)},
                        "fixed": list(fixed), "created": time.time(),
                        "imported_from": {"tool": "DeepFaceLab", "folder": str(dfl.folder), "class": "XSeg",
                                          "iteration": dfl.iteration}})
    log(f"imported as XSeg model {mdir.root}; use it with: dfl-tui xseg apply dst --model-dir {mdir.root}")
    return {"model": "XSeg", "name": mdir.name, "iteration": dfl.iteration, "path": str(mdir.root), "options": fixed}


__all__ = ["import_dfl"]
