"""The model API that the trainer, the merger and the benchmark use.

Images everywhere are **NCHW float in [0, 1], BGR channel order** (as OpenCV loads the aligned
faces and as DeepFaceLab's networks and ``.dfm`` exports expect). Masks are ``N,1,H,W`` in [0, 1].
uint8 tensors/arrays are accepted too and divided by 255 on the device (cheaper host->GPU copies).

A training batch is a dict with

    warped_src, target_src       N,3,R,R   warped input and unwarped target (same random affine)
    target_srcm, target_srcm_em  N,1,R,R   full-face mask, eyes+mouth mask
    warped_dst, target_dst, target_dstm, target_dstm_em   the same for dst

Usage::

    model = build_model("SAEHD", {"resolution": 128}, "cuda")
    model.load(model_dir, prefix="new_SAEHD_")          # tolerant: missing parts start fresh
    for batch in sampler:                               # sampler reads model.sampler_config()
        losses = model.train_step(batch)                # {"src_loss": .., "dst_loss": .., ...}
    model.save(model_dir, prefix="new_SAEHD_")          # one safetensors file per part, atomic
    swap, swap_mask, dst_mask = model.predict(dst_faces)  # merger
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from torch import nn

from .optim import Optimizer

Tensor = torch.Tensor


class LossPass(nn.Module):
    """The parameters one optimizer trains and the forward pass whose loss trains them.

    It is the unit a data-parallel wrapper wraps: under torchrun each pass becomes a
    :class:`torch.nn.parallel.DistributedDataParallel`, whose backward averages exactly these
    parameters' gradients over the processes (see :mod:`dfl_tui.train.distributed`). A pass is not a
    sub-module of its model, so ``parameters()``, ``state_dict()`` and the checkpoints are unchanged.
    """

    def __init__(self, fn: Callable[..., Any], params: list[nn.Parameter]) -> None:
        super().__init__()
        self.fn = fn
        self.params = nn.ParameterList(params)

    def forward(self, *args: Any) -> Any:
        return self.fn(*args)


class FaceSwapModel(nn.Module):
    name: ClassVar[str] = ""
    lr: ClassVar[float] = 5e-5
    resolution: int
    face_type: str  # DFL short key: h, mf, f, wf, head (FaceType.from_string accepts it)

    def __init__(self, opts: Any, device: Any = "cpu") -> None:
        super().__init__()
        self.opts = opts
        self.device = torch.device(device)
        self.iteration = 0
        cuda = self.device.type == "cuda"
        precision = getattr(opts, "precision", "auto")
        self.use_bf16 = precision == "bf16" or (precision == "auto" and cuda and torch.cuda.is_bf16_supported())
        if cuda and precision == "auto":  # TF32 matmuls/convs for what stays in fp32
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if cuda:
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
        cl = getattr(opts, "channels_last", None)
        self.memory_format = torch.channels_last if (cuda if cl is None else cl) else torch.contiguous_format

    # -- what each model provides --------------------------------------------------------------
    def parts(self) -> dict[str, nn.Module | Optimizer]:
        """Checkpoint parts in save order: sub-networks and optimizers by DFL's file names."""
        raise NotImplementedError

    def _generator_losses(self, b: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Forward + per-sample losses: ({"G", "src", "dst"}, tensors the discriminator steps reuse)."""
        raise NotImplementedError

    def _discriminator_losses(self) -> dict[str, tuple[Optimizer, Callable[..., Tensor]]]:
        """{reported loss name: (optimizer, fn(batch, aux) -> per-sample loss)} of each discriminator,
        stepped in this order after the generator."""
        return {}

    def discriminators(self) -> list[nn.Module]:
        return []

    def predict(self, dst: Tensor, morph_value: float | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """dst faces (N,3,R,R) -> (src face predicted from dst, its mask, the dst mask), float32 on the device."""
        raise NotImplementedError

    def preview(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Unwarped targets through the nets, float32 CPU tensors for the preview grid."""
        raise NotImplementedError

    def sampler_config(self) -> dict[str, Any]:
        """What the sample generator must produce for this model, with pretrain overrides applied:
        resolution, face_type (h/mf/f/wf/head), batch_size, random_warp, random_src_flip,
        random_dst_flip, flip_probability (0.4), uniform_yaw, ct_mode (None or rct/lct/mkl/idt/sot),
        random_hsv_power (warped src only), scale_range (+-), rotation_range (degrees),
        translation_range (fraction of res), eyes_mouth_mask (whether target_*m_em is read), pretrain."""
        raise NotImplementedError

    def display_options(self) -> dict[str, Any]:
        """The options as they are in effect (for summary.txt), e.g. with pretrain's overrides."""
        from ..options import to_dict

        return to_dict(self.opts)

    # -- set-up ---------------------------------------------------------------------------------
    def _finish_init(self) -> None:
        """Move to the device and memory format, make the optimizers, compile if asked."""
        self.to(self.device, memory_format=self.memory_format)
        for m in self.modules():
            if hasattr(m, "memory_format") and m is not self:
                m.memory_format = self.memory_format
        self._make_optimizers()
        g_fn = torch.compile(self._generator_losses) if getattr(self.opts, "compile", False) else self._generator_losses
        # One forward pass per optimizer; wrap_passes() lets torchrun's DDP wrap them.
        self.passes: dict[str, nn.Module] = {"G": LossPass(g_fn, self.src_dst_opt.params)}
        self._d_opts = {}
        for key, (opt, fn) in self._discriminator_losses().items():
            self.passes[key], self._d_opts[key] = LossPass(fn, opt.params), opt

    def wrap_passes(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Replace each loss pass by ``wrap(pass)`` (e.g. DistributedDataParallel)."""
        self.passes = {k: wrap(p) for k, p in self.passes.items()}

    def _make_optimizers(self) -> None:
        raise NotImplementedError

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16)

    @staticmethod
    def named_params(**modules: nn.Module | None) -> list[tuple[str, nn.Parameter]]:
        return [(f"{k}.{n}", p) for k, m in modules.items() if m is not None for n, p in m.named_parameters()]

    # -- training -------------------------------------------------------------------------------
    @property
    def needs_batch(self) -> bool:
        """False when the next train_step reuses the previous batch (Quick96, every 3rd iteration)."""
        return True

    def prepare(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Tensors (or arrays) to float32 on the device, images in the model's memory format."""
        out: dict[str, Tensor] = {}
        for k, v in batch.items():
            if isinstance(v, np.ndarray):
                v = torch.from_numpy(v)
            if not torch.is_tensor(v):
                continue
            v = v.to(self.device, non_blocking=True)
            v = v.float().div_(255) if v.dtype == torch.uint8 else v.float()
            if v.ndim == 4:
                if v.shape[-1] != self.resolution or v.shape[-2] != self.resolution:
                    raise ValueError(f"batch[{k!r}] is {tuple(v.shape)}; this model needs N,C,"
                                     f"{self.resolution},{self.resolution} (NCHW)")
                v = v.contiguous(memory_format=self.memory_format)
            out[k] = v
        return out

    def _batch_for_step(self, batch: dict[str, Any] | None) -> dict[str, Tensor]:
        if batch is None:
            raise ValueError(f"{self.name}.train_step needs a batch")
        return self.prepare(batch)

    def train_step(self, batch: dict[str, Any] | None) -> dict[str, float]:
        """One optimisation step on ``batch``; returns the batch-mean losses (one host sync)."""
        return self.losses_to_floats(self.train_step_async(batch))

    def train_step_async(self, batch: dict[str, Any] | None) -> dict[str, Tensor]:
        """One optimisation step on ``batch``, returning the batch-mean losses as 0-d tensors on the
        device without waiting for them: on a GPU the host can prepare the next batch while this
        step runs (the trainer reads the losses one step later)."""
        b = self._batch_for_step(batch)
        for d in self.discriminators():
            d.requires_grad_(False)  # the G loss must not fill D's gradients
        losses, aux = self.passes["G"](b)
        self.src_dst_opt.zero_grad()
        losses["G"].mean().backward()
        self.src_dst_opt.step()
        for d in self.discriminators():
            d.requires_grad_(True)
        report = {"src_loss": losses["src"].mean().detach(), "dst_loss": losses["dst"].mean().detach()}
        for key, opt in self._d_opts.items():
            opt.zero_grad()
            loss = self.passes[key](b, aux).mean()
            loss.backward()
            opt.step()
            report[key] = loss.detach()
        self.iteration += 1
        return report

    @staticmethod
    def losses_to_floats(losses: dict[str, Tensor]) -> dict[str, float]:
        """Loss tensors -> floats with one host sync."""
        return dict(zip(losses, torch.stack(list(losses.values())).float().tolist()))

    # -- inference helpers ----------------------------------------------------------------------
    @torch.no_grad()
    def predict_numpy(self, faces: np.ndarray, morph_value: float | None = None) -> tuple[np.ndarray, ...]:
        """NHWC BGR faces (uint8 or float [0,1]) -> (swap N,H,W,3, swap mask N,H,W,1, dst mask N,H,W,1) float32."""
        x = torch.from_numpy(np.ascontiguousarray(faces)).permute(0, 3, 1, 2)
        x = self.prepare({"x": x})["x"]
        return tuple(t.permute(0, 2, 3, 1).float().cpu().numpy() for t in self.predict(x, morph_value))

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict_parts(self) -> dict[str, dict[str, Tensor]]:
        """{part: {key: tensor}} as contiguous CPU copies (safe to write from another thread),
        plus "state": {"iteration"}."""
        out = {}
        for name, obj in self.parts().items():
            out[name] = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in obj.state_dict().items()}
        out["state"] = {"iteration": torch.tensor(self.iteration, dtype=torch.int64)}
        return out

    def load_parts(self, parts: dict[str, dict[str, Tensor]], strict: bool = False) -> list[str]:
        """Load what matches; a part, key or shape that does not match keeps its fresh init (as DFL
        does, allowing changes such as a new GAN patch size). Returns notes on what stayed fresh;
        with ``strict`` any such note raises KeyError."""
        notes: list[str] = []
        for name, obj in self.parts().items():
            sd = parts.get(name)
            if sd is None:
                notes.append(f"{name}: not in the checkpoint, initialised")
                continue
            if isinstance(obj, Optimizer):
                fresh = obj.load_state_dict(sd)
            else:
                fresh = []
                with torch.no_grad():
                    for k, t in obj.state_dict().items():
                        v = sd.get(k)
                        if v is None or v.shape != t.shape:
                            fresh.append(k)
                        else:
                            t.copy_(v)
            if fresh:
                notes.append(f"{name}: {len(fresh)} tensor(s) initialised ({', '.join(fresh[:3])}"
                             f"{', ...' if len(fresh) > 3 else ''})")
        if "state" in parts and "iteration" in parts["state"]:
            self.iteration = int(parts["state"]["iteration"])
        if strict and notes:
            raise KeyError("; ".join(notes))
        return notes

    @staticmethod
    def part_path(folder: str | Path, prefix: str, part: str) -> Path:
        return Path(folder) / f"{prefix}{part}.safetensors"

    def save(self, folder: str | Path, prefix: str = "") -> list[Path]:
        """Write each part to ``folder/<prefix><part>.safetensors`` atomically; returns the paths."""
        from safetensors.torch import save as st_save

        from ..util.atomic import atomic_write_bytes

        paths = []
        for part, sd in self.state_dict_parts().items():
            path = self.part_path(folder, prefix, part)
            atomic_write_bytes(path, st_save(sd, metadata={"model": self.name, "part": part, "format": "dfl-tui/1"}))
            paths.append(path)
        return paths

    def load(self, folder: str | Path, prefix: str = "", strict: bool = False) -> list[str]:
        """Load the parts found in ``folder``; see :meth:`load_parts`."""
        from safetensors.torch import load_file

        parts = {}
        for part in [*self.parts(), "state"]:
            path = self.part_path(folder, prefix, part)
            if path.exists():
                parts[part] = load_file(str(path), device="cpu")
        return self.load_parts(parts, strict=strict)

    def reinit(self, *names: str) -> None:
        """Fresh Glorot weights for the named sub-networks (e.g. the inters when pretraining ends)."""
        from .layers import glorot

        parts = self.parts()
        for name in names:
            for m in parts[name].modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    glorot(m)

    def describe(self) -> dict[str, Any]:
        """Facts for summary.txt: parameter counts per part, device, precision."""
        counts = {k: sum(p.numel() for p in m.parameters()) for k, m in self.parts().items() if isinstance(m, nn.Module)}
        dev = str(self.device)
        if self.device.type == "cuda":
            props = torch.cuda.get_device_properties(self.device)
            dev = f"{self.device} {props.name} ({props.total_memory / 2**30:.1f} GB)"
        return {"model": self.name, "iteration": self.iteration, "resolution": self.resolution,
                "face_type": self.face_type, "parameters": counts, "device": dev,
                "precision": "bf16 autocast" if self.use_bf16 else "fp32",
                "channels_last": self.memory_format == torch.channels_last}
