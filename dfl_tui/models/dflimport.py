"""Import DeepFaceLab's trained models (SAEHD, AMP, Quick96, XSeg) into dfl-tui.

A DeepFaceLab model folder holds, per model ``<name>_<Class>_``: ``data.dat`` (a pickle:
options, iteration, loss history), one ``<part>.npy`` per network and optimizer (despite the
name, a pickle of ``{TF variable path: numpy array}``), ``summary.txt``. XSeg writes
``XSeg_data.dat``, ``XSeg_256.npy`` and ``XSeg_256_opt.npy``. Every file is read through the
restricted unpickler (plain values and numpy arrays only), with a size limit.

Layout facts the mapping relies on (DeepFaceLab's ``core/leras``):

* convolution kernels are ``[kh, kw, in, out]`` -> ours ``[out, in, kh, kw]``; transposed
  convolutions ``[kh, kw, out, in]`` -> ours ``[in, out, kh, kw]``; dense ``[in, out]`` ->
  ours ``[out, in]``; flatten/reshape work in NCHW order in both, so dense layers need nothing
  more;
* ``depth_to_space`` is DCR (channel ``(dy * 2 + dx) * C + c``), PyTorch's ``pixel_shuffle``
  CRD (``c * 4 + dy * 2 + dx``): the output channels of every convolution that feeds an
  upscale are permuted (the ``-d`` head's four convolutions already fill sub-pixel ``k``
  each, so they map one to one);
* optimizer state: AdaBelief ``ms_<var>_0:0`` / ``vs_<var>_0:0``, RMSprop
  ``acc_<var>_0:0``, step counter ``iters:0``; each entry is permuted like its variable.

Every tensor of the file must land on exactly one of ours with the right shape, and every
one of ours must be filled: anything else is an :class:`ImportError_` naming the tensor
and both shapes. Nothing here imports DeepFaceLab.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import InputError

MAX_FILE_BYTES = 4 << 30  # a model file larger than this is refused (DFL's largest SAEHDs are ~2 GB)
MODEL_CLASSES = ("SAEHD", "AMP", "Quick96", "XSeg")


class DflImportError(InputError):
    """A DeepFaceLab model that cannot be imported exactly (missing, unknown or mismatched tensors)."""


# ---------------------------------------------------------------------------
# reading DeepFaceLab's files
# ---------------------------------------------------------------------------


def read_pickle(path: Path, limit: int = MAX_FILE_BYTES) -> Any:
    """A DeepFaceLab pickle (``.dat`` / ``.npy``) through the restricted reader, with a size limit."""
    from ..faces.dflimg import FaceFileError, restricted_loads

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DflImportError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if size > limit:
        raise DflImportError(f"{path}: {size / 2**30:.1f} GiB is larger than the {limit / 2**30:.0f} GiB limit "
                             "for a DeepFaceLab model file")
    try:
        return restricted_loads(path.read_bytes(), str(path), max_bytes=limit, max_alloc=limit)
    except FaceFileError as exc:
        raise DflImportError(str(exc).replace("metadata", "model data")) from None


@dataclass
class DflModelFiles:
    """One DeepFaceLab model found in a folder."""

    folder: Path
    model_class: str  # SAEHD, AMP, Quick96, XSeg
    name: str  # DFL's model name ("new", "liaeud"); "XSeg" for XSeg
    prefix: str  # file prefix: "<name>_<Class>_" ("XSeg_" for XSeg data, weights unprefixed)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def iteration(self) -> int:
        return int(self.data.get("iter", 0) or 0)

    @property
    def options(self) -> dict[str, Any]:
        return _plain(self.data.get("options") or {})

    def part_path(self, part: str) -> Path:
        if self.model_class == "XSeg":
            return self.folder / f"{part}.npy"
        return self.folder / f"{self.prefix}{part}.npy"

    def read_part(self, part: str) -> dict[str, np.ndarray] | None:
        """``{name: array}`` of a weight file, or None when the file is absent."""
        path = self.part_path(part)
        if not path.exists():
            return None
        d = read_pickle(path)
        if not isinstance(d, dict) or not all(isinstance(k, str) and isinstance(v, (np.ndarray, np.generic))
                                              for k, v in d.items()):
            raise DflImportError(f"{path}: not a DeepFaceLab weight file (expected a dict of name -> array)")
        return {k: np.asarray(v) for k, v in d.items()}


def _plain(v: Any) -> Any:
    """numpy scalars -> Python values, recursively (DFL stores options as np.int64 etc.)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


