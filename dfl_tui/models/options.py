"""Options of the SAEHD, AMP and Quick96 models (reference §6.3, §6.8, §6.9).

Light module (no torch): the CLI and the TUI import it to build the model form.
``fixed=True`` marks the options chosen once when a model is created (DFL's
"first run only" options); the others can be changed every time training restarts.
Trainer-wide settings (target iteration, autobackup, preview history, save interval,
device) belong to the trainer's options, not here.

Sampler-side options (uniform_yaw, random_warp, random_hsv_power, ct_mode, flips,
batch_size) are read by the sample generator through ``model.sampler_config()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..options import OptionError, opt, setattr_frozen

FACE_TYPES = ("h", "mf", "f", "wf", "head")
CT_MODES = ("none", "rct", "lct", "mkl", "idt", "sot")
LR_DROPOUT = ("n", "y", "cpu")
PRECISIONS = ("auto", "fp32", "bf16")


def check_archi(archi: str) -> str:
    """'df' or 'liae' plus optional '-' flags from u, d, t, c (each once); returns it normalised."""
    kind, _, flags = archi.strip().lower().partition("-")
    if kind not in ("df", "liae") or any(f not in "udtc" for f in flags) or len(set(flags)) != len(flags):
        raise OptionError(f"archi: {archi!r} is not df or liae optionally followed by -flags from u, d, t, c "
                          "(e.g. liae-ud, df-udt)")
    return kind + ("-" + "".join(f for f in "udtc" if f in flags) if flags else "")


def _even(v: int) -> int:
    return v + (v % 2)


def _round_res(res: int, multiple: int) -> int:
    return max(multiple, res // multiple * multiple)


# Options that several models share, declared once: name -> opt() arguments. Each class takes a fresh
# field with :func:`_shared` (a dataclass field belongs to one class), in its own order.
_SHARED: dict[str, dict] = {
    # How the model runs (every model): never fixed, not part of DFL's option set; declared last in each class.
    "precision": dict(default="auto", help="auto = bf16 autocast on CUDA GPUs that support it, fp32 elsewhere",
                      choices=PRECISIONS, advanced=True),
    "channels_last": dict(default=None, help="NHWC memory layout for the convolutions", unset="on for CUDA",
                          advanced=True),
    "compile": dict(default=False, help="torch.compile the training step (slow first iterations, then faster)",
                    advanced=True),
    # SAEHD and AMP
    "batch_size": dict(default=8, help="samples per iteration; lower it on out-of-memory errors", min=1, max=512),
    "ae_dims": dict(default=256, help="autoencoder bottleneck width", min=32, max=1024, fixed=True),
    "e_dims": dict(default=64, help="encoder base channels (even)", min=16, max=256, fixed=True),
    "d_dims": dict(default=64, help="decoder base channels (even)", min=16, max=256, fixed=True),
    "d_mask_dims": dict(default=22, help="mask decoder base channels (even; DFL suggests d_dims/3)", min=16, max=256,
                        fixed=True),
    "uniform_yaw": dict(default=False, help="sample faces uniformly over yaw (helps profile faces)"),
    "blur_out_mask": dict(default=False, help="blur the background next to the mask so it is not learned sharply"),
    "lr_dropout": dict(default="n", help="random update dropout (0.3 keep) with a 500-iteration cosine LR; "
                       "'cpu' = same", choices=LR_DROPOUT),
    "random_warp": dict(default=True, help="random warp of the input faces (turn off late in training)"),
    "gan_power": dict(default=0.0, help="patch GAN loss weight (0 = off)", min=0.0, max=5.0),
    "gan_patch_size": dict(default=None, help="GAN patch size; changing it resets the GAN", unset="resolution / 8",
                           min=3, max=640),
    "gan_dims": dict(default=16, help="GAN discriminator base channels", min=4, max=512),
    "ct_mode": dict(default="none", help="colour transfer of src samples toward dst", choices=CT_MODES),
    "clipgrad": dict(default=False, help="clip the gradient global norm at 1.0 (against collapse)"),
    "random_src_flip": dict(default=False, help="randomly flip src faces"),
    "random_dst_flip": dict(default=True, help="randomly flip dst faces"),
}


def _shared(name: str):
    """A fresh field for the shared option ``name`` (see :data:`_SHARED`)."""
    return opt(**_SHARED[name])


@dataclass
class SAEHDOptions:
    batch_size: int = _shared("batch_size")
    resolution: int = opt(128, "face size in pixels; rounded down to a multiple of 16 (32 with -d)",
                          min=64, max=640, fixed=True)
    face_type: str = opt("f", "h half, mf mid-full, f full, wf whole face, head", choices=FACE_TYPES, fixed=True)
    archi: str = opt("liae-ud", "df or liae, with flags -u -d -t -c (e.g. liae-ud, df-udt)", fixed=True)
    ae_dims: int = _shared("ae_dims")
    e_dims: int = _shared("e_dims")
    d_dims: int = _shared("d_dims")
    d_mask_dims: int = _shared("d_mask_dims")
    masked_training: bool = opt(True, "compute the losses inside the (blurred) face mask; always on for h/mf/f")
    eyes_mouth_prio: bool = opt(False, "extra weight on eyes and mouth (+300 x L1)")
    uniform_yaw: bool = _shared("uniform_yaw")
    blur_out_mask: bool = _shared("blur_out_mask")
    adabelief: bool = opt(True, "AdaBelief optimizer (off: RMSprop)")
    lr_dropout: str = _shared("lr_dropout")
    random_warp: bool = _shared("random_warp")
    random_hsv_power: float = opt(0.0, "random hue/saturation/value shift of src inputs", min=0.0, max=0.3)
    gan_power: float = _shared("gan_power")
    gan_patch_size: int | None = _shared("gan_patch_size")
    gan_dims: int = _shared("gan_dims")
    true_face_power: float = opt(0.0, "code discriminator weight, df archi only (0 = off)", min=0.0, max=1.0)
    face_style_power: float = opt(0.0, "face style transfer weight", min=0.0, max=100.0)
    bg_style_power: float = opt(0.0, "background style transfer weight", min=0.0, max=100.0)
    ct_mode: str = _shared("ct_mode")
    clipgrad: bool = _shared("clipgrad")
    pretrain: bool = opt(False, "pretrain on a generic faceset (forces warp off, flips on, uniform yaw, no GAN/style)")
    random_src_flip: bool = _shared("random_src_flip")
    random_dst_flip: bool = _shared("random_dst_flip")
    precision: str = _shared("precision")
    channels_last: bool | None = _shared("channels_last")
    compile: bool = _shared("compile")

    def check(self) -> None:
        archi = check_archi(self.archi)
        setattr_frozen(self, "archi", archi)
        setattr_frozen(self, "resolution", _round_res(self.resolution, 32 if "d" in archi.partition("-")[2] else 16))
        for name in ("e_dims", "d_dims", "d_mask_dims"):
            setattr_frozen(self, name, _even(getattr(self, name)))
        if self.true_face_power > 0 and not archi.startswith("df"):
            raise OptionError("true face power: only the df archi has a code discriminator; set it to 0")


@dataclass
class AMPOptions:
    batch_size: int = _shared("batch_size")
    resolution: int = opt(224, "face size in pixels; rounded down to a multiple of 32", min=64, max=640, fixed=True)
    face_type: str = opt("wf", "f full, wf whole face, head", choices=("f", "wf", "head"), fixed=True)
    ae_dims: int = _shared("ae_dims")
    inter_dims: int = opt(1024, "inter channels (the morphable code)", min=32, max=2048, fixed=True)
    e_dims: int = _shared("e_dims")
    d_dims: int = _shared("d_dims")
    d_mask_dims: int = _shared("d_mask_dims")
    morph_factor: float = opt(0.5, "share of inter channels taken from src while training", min=0.1, max=0.5,
                              fixed=True)
    uniform_yaw: bool = _shared("uniform_yaw")
    blur_out_mask: bool = _shared("blur_out_mask")
    lr_dropout: str = _shared("lr_dropout")
    random_warp: bool = _shared("random_warp")
    gan_power: float = _shared("gan_power")
    gan_patch_size: int | None = _shared("gan_patch_size")
    gan_dims: int = _shared("gan_dims")
    ct_mode: str = _shared("ct_mode")
    clipgrad: bool = _shared("clipgrad")
    random_src_flip: bool = _shared("random_src_flip")
    random_dst_flip: bool = _shared("random_dst_flip")
    train_inters: bool = opt(False, "also train inter_src/inter_dst (DeepFaceLab keeps them at their random init)",
                             advanced=True)
    precision: str = _shared("precision")
    channels_last: bool | None = _shared("channels_last")
    compile: bool = _shared("compile")

    def check(self) -> None:
        setattr_frozen(self, "resolution", _round_res(self.resolution, 32))
        for name in ("e_dims", "d_dims", "d_mask_dims"):
            setattr_frozen(self, name, _even(getattr(self, name)))


@dataclass
class Quick96Options:
    """Quick96 has no model options in DeepFaceLab: res 96, full face, df-ud, ae 128, e/d 64, mask 16,
    batch 4, RMSprop 2e-4 with lr dropout, random warp, no flips. Only the runtime options remain."""

    precision: str = _shared("precision")
    channels_last: bool | None = _shared("channels_last")
    compile: bool = _shared("compile")


OPTIONS_CLASSES = {"SAEHD": SAEHDOptions, "AMP": AMPOptions, "Quick96": Quick96Options}
