"""Training benchmark: ``dfl-tui bench train --model SAEHD --res 128 --batch 8 [--json]``.

:func:`run_bench` builds a model, runs a few warm-up steps and then ``iters`` timed training steps on
random batches (or the batches given), and reports iterations/s, samples/s (a sample = one src + one
dst face), peak memory and, from :class:`torch.utils.flop_counter.FlopCounterMode` over one step, the
FLOPs per iteration and the achieved TFLOP/s.

"Share of peak" is measured, not looked up: probes of the machine's practical peak run between the
timed steps, in the precision the model computes in: a square matmul (:func:`matmul_probe`) and a
3x3 convolution (:func:`conv_probe`; on some CPUs, AMD's with Intel's MKL, the convolution library
is the faster of the two). The step's FLOP/s over the better probe's is a ratio taken on the same
machine in the same minutes, meaningful on any CPU or GPU and even when other processes share it. Step times are medians; the load average is reported with them.
On a known CUDA card the share of its data-sheet peak is given too.

Light at import (the CLI builds its parser from here); torch loads inside the functions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import threading
import time
from typing import Any

from ..util import bench as benchutil

# Dense peak TFLOP/s of common cards: (bf16 tensor, tf32 tensor, fp32 non-tensor). None: no such units.
# First match wins (so the more specific names come first).
PEAK_TFLOPS: list[tuple[str, tuple[float | None, float | None, float]]] = [
    (r"H100.*PCIe", (756.0, 378.0, 51.2)),
    (r"H100.*NVL", (835.0, 418.0, 60.0)),
    (r"H100|GH200", (989.4, 494.7, 66.9)),
    (r"H200", (989.4, 494.7, 66.9)),
    (r"B200", (2250.0, 1100.0, 80.0)),
    (r"A100", (312.0, 156.0, 19.5)),
    (r"L40S", (362.1, 183.0, 91.6)),
    (r"L40\b", (181.0, 90.5, 90.5)),
    (r"\bL4\b", (121.0, 60.0, 30.3)),
    (r"\bA10\b", (125.0, 62.5, 31.2)),
    (r"RTX 6000 Ada", (364.2, 182.1, 91.1)),
    (r"A6000", (154.8, 77.4, 38.7)),
    (r"4090", (165.2, 82.6, 82.6)),
    (r"4080", (97.5, 48.7, 48.7)),
    (r"3090 Ti", (80.0, 40.0, 40.0)),
    (r"3090", (71.0, 35.6, 35.6)),
    (r"3080", (59.5, 29.8, 29.8)),
    (r"V100", (None, None, 15.7)),
    (r"\bT4\b", (None, None, 8.1)),
]


def card_peak(name: str, bf16: bool) -> tuple[float | None, str]:
    """(peak TFLOP/s, which one) for a CUDA device name; (None, 'unknown') if not in the table.
    fp32 runs compare with the TF32 tensor peak (cuDNN convolutions use TF32 by default)."""
    for pattern, (b16, tf32, fp32) in PEAK_TFLOPS:
        if re.search(pattern, name, re.IGNORECASE):
            if bf16:
                return b16, "bf16 dense"
            return (tf32, "tf32 dense") if tf32 else (fp32, "fp32")
    return None, "unknown"


class _RssPeak:
    """Samples the process RSS in a thread (psutil) and keeps the peak."""

    def __init__(self, every: float = 0.005) -> None:
        import psutil

        self.proc, self.every, self.peak = psutil.Process(), every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.every)

    def __enter__(self) -> "_RssPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def _sync(dev: Any) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def matmul_probe(device: Any, bf16: bool = False, n: int | None = None, reps: int | None = None) -> float:
    """FLOP/s of square matmuls on ``device`` in the model's compute precision (bf16, or fp32 -
    which CUDA runs as TF32 when the model allows it): the practical peak a training step can
    approach. Sizes: 2048 on a CPU, 8192 on a GPU."""
    import torch

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    n = n or (8192 if cuda else 2048)
    reps = reps or (10 if cuda else 2)
    dtype = torch.bfloat16 if bf16 else torch.float32
    g = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(n, n, device=dev, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=dev, dtype=dtype, generator=g)
    a @ b  # warm-up (kernel choice, page faults)
    _sync(dev)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(dev)
    return 2.0 * n ** 3 * reps / (time.perf_counter() - t0)


def conv_probe(device: Any, bf16: bool = False, reps: int | None = None) -> float:
    """FLOP/s of a 3x3 convolution (batch 8, 256 -> 256 channels, 32x32 on a CPU, 64x64 on a GPU)
    in the model's compute precision and memory format: the kernels a training step spends its
    time in."""
    import torch
    import torch.nn.functional as F

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    size, reps = (64, reps or 20) if cuda else (32, reps or 2)
    dtype = torch.bfloat16 if bf16 else torch.float32
    fmt = torch.channels_last if cuda else torch.contiguous_format
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(8, 256, size, size, device=dev, dtype=dtype, generator=g).contiguous(memory_format=fmt)
    w = torch.randn(256, 256, 3, 3, device=dev, dtype=dtype, generator=g).contiguous(memory_format=fmt)
    with torch.no_grad():
        F.conv2d(x, w, padding=1)
        _sync(dev)
        t0 = time.perf_counter()
        for _ in range(reps):
            F.conv2d(x, w, padding=1)
        _sync(dev)
    return 2.0 * 8 * size * size * 256 * 256 * 9 * reps / (time.perf_counter() - t0)


def random_batch(res: int, batch: int, device: Any, seed: int = 0) -> dict[str, Any]:
    """Random images and blob masks in the layout train_step expects."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = {}
    for side in ("src", "dst"):
        for key in (f"warped_{side}", f"target_{side}"):
            out[key] = torch.rand(batch, 3, res, res, generator=g)
        mask = torch.zeros(batch, 1, res, res)
        mask[:, :, res // 6:res - res // 6, res // 5:res - res // 5] = 1
        em = torch.zeros_like(mask)
        em[:, :, res // 3:res // 2, res // 4:res - res // 4] = 1
        out[f"target_{side}m"], out[f"target_{side}m_em"] = mask, em
    return {k: v.to(device) for k, v in out.items()}


def run_bench(model: str = "SAEHD", res: int | None = None, batch: int | None = None, device: str | None = None,
              iters: int = 10, warmup: int = 3, options: dict[str, Any] | None = None,
              batches: list[dict[str, Any]] | None = None, count_flops: bool = True,
              probe_every: int = 5) -> dict[str, Any]:
    """Benchmark ``iters`` training steps of ``model`` (a matmul probe every ``probe_every`` steps);
    see the module docstring for the figures."""
    import torch

    from .registry import build_model, canonical_name

    name = canonical_name(model)
    from ..device import pick_device

    dev = pick_device(device or "auto")
    opts = dict(options or {})
    if res is not None and name != "Quick96":
        opts["resolution"] = res
    if batch is not None and name != "Quick96":
        opts["batch_size"] = batch
    cuda = dev.type == "cuda"
    with _RssPeak() as rss:
        t0 = time.perf_counter()
        net = build_model(name, opts, dev)
        build_s = time.perf_counter() - t0
        n = batch or net.sampler_config()["batch_size"]
        data = batches or [random_batch(net.resolution, n, dev)]

        def step(i: int) -> dict[str, float]:
            return net.train_step(data[i % len(data)] if net.needs_batch else None)

        for i in range(warmup):
            step(i)
        _sync(dev)
        if cuda:
            torch.cuda.reset_peak_memory_stats(dev)
        times, probes, convs = [], [], []
        for i in range(iters + 1):
            if i % probe_every == 0 or i == iters:
                probes.append(matmul_probe(dev, net.use_bf16))
                convs.append(conv_probe(dev, net.use_bf16))
            if i == iters:
                break
            t0 = time.perf_counter()
            losses = step(i)  # returns floats: each step ends with a device sync
            times.append(time.perf_counter() - t0)
        peak_mb = torch.cuda.max_memory_allocated(dev) / 2**20 if cuda else None
    flops = None
    if count_flops:
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            step(0)
        flops = counter.get_total_flops()
    load = os.getloadavg()
    step_s = statistics.median(times)
    it_s = 1.0 / step_s
    mm, cv = statistics.median(probes), statistics.median(convs)
    probe = max(mm, cv)
    out: dict[str, Any] = {
        "model": name, "resolution": net.resolution, "batch": n, "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if cuda else f"CPU ({torch.get_num_threads()} threads)",
        "precision": "bf16 autocast" if net.use_bf16 else "fp32",
        "channels_last": net.memory_format == torch.channels_last, "compile": bool(getattr(net.opts, "compile", False)),
        "options": {k: v for k, v in opts.items()}, "warmup": warmup, "iters": iters, "build_s": build_s,
        "it_per_s": it_s, "ms_per_iter": 1000 * step_s, "samples_per_s": it_s * n,
        "step_ms": [round(1000 * t, 2) for t in times], "load_avg": [round(x, 2) for x in load],
        "cpu_count": os.cpu_count(),
        "matmul_tflops": mm / 1e12, "conv_tflops": cv / 1e12, "probe_tflops": probe / 1e12,
        "probe_kind": f"{'bf16' if net.use_bf16 else 'fp32'} "
                      + (f"matmul {8192 if cuda else 2048}x{8192 if cuda else 2048}" if mm >= cv else
                         "3x3 convolution 256->256"),
        "share_of_probe": flops * it_s / probe if flops else None,
        "peak_mem_mb": peak_mb if cuda else rss.peak / 2**20,
        "peak_mem_kind": "torch.cuda.max_memory_allocated" if cuda else "process RSS (psutil)",
        "parameters": sum(p.numel() for p in net.parameters()),
        "flops_per_iter": flops, "tflops": flops * it_s / 1e12 if flops else None,
        "peak_tflops": None, "peak_kind": None, "share_of_peak": None, "last_losses": losses,
    }
    if cuda:
        peak, kind = card_peak(out["device_name"], net.use_bf16)
        out.update(peak_tflops=peak, peak_kind=kind,
                   share_of_peak=out["tflops"] / peak if peak and out["tflops"] else None)
    return out


# -- CLI -----------------------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="SAEHD", help="SAEHD, AMP or Quick96 [default: SAEHD]")
    p.add_argument("--res", type=int, default=None, help="resolution (SAEHD/AMP; default: the model's)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the model's)")
    from ..device import DEVICE_HELP

    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--iters", type=int, default=10, help="timed iterations [default: 10]")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up iterations [default: 3]")
    p.add_argument("--options", metavar="FILE.json", default=None, help="model options as JSON")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="one model option, e.g. --set archi=df-ud (repeatable)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None)
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--compile", action="store_true", help="torch.compile the training step")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--no-flops", action="store_true", help="skip the FLOP count")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if args.options:
        with open(args.options, encoding="utf-8") as f:
            opts.update(json.load(f))
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        opts[key.strip()] = value.strip()
    for key in ("precision", "channels_last"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    if args.compile:
        opts["compile"] = True
    return opts


def format_table(r: dict[str, Any]) -> str:
    return benchutil.format_pairs(table_rows(r))


def table_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures of :func:`run_bench` as (label, value) rows."""
    def fmt(v: Any, unit: str = "", digits: int = 2) -> str:
        return "-" if v is None else f"{v:,.{digits}f}{unit}"

    load = r.get("load_avg") or []
    rows = [
        ("model", f"{r['model']} res {r['resolution']} batch {r['batch']}"),
        ("device", f"{r['device']}  {r['device_name']}" + (f"  (load {' '.join(f'{x:.1f}' for x in load)} on "
                                                             f"{r.get('cpu_count')} cores)" if load else "")),
        ("precision", f"{r['precision']}{'  channels_last' if r['channels_last'] else ''}"
                      f"{'  compiled' if r['compile'] else ''}"),
        ("parameters", f"{r['parameters'] / 1e6:,.2f} M"),
        ("step", fmt(r["ms_per_iter"], " ms", 1) + f"  (median of {r['iters']} after {r['warmup']} warm-up; "
                                                     f"{fmt(r['it_per_s'], ' it/s', 3)})"),
        ("samples/s", fmt(r["samples_per_s"], digits=2) + "  (src+dst pairs)"),
        ("peak memory", fmt(r["peak_mem_mb"], " MiB", 0) + f"  ({r['peak_mem_kind']})"),
        ("FLOPs/iteration", fmt(r["flops_per_iter"] and r["flops_per_iter"] / 1e9, " GFLOP", 1)),
        ("achieved", fmt(r["tflops"] and r["tflops"] * 1000, " GFLOP/s", 1)),
        ("peak probe", fmt(r["probe_tflops"] * 1000, " GFLOP/s", 1) + f"  ({r['probe_kind']}, the faster of matmul "
                       f"{r['matmul_tflops'] * 1000:,.1f} and conv {r['conv_tflops'] * 1000:,.1f}, between the steps)"),
        ("share of peak", "-" if r.get("share_of_probe") is None else
         f"{100 * r['share_of_probe']:.0f} % of the probe's rate"),
    ]
    if r["device"].startswith("cuda"):
        share = "unknown card" if r["peak_tflops"] is None else \
            f"{100 * r['share_of_peak']:.1f} % of {r['peak_tflops']:g} TFLOP/s ({r['peak_kind']})"
        rows.append(("data-sheet peak", share))
    return rows


def bench_from_args(args: argparse.Namespace) -> tuple[dict[str, Any] | None, dict[str, Any], int]:
    """Run the benchmark the command line asks for: (result or None, the options used, exit code).

    Bad options and out-of-memory are explained on stdout instead of a traceback.
    """
    from ..options import OptionError

    try:
        opts = _options_from_args(args)
    except (OSError, ValueError) as e:
        print(f"error: {e}")
        return None, {}, 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        result = run_bench(args.model, args.res, args.batch, args.device, args.iters, args.warmup, dict(opts),
                           count_flops=not args.no_flops)
    except (KeyError, OptionError, TypeError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}")
        return None, dict(opts), 2
    except RuntimeError as e:
        if "out of memory" in str(e).lower():
            print("error: out of memory; try a smaller --batch or --res")
            return None, dict(opts), 1
        raise
    return result, dict(opts), 0


def run(args: argparse.Namespace) -> int:
    result, _opts, code = bench_from_args(args)
    if result is None:
        return code
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


main = benchutil.bench_main(__name__)


if __name__ == "__main__":
    raise SystemExit(main())