_DATA_RE = re.compile(r"^(?:(?P<name>.+)_)?(?P<cls>SAEHD|AMP|Quick96|XSeg)_data\.dat$")


def find_models(folder: Path) -> list[tuple[str, str, Path]]:
    """(DFL model name, class, data file) of every model in a DeepFaceLab model folder."""
    out = []
    for p in sorted(folder.glob("*_data.dat")):
        m = _DATA_RE.match(p.name)
        if m:
            out.append((m.group("name") or m.group("cls"), m.group("cls"), p))
    return out


def open_dfl_model(folder: str | Path, which: str | None = None) -> DflModelFiles:
    """The model in ``folder`` (``which``: its DFL name or ``name_Class`` when there are several)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DflImportError(f"{folder}: not a folder; give DeepFaceLab's model folder (workspace/model)")
    found = find_models(folder)
    if which:
        found = [f for f in found if which in (f[0], f"{f[0]}_{f[1]}", f[1])]
    if not found:
        raise DflImportError(f"{folder}: no DeepFaceLab model here (no <name>_<SAEHD|AMP|Quick96>_data.dat "
                             "or XSeg_data.dat)" + (f" named {which!r}" if which else ""))
    if len(found) > 1:
        names = ", ".join(f"{n}_{c}" for n, c, _ in found)
        raise DflImportError(f"{folder} holds several models ({names}); choose one with --dfl-model NAME")
    name, cls, data_path = found[0]
    data = read_pickle(data_path)
    if not isinstance(data, dict):
        raise DflImportError(f"{data_path}: not a DeepFaceLab model data file")
    prefix = "XSeg_" if cls == "XSeg" else f"{name}_{cls}_"
    return DflModelFiles(folder, cls, name, prefix, data)


# ---------------------------------------------------------------------------
# tensor layouts
# ---------------------------------------------------------------------------

# kinds of mapping: how a DFL array becomes ours
CONV, CONV_D2S, CONVT, DENSE, BIAS, BIAS_D2S, VEC, SCALAR = "conv", "conv_d2s", "convT", "dense", "bias", \
    "bias_d2s", "vec", "scalar"


def _d2s_perm(n: int) -> np.ndarray:
    """Index array p with ours[t] = dfl[p[t]] for ``n`` channels feeding a x2 depth-to-space."""
    oc = n // 4
    t = np.arange(n)
    return (t % 4) * oc + t // 4


def convert(kind: str, a: np.ndarray, target_shape: tuple[int, ...]) -> np.ndarray:
    """DFL array -> our layout (raises ValueError when the shapes cannot match)."""
    a = np.asarray(a, np.float32)
    if kind in (CONV, CONV_D2S):
        if a.ndim != 4:
            raise ValueError("expected a 4-d kernel")
        out = a.transpose(3, 2, 0, 1)
        if kind == CONV_D2S:
            out = out[_d2s_perm(out.shape[0])]
    elif kind == CONVT:
        if a.ndim != 4:
            raise ValueError("expected a 4-d kernel")
        out = a.transpose(3, 2, 0, 1)
    elif kind == DENSE:
        if a.ndim != 2:
            raise ValueError("expected a 2-d weight")
        out = a.T
    elif kind == BIAS_D2S:
        out = a.reshape(-1)[_d2s_perm(a.size)]
    elif kind in (BIAS, VEC, SCALAR):
        out = a
    else:  # pragma: no cover - a programming error
        raise AssertionError(kind)
    if kind in (VEC, SCALAR):
        if out.size != int(np.prod(target_shape)):
            raise ValueError("size differs")
        out = out.reshape(target_shape)
    if tuple(out.shape) != tuple(target_shape):
        raise ValueError("shape differs")
    return np.ascontiguousarray(out)


def unconvert(kind: str, t: np.ndarray, dfl_shape: tuple[int, ...]) -> np.ndarray:
    """Our layout -> DFL's (the inverse of :func:`convert`; used by the tests and to check a round trip)."""
    t = np.asarray(t, np.float32)
    if kind == CONV_D2S:
        inv = np.argsort(_d2s_perm(t.shape[0]))
        t = t[inv]
    if kind in (CONV, CONV_D2S, CONVT):
        return np.ascontiguousarray(t.transpose(2, 3, 1, 0))
    if kind == DENSE:
        return np.ascontiguousarray(t.T)
    if kind == BIAS_D2S:
        return t[np.argsort(_d2s_perm(t.size))]
    return t.reshape(dfl_shape)


