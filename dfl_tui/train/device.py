"""The training device: which one to use, how summary.txt names it, and out-of-memory errors.

Used by the trainer, the XSeg trainer and the benchmarks.
"""

from __future__ import annotations

import torch

from ..errors import InputError


def pick_device(spec: str) -> torch.device:
    """``auto`` (CUDA, then Apple MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; checked."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise InputError(f"device {spec!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {spec}: no CUDA GPU is visible to torch here; use --device cpu")
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        if idx >= torch.cuda.device_count():
            raise InputError(f"device {spec}: only {torch.cuda.device_count()} CUDA device(s) (cuda:0..)")
        return torch.device("cuda", idx)
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("device mps: Apple's Metal backend is not available here")
    return dev


def device_lines(device: torch.device) -> list[tuple[str, str]]:
    """The "Running On" rows of summary.txt."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return [("Device index", str(device.index)), ("Name", props.name),
                ("VRAM", f"{props.total_memory / 2**30:.2f}GB")]
    if device.type == "mps":
        return [("Using device", "Apple MPS")]
    return [("Using device", "CPU")]


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()



def oom_message(exc: BaseException, device: torch.device, batch_size: int, res: int) -> str:
    """What to do after an out-of-memory error: a smaller batch, or a smaller model."""
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


__all__ = ["device_lines", "is_oom", "oom_message", "pick_device"]
