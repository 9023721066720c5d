"""Which torch device a step runs on: one set of rules for every ``--device``.

Every step that runs a network (extract-faces with s3fd, train, xseg train/apply,
merge, the benchmarks) declares its option with :func:`device_option` and turns it
into a device with :func:`pick_device` (or :func:`pick_devices` where the work can
be shared between GPUs). The rules:

* ``auto``: the current CUDA GPU if torch sees one, else Apple's MPS, else the CPU;
* ``cpu``, ``mps``, ``cuda`` (the current GPU), ``cuda:N``;
* where the step shares work between GPUs, ``cuda:0,1``.

An explicit device that is not there is an error naming what to use instead,
never a silent fall-back to the CPU. Importing this module does not import torch
(the options forms and ``dfl-tui --help`` use it); the functions that need torch
import it when called.
"""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "auto (a CUDA GPU, else Apple MPS, else the CPU), cpu, cuda, cuda:N or mps"
MULTI_HELP = DEVICE_HELP + "; cuda:0,1 shares the work between GPUs"

_ONE = re.compile(r"^(auto|cpu|mps|cuda|cuda:\d+)$")
_MANY = re.compile(r"^cuda:\d+(,\d+)+$")


def normalize(spec: str | None, *, multi: bool = False) -> str:
    """The spelling checked and made canonical (``" CUDA:1 "`` -> ``"cuda:1"``); ValueError if wrong."""
    s = (spec or "auto").strip().lower().replace(" ", "")
    if _ONE.match(s):
        return s
    if multi and _MANY.match(s):
        return "cuda:" + ",".join(dict.fromkeys(s[5:].split(",")))
    raise ValueError(f"{spec!r} is not a device; use {MULTI_HELP if multi else DEVICE_HELP}")


def device_option(help: str = "", *, multi: bool = False, advanced: bool = False) -> Any:
    """The ``device`` field of a step's options (default ``auto``), checked as it is set."""
    from .options import opt

    rules = MULTI_HELP if multi else DEVICE_HELP
    return opt("auto", f"{help}: {rules}" if help else rules, parse=partial(normalize, multi=multi),
               advanced=advanced)


def parse_devices(spec: str | None) -> list[str]:
    """``cuda:0,1`` -> ``["cuda:0", "cuda:1"]``; one device -> a list of one (``auto`` stays ``auto``)."""
    s = normalize(spec, multi=True)
    if s.startswith("cuda:") and "," in s:
        return [f"cuda:{i}" for i in s[5:].split(",")]
    return [s]


def _mps_available() -> bool:
    import torch

    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def pick_device(spec: str | None = "auto") -> "torch.device":
    """The torch device for ``spec`` by the rules above; :class:`InputError` when it is not there."""
    import torch

    try:
        s = normalize(spec)
    except ValueError as exc:
        raise InputError(f"device {exc}") from None
    if s == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    dev = torch.device(s)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {s}: no CUDA GPU is visible to torch here; use --device cpu or auto")
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        if idx >= torch.cuda.device_count():
            raise InputError(f"device {s}: only {torch.cuda.device_count()} CUDA device(s) here (cuda:0..)")
        return torch.device("cuda", idx)
    if dev.type == "mps" and not _mps_available():
        raise InputError("device mps: Apple's Metal backend is not available here; use --device cpu or auto")
    return dev


def pick_devices(spec: str | None = "auto") -> list["torch.device"]:
    """Like :func:`pick_device`, for steps that share work between GPUs (``cuda:0,1``)."""
    try:
        names = parse_devices(spec)
    except ValueError as exc:
        raise InputError(f"device {exc}") from None
    return list(dict.fromkeys(pick_device(n) for n in names))


def device_lines(device: "torch.device") -> list[tuple[str, str]]:
    """The "Running On" rows of a model's summary.txt."""
    import torch

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return [("Device index", str(device.index)), ("Name", props.name),
                ("VRAM", f"{props.total_memory / 2**30:.2f}GB")]
    if device.type == "mps":
        return [("Using device", "Apple MPS")]
    return [("Using device", "CPU")]


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is torch running out of device memory."""
    import torch

    if isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def oom_message(exc: BaseException, device: "torch.device", batch_size: int, res: int) -> str:
    """What to do after an out-of-memory error: a smaller batch, or a smaller model."""
    import torch

    extra = ""
    if device.type == "cuda":
        try:
            props = torch.cuda.get_device_properties(device)
            extra = f" on {props.name} ({props.total_memory / 2**30:.1f} GB)"
        except Exception:  # noqa: BLE001
            pass
    return (f"out of memory{extra} with batch size {batch_size} at {res}px: restart with a smaller "
            f"batch (--batch-size {max(1, batch_size // 2)}) or, for a new model, a smaller resolution "
            f"or fewer dims. ({str(exc).splitlines()[0][:160]})")


__all__ = ["DEVICE_HELP", "MULTI_HELP", "device_lines", "device_option", "is_oom", "normalize", "oom_message",
           "parse_devices", "pick_device", "pick_devices"]