# ---------------------------------------------------------------------------
# name maps: DFL variable path -> (our state-dict key, kind), per network
# ---------------------------------------------------------------------------

Entry = tuple[str, str, str]  # (dfl name without ":0", our key, kind)


def _conv(dfl: str, ours: str, d2s: bool = False) -> Iterator[Entry]:
    yield f"{dfl}/weight", f"{ours}.weight", CONV_D2S if d2s else CONV
    yield f"{dfl}/bias", f"{ours}.bias", BIAS_D2S if d2s else BIAS


def _dense(dfl: str, ours: str) -> Iterator[Entry]:
    yield f"{dfl}/weight", f"{ours}.weight", DENSE
    yield f"{dfl}/bias", f"{ours}.bias", BIAS


def _res(dfl: str, ours: str) -> Iterator[Entry]:
    yield from _conv(f"{dfl}/conv1", f"{ours}.conv1")
    yield from _conv(f"{dfl}/conv2", f"{ours}.conv2")


def encoder_map(t: bool, ours: str = "net") -> list[Entry]:
    """DeepFakeArchi's encoder (``t``: down1 res1 down2..5 res5; else down1/downs_0..3)."""
    out: list[Entry] = []
    if t:
        layers = [("down1", "d"), ("res1", "r"), ("down2", "d"), ("down3", "d"), ("down4", "d"), ("down5", "d"),
                  ("res5", "r")]
        for i, (name, kind) in enumerate(layers):
            out += _res(name, f"{ours}.{i}") if kind == "r" else _conv(f"{name}/conv1", f"{ours}.{i}.conv")
    else:
        for i in range(4):
            out += _conv(f"down1/downs_{i}/conv1", f"{ours}.{i}.conv")
    return out


def inter_map(t: bool) -> list[Entry]:
    out = [*_dense("dense1", "dense1"), *_dense("dense2", "dense2")]
    if not t:
        out += _conv("upscale1/conv1", "upscale.conv", d2s=True)
    return out


def decoder_map(t: bool, d: bool) -> list[Entry]:
    out: list[Entry] = []
    stages = 4 if t else 3
    for i in range(stages):
        out += _conv(f"upscale{i}/conv1", f"body.{2 * i}.conv", d2s=True)
        out += _res(f"res{i}", f"body.{2 * i + 1}")
    if d:
        out += _conv("out_conv", "rgb.convs.0")
        for k in (1, 2, 3):
            out += _conv(f"out_conv{k}", f"rgb.convs.{k}")
    else:
        out += _conv("out_conv", "rgb.0")
    n_mask = stages + (1 if d else 0)
    for i in range(n_mask):
        out += _conv(f"upscalem{i}/conv1", f"mask.{i}.conv", d2s=True)
    out += _conv("out_convm", f"mask.{n_mask}")
    return out


def amp_maps() -> dict[str, list[Entry]]:
    enc = [(a, "convs." + b, k) for a, b, k in encoder_map(True)] + list(_dense("dense1", "dense"))
    inter = list(_dense("dense2", "dense"))
    return {"encoder": enc, "inter_src": inter, "inter_dst": inter, "decoder": decoder_map(True, True)}


def saehd_maps(archi: Any) -> dict[str, list[Entry]]:
    enc, inter, dec = encoder_map(archi.t), inter_map(archi.t), decoder_map(archi.t, archi.d)
    if archi.type == "df":
        return {"encoder": enc, "inter": inter, "decoder_src": dec, "decoder_dst": dec}
    return {"encoder": enc, "inter_AB": inter, "inter_B": inter, "decoder": dec}


def _xseg_block(dfl: str, ours: str, transposed: bool = False) -> Iterator[Entry]:
    yield f"{dfl}/conv/weight", f"{ours}.0.weight", CONVT if transposed else CONV
    yield f"{dfl}/conv/bias", f"{ours}.0.bias", BIAS
    yield f"{dfl}/frn/weight", f"{ours}.1.weight", VEC
    yield f"{dfl}/frn/bias", f"{ours}.1.bias", VEC
    yield f"{dfl}/frn/eps", f"{ours}.1.eps", VEC
    yield f"{dfl}/tlu/tau", f"{ours}.2.tau", VEC


def xseg_map() -> list[Entry]:
    out: list[Entry] = []
    enc = [("conv01", "conv02"), ("conv11", "conv12"), ("conv21", "conv22"), ("conv31", "conv32", "conv33"),
           ("conv41", "conv42", "conv43"), ("conv51", "conv52", "conv53")]
    for lvl, names in enumerate(enc):
        for j, n in enumerate(names):
            out += _xseg_block(n, f"enc.{lvl}.{j}")
    out += [*_dense("dense1", "dense1"), *_dense("dense2", "dense2")]
    dec = [("up5", ("uconv53", "uconv52", "uconv51")), ("up4", ("uconv43", "uconv42", "uconv41")),
           ("up3", ("uconv33", "uconv32", "uconv31")), ("up2", ("uconv22", "uconv21")),
           ("up1", ("uconv12", "uconv11")), ("up0", ("uconv02", "uconv01"))]
    for i, (up, convs) in enumerate(dec):
        out += _xseg_block(up, f"ups.{i}", transposed=True)
        for j, n in enumerate(convs):
            out += _xseg_block(n, f"dec.{i}.{j}")
    out += _conv("out_conv", "out_conv")
    return out


# ---------------------------------------------------------------------------
# filling our tensors
# ---------------------------------------------------------------------------


def _strip(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def map_weights(source: str, arrays: dict[str, np.ndarray], entries: list[Entry],
                ours: dict[str, Any]) -> dict[str, np.ndarray]:
    """Our ``{key: array}`` for one network, from DFL's ``{name: array}``. Strict both ways."""
    by_dfl = {e[0]: e for e in entries}
    out: dict[str, np.ndarray] = {}
    for name, a in arrays.items():
        e = by_dfl.get(_strip(name))
        if e is None:
            raise DflImportError(f"{source}: tensor {name!r} {list(a.shape)} has no counterpart in dfl-tui's "
                                 "network (a DeepFaceLab variant this version does not know)")
        _, key, kind = e
        if key not in ours:  # pragma: no cover - a mapping bug
            raise DflImportError(f"{source}: internal mapping names {key!r}, which the network lacks")
        target = tuple(ours[key].shape)
        try:
            out[key] = convert(kind, a, target)
        except ValueError:
            raise DflImportError(f"{source}: tensor {name!r} has shape {list(a.shape)}, but dfl-tui's {key} "
                                 f"needs {list(target)} ({kind}); the options read from data.dat do not describe "
                                 "these weights") from None
    missing = [e for e in entries if e[1] not in out]
    if missing:
        e = missing[0]
        raise DflImportError(f"{source}: tensor {e[0] + ':0'!r} (for dfl-tui's {e[1]} "
                             f"{list(ours[e[1]].shape)}) is missing" + (f", and {len(missing) - 1} more"
                                                                         if len(missing) > 1 else ""))
    return out


def map_optimizer(source: str, arrays: dict[str, np.ndarray], state_names: dict[str, str],
                  parts: dict[str, tuple[list[Entry], dict[str, Any], str]]) -> tuple[dict[str, np.ndarray], int]:
    """Our optimizer state ``{"<state>.<prefix><key>": array}`` and the step from DFL's optimizer file.

    ``state_names``: DFL prefix -> ours (``{"ms": "m", "vs": "v"}`` or ``{"acc": "a"}``);
    ``parts``: DFL network scope -> (its entries, our state dict, our name prefix such as
    ``"encoder."``) — the networks the optimizer trains.
    """
    step = 0
    out: dict[str, np.ndarray] = {}
    maps = {scope: ({e[0]: e for e in entries}, sd, pre) for scope, (entries, sd, pre) in parts.items()}
    rx = re.compile(r"^(?P<st>[a-z]+)_(?P<scope>[^/]+)/(?P<rest>.+)_0(?::0)?$")
    for name, a in arrays.items():
        if _strip(name) == "iters":
            step = int(np.asarray(a).reshape(-1)[0])
            continue
        m = rx.match(name)
        if m is None or m.group("st") not in state_names or m.group("scope") not in maps:
            raise DflImportError(f"{source}: optimizer tensor {name!r} {list(a.shape)} has no counterpart in "
                                 f"dfl-tui (expected {'/'.join(state_names)}_<network>/<variable>_0:0 for "
                                 f"{', '.join(maps)})")
        by_dfl, sd, pre = maps[m.group("scope")]
        e = by_dfl.get(m.group("rest"))
        if e is None:
            raise DflImportError(f"{source}: optimizer tensor {name!r} {list(a.shape)} names a variable "
                                 f"{m.group('scope')}/{m.group('rest')} that the network does not have")
        _, key, kind = e
        target = tuple(sd[key].shape)
        try:
            out[f"{state_names[m.group('st')]}.{pre}{key}"] = convert(kind, a, target)
        except ValueError:
            raise DflImportError(f"{source}: optimizer tensor {name!r} has shape {list(a.shape)}, but it belongs "
                                 f"to {m.group('scope')}.{key} of shape {list(target)}") from None
    return out, step


# ---------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------

_SAEHD_KEYS = ("batch_size", "resolution", "face_type", "archi", "ae_dims", "e_dims", "d_dims", "d_mask_dims",
               "masked_training", "eyes_mouth_prio", "uniform_yaw", "blur_out_mask", "adabelief", "lr_dropout",
               "random_warp", "random_hsv_power", "gan_power", "gan_patch_size", "gan_dims", "true_face_power",
               "face_style_power", "bg_style_power", "ct_mode", "clipgrad", "pretrain", "random_src_flip",
               "random_dst_flip")
_AMP_KEYS = ("batch_size", "resolution", "face_type", "ae_dims", "inter_dims", "e_dims", "d_dims", "d_mask_dims",
             "morph_factor", "uniform_yaw", "blur_out_mask", "lr_dropout", "random_warp", "gan_power",
             "gan_patch_size", "gan_dims", "ct_mode", "clipgrad", "random_src_flip", "random_dst_flip")
# DFL options with no counterpart, and why they are dropped (reported, never silently).
_DROPPED = {"models_opt_on_gpu": "dfl-tui places everything on the training device",
            "choosed_gpu_indexes": "chosen again with --device"}


def model_options(dfl: DflModelFiles) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(model options, trainer options, notes) for our options.json from DFL's saved options."""
    o = dfl.options
    notes: list[str] = []
    keys = {"SAEHD": _SAEHD_KEYS, "AMP": _AMP_KEYS}.get(dfl.model_class, ())
    model = {k: o[k] for k in keys if k in o}
    if dfl.model_class == "SAEHD" and "archi" in model:
        model["archi"] = str(model["archi"]).lower()
    if model.get("gan_patch_size") is not None:
        model["gan_patch_size"] = int(model["gan_patch_size"])
    trainer = {}
    if "target_iter" in o:
        trainer["target_iter"] = int(o["target_iter"] or 0)
    if "autobackup_hour" in o:
        trainer["autobackup_hours"] = int(o["autobackup_hour"] or 0)
    if "write_preview_history" in o:
        trainer["write_preview_history"] = bool(o["write_preview_history"])
    used = set(keys) | {"target_iter", "autobackup_hour", "write_preview_history"}
    for k, v in o.items():
        if k in used:
            continue
        why = _DROPPED.get(k, "dfl-tui has no such option")
        notes.append(f"option {k}={v!r} not carried over ({why})")
    return model, trainer, notes


__all__ = ["DflImportError", "DflModelFiles", "MODEL_CLASSES", "amp_maps", "convert", "decoder_map",
           "encoder_map", "find_models", "inter_map", "map_optimizer", "map_weights", "model_options",
           "open_dfl_model", "read_pickle", "saehd_maps", "unconvert", "xseg_map"]
