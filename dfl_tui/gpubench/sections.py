"""The measurements of ``dfl-tui bench gpu``, one function per section.

Each section takes a :class:`Section` (device, sizes, its time budget, a scratch folder shared
with the other sections of the run) and returns a dict of figures. A section catches the
failure of one configuration itself (recording ``error`` beside the others); anything it
raises is recorded by the runner (:mod:`.run`), which goes on with the next section.

Sections use the project's own code: the models' ``train_step``
(:mod:`dfl_tui.models`), the trainer (:mod:`dfl_tui.train.trainer`, through
:func:`dfl_tui.jobs.run_inline`), the s3fd backend and :func:`~dfl_tui.faces.detect.base.find_faces`,
the merge benchmark (:func:`dfl_tui.merge.bench.run_bench`, the real ``merge`` step), the XSeg
trainer's step and the trainer's sample pipeline. FLOPs are counted by
:class:`torch.utils.flop_counter.FlopCounterMode` over one step, never estimated.

``dry`` (``--dry-run``) runs every section on the CPU at tiny sizes: bf16 autocast and
channels_last run there too, and ``torch.compile`` runs with the ``aot_eager`` backend
(dynamo tracing and AOT autograd, as on the GPU, without the minutes of C++ code generation).
"""

from __future__ import annotations

import contextlib
import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# Tiny sizes for --dry-run (CPU, seconds).
TINY_Q96 = dict(resolution=32, ae_dims=16, e_dims=8, d_dims=8, d_mask_dims=8)
TINY_SAEHD = dict(resolution=32, ae_dims=16, e_dims=8, d_dims=8, d_mask_dims=8)
# The trainer's options validate their ranges: the smallest SAEHD they accept (the tests' TINY).
TINY_TRAIN = dict(model="SAEHD", resolution=64, ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16, batch_size=4,
                  archi="df-ud")
# The training configurations: (precision, channels_last). "fp32" is what --precision fp32 gives a
# user: no autocast, torch's default TF32 settings (cuDNN convolutions in TF32, matmuls in fp32).
CONFIGS = (("bf16", True), ("bf16", False), ("fp32", True), ("fp32", False))


@dataclass
class Section:
    """What a section works with."""

    device: str  # "cuda", "cuda:1" or "cpu"
    dry: bool = False
    quick: bool = False
    seconds: float = 60.0  # this section's budget
    scratch: Path = Path(".")
    params: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = print
    t0: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.t0)

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")


def error_text(exc: BaseException) -> str:
    """One line naming the exception (the JSON keeps it; the log has the traceback)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:400]


def sync(device: Any) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


def free_memory(device: Any) -> None:
    import torch

    gc.collect()
    if str(device).startswith("cuda"):
        torch.cuda.empty_cache()


def _peak_reset(device: Any) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: Any) -> float | None:
    import torch

    if str(device).startswith("cuda"):
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return None


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of ``fn`` (matmuls and convolutions, forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def timed_loop(step: Callable[[], Any], device: Any, *, warmup: int, min_iters: int, max_iters: int,
               seconds: float) -> dict[str, Any]:
    """Warm up, then time ``step`` until ``max_iters`` or ``seconds`` (at least ``min_iters``)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync(device)
    warm_s = time.perf_counter() - t0
    _peak_reset(device)
    n = 0
    t0 = time.perf_counter()
    last = None
    while n < max_iters and (n < min_iters or time.perf_counter() - t0 < seconds):
        last = step()
        n += 1
    sync(device)
    el = time.perf_counter() - t0
    return {"iters": n, "warmup": warmup, "warmup_s": round(warm_s, 3), "seconds": round(el, 4),
            "it_per_s": n / el, "ms_per_iter": 1000 * el / n, "peak_mem_mib": _peak_mib(device), "last": last}


@contextlib.contextmanager
def compile_backend(backend: str | None) -> Any:
    """Make ``torch.compile`` (as the models call it) use ``backend`` while models are built."""
    import torch

    if not backend:
        yield
        return
    orig = torch.compile

    def patched(*args: Any, **kw: Any) -> Any:
        kw.setdefault("backend", backend)
        return orig(*args, **kw)

    torch.compile = patched  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.compile = orig  # type: ignore[assignment]


def tf32_flags() -> dict[str, bool]:
    import torch

    return {"matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32)}


# ---------------------------------------------------------------------------------------------
# probe: the machine and its matmul peak
# ---------------------------------------------------------------------------------------------


def environment(device: str) -> dict[str, Any]:
    """Versions and the device's facts (torch, CUDA, cuDNN, card, driver, CPU)."""
    import os
    import platform
    import shutil
    import subprocess

    import torch

    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "cuda": torch.version.cuda, "cpu_count": os.cpu_count(),
                           "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
                           "hostname": platform.node()}
    try:
        import cv2
        import numpy as np

        env.update(numpy=np.__version__, opencv=cv2.__version__)
    except ImportError:
        pass
    if torch.backends.cudnn.is_available():
        env["cudnn"] = torch.backends.cudnn.version()
    if device.startswith("cuda"):
        dev = torch.device(device)
        p = torch.cuda.get_device_properties(dev)
        env.update(device_name=p.name, capability=f"{p.major}.{p.minor}", gpu_memory_gib=round(p.total_memory / 2**30, 1),
                   multiprocessors=p.multi_processor_count, bf16_supported=torch.cuda.is_bf16_supported())
        smi = shutil.which("nvidia-smi")
        if smi:  # read-only queries: the card is measured as found
            try:
                q = "driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu,utilization.gpu"
                r = subprocess.run([smi, f"--query-gpu={q}", "--format=csv,noheader"], capture_output=True,
                                   text=True, timeout=15)
                env["nvidia_smi"] = dict(zip(q.split(","), [s.strip() for s in r.stdout.splitlines()[0].split(",")])) \
                    if r.returncode == 0 and r.stdout.strip() else r.stderr.strip()[:200]
            except (OSError, subprocess.SubprocessError, IndexError) as exc:
                env["nvidia_smi"] = error_text(exc)
    else:
        env["device_name"] = f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"
    return env


def matmul_tflops(n: int, dtype: Any, device: str, *, tf32: bool, seconds: float) -> dict[str, Any]:
    """TFLOP/s of an n x n x n matrix product on random data (median of timed repeats), and its
    relative error against float64 on a slice of rows."""
    import statistics

    import torch

    dev = torch.device(device)
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        g = torch.Generator(device=dev).manual_seed(1234)
        a = torch.randn(n, n, device=dev, generator=g).to(dtype)
        b = torch.randn(n, n, device=dev, generator=g).to(dtype)
        c = torch.full((n, n), float("nan"), device=dev, dtype=dtype)
        torch.matmul(a, b, out=c)
        rows = min(n, 64)
        ref = a[:rows].double() @ b.double()
        rel = float(torch.linalg.norm(c[:rows].double() - ref) / torch.linalg.norm(ref))
        for _ in range(2):
            torch.matmul(a, b, out=c)
        sync(dev)
        times: list[float] = []
        t_end = time.perf_counter() + seconds
        cuda = dev.type == "cuda"
        while len(times) < 5 or (time.perf_counter() < t_end and len(times) < 200):
            if cuda:
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record()
                torch.matmul(a, b, out=c)
                e1.record()
                e1.synchronize()
                times.append(e0.elapsed_time(e1) / 1000)
            else:
                t = time.perf_counter()
                torch.matmul(a, b, out=c)
                times.append(time.perf_counter() - t)
        med = statistics.median(times)
        return {"n": n, "dtype": str(dtype).replace("torch.", ""), "tf32": tf32, "repeats": len(times),
                "median_ms": round(med * 1000, 4), "tflops": 2 * n ** 3 / med / 1e12, "rel_err_vs_fp64": rel,
                "finite": bool(torch.isfinite(c).all())}
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


def probe(sec: Section) -> dict[str, Any]:
    """The environment and the matmul peaks (bf16 first: the reference for 'share of peak')."""
    import torch

    out: dict[str, Any] = {"env": environment(sec.device)}
    n = 256 if sec.dry else 8192
    for key, dtype, tf32 in (("bf16", torch.bfloat16, False), ("fp32", torch.float32, False),
                             ("tf32", torch.float32, True)):
        if key == "tf32" and not sec.cuda:
            continue  # TF32 is a CUDA matmul mode
        try:
            out[key] = matmul_tflops(n, dtype, sec.device, tf32=tf32, seconds=0.3 if sec.dry else 2.0)
        except Exception as exc:  # noqa: BLE001 - the other probes still count
            out[key] = {"error": error_text(exc)}
        sec.log(f"matmul {key}: " + (f"{out[key]['tflops']:.2f} TFLOP/s" if "tflops" in out[key] else out[key]["error"]))
    free_memory(sec.device)
    return out


# ---------------------------------------------------------------------------------------------
# training steps
# ---------------------------------------------------------------------------------------------


def build_face_model(sec: Section, model: str, options: dict[str, Any], runtime: dict[str, Any]) -> Any:
    """The project's model (``build_model``) with the runtime options; tiny in a dry run."""
    from ..models import build_model

    if not sec.dry:
        return build_model(model, {**options, **runtime}, sec.device)
    if model == "Quick96":
        from ..models.options import Quick96Options
        from ..models.quick96 import Quick96Model

        return Quick96Model(Quick96Options(**runtime), sec.device, sizes=dict(TINY_Q96))
    from ..models.options import SAEHDOptions

    keep = {k: v for k, v in options.items() if k in ("archi",)}
    return build_model(model, SAEHDOptions(**{**TINY_SAEHD, **keep, **runtime}), sec.device)


def _step_fn(net: Any, batch: dict[str, Any]) -> Callable[[], dict[str, float]]:
    def step() -> dict[str, float]:
        return net.train_step(batch if net.needs_batch else None)  # returns floats: one host sync
    return step


def train_config(sec: Section, model: str, batch: int, options: dict[str, Any], precision: str,
                 channels_last: bool, compile_: bool, seconds: float, flops: bool) -> dict[str, Any]:
    """One configuration of one model: it/s, samples/s, peak memory (and FLOPs per step)."""
    import torch

    from ..models.bench import random_batch

    dev = torch.device(sec.device)
    runtime = {"precision": precision, "channels_last": channels_last, "compile": compile_}
    t0 = time.perf_counter()
    with compile_backend("aot_eager" if (compile_ and sec.dry) else None):
        net = build_face_model(sec, model, options, runtime)
    net.train()
    build_s = time.perf_counter() - t0
    try:
        data = random_batch(net.resolution, batch, dev)
        step = _step_fn(net, data)
        row: dict[str, Any] = {"resolution": net.resolution, "build_s": round(build_s, 2),
                               "bf16_autocast": bool(net.use_bf16),
                               "memory_format": "channels_last" if net.memory_format == torch.channels_last
                               else "contiguous", **tf32_flags()}
        if compile_:
            t0 = time.perf_counter()
            step()  # the compilation
            sync(dev)
            row["compile_s"] = round(time.perf_counter() - t0, 2)
            row["compile_backend"] = "aot_eager" if sec.dry else "inductor"
        if sec.dry:
            timing = dict(warmup=0, min_iters=1, max_iters=1)
        elif sec.quick:
            timing = dict(warmup=2, min_iters=5, max_iters=30)
        else:
            timing = dict(warmup=2, min_iters=5, max_iters=200)  # cuDNN picks its kernels in the first step
        row.update(timed_loop(step, dev, seconds=seconds, **timing))
        row["samples_per_s"] = row["it_per_s"] * batch
        row["last_losses"] = row.pop("last")
        if flops:
            row["flops_per_iter"] = count_flops(step)
        return row
    finally:
        del net
        free_memory(dev)
        if compile_:
            torch._dynamo.reset()


def train(sec: Section) -> dict[str, Any]:
    """Training steps of one model and batch in each (precision, channels_last) configuration."""
    p = sec.params
    model, batch, options = p["model"], int(p["batch"]), dict(p.get("options") or {})
    if sec.dry:
        batch = min(batch, 2)
    configs = [tuple(c) for c in p.get("configs") or CONFIGS]
    out: dict[str, Any] = {"model": model, "batch": batch, "options": options, "configs": []}
    flops: int | None = None
    for i, (precision, cl) in enumerate(configs):
        row: dict[str, Any] = {"precision": precision, "channels_last": cl, "compile": False}
        # the timed loop's seconds: the plan's figure, less when the section's budget runs short
        share = max(1.0, min(float(p.get("seconds_per_config", 4.0)), sec.left() / (len(configs) - i) - 5.0))
        try:
            row.update(train_config(sec, model, batch, options, precision, cl, False, share, flops is None))
            flops = flops or row.get("flops_per_iter")
        except Exception as exc:  # noqa: BLE001 - one configuration failing (say out of memory) keeps the rest
            row["error"] = error_text(exc)
        out["configs"].append(row)
        out["resolution"] = row.get("resolution", out.get("resolution"))
        sec.log(f"{model} b{batch} {precision}{' channels_last' if cl else ''}: "
                + (f"{row['it_per_s']:.2f} it/s, peak {row['peak_mem_mib']} MiB" if "it_per_s" in row
                   else row["error"]))
    for row in out["configs"]:  # the same network and batch: the same FLOPs in every configuration
        if flops and "it_per_s" in row:
            row.setdefault("flops_per_iter", flops)
            row["tflops"] = row["flops_per_iter"] * row["it_per_s"] / 1e12
    out["flops_per_iter"] = flops
    return out


def compiled(sec: Section) -> dict[str, Any]:
    """The training step under ``torch.compile`` (bf16 autocast, channels_last): compile time and it/s."""
    p = sec.params
    model, batch, options = p["model"], int(p["batch"]), dict(p.get("options") or {})
    if sec.dry:
        batch = min(batch, 2)
    precision, cl = p.get("precision", "bf16"), bool(p.get("channels_last", True))
    # No FLOP count here: the counter would see compiled kernels, not aten ops (and could force a
    # recompilation); the runner takes the eager count of the same model and batch.
    row = train_config(sec, model, batch, options, precision, cl, True, max(1.0, min(10.0, sec.left() / 3)), False)
    sec.log(f"compiled {model} b{batch}: compile {row['compile_s']:.1f} s, {row['it_per_s']:.2f} it/s")
    return {"model": model, "batch": batch, "resolution": row.get("resolution"), "options": options, "configs": [
        {"precision": precision, "channels_last": cl, "compile": True, **row}]}


# ---------------------------------------------------------------------------------------------
# real faces: the workspace, the trainer, the sample pipeline, XSeg
# ---------------------------------------------------------------------------------------------


def workspace_root(sec: Section) -> Path:
    return sec.scratch / "workspace"


def faces(sec: Section) -> dict[str, Any]:
    """The run's workspace: aligned src and dst faces of the demo portraits (with XSeg masks)."""
    from .facesets import make_workspace

    n, size = (6, 64) if sec.dry else (int(sec.params.get("n", 48)), int(sec.params.get("size", 512)))
    t0 = time.perf_counter()
    ws = make_workspace(workspace_root(sec), n, size)
    return {"workspace": str(ws.root), "faces_per_side": n, "size": size, "face_type": "whole_face",
            "seconds": round(time.perf_counter() - t0, 2)}


def _workspace(sec: Section) -> Any:
    from ..workspace import Workspace

    root = workspace_root(sec)
    if not (root / "data_src" / "aligned").is_dir():
        faces(sec)
    return Workspace.open(root)


def real_train(sec: Section) -> dict[str, Any]:
    """The trainer itself (``dfl-tui train``: sample threads, GPU augmentation, steps, saves,
    previews) on the real faces; the loss must fall."""
    from .. import jobs
    from .. import options as optmod
    from ..train.modeldir import ModelDir
    from ..train.options import TrainOptions
    from ..util.atomic import read_jsonl

    ws = _workspace(sec)
    name = "gpu-proof"
    if sec.dry:
        data = {**TINY_TRAIN, "target_iter": 3}
    else:
        data = {"model": sec.params.get("model", "Quick96"), "target_iter": int(sec.params.get("iters", 300))}
    data.update(name=name, device=sec.device, seed=1, preview_every=100)
    opts = optmod.from_dict(TrainOptions, data)
    t0 = time.perf_counter()
    st = jobs.run_inline(ws, "train", opts)
    wall = time.perf_counter() - t0
    if st.get("state") != "done":
        raise RuntimeError(f"training ended {st.get('state')}: {st.get('error')}")
    res = st.get("result") or {}
    lines = [m for m in read_jsonl(ModelDir.of(ws, name).metrics_path)[0] if "loss" in m]
    if not lines:
        raise RuntimeError("the trainer wrote no loss lines to metrics.jsonl")

    def total(m: dict[str, Any]) -> float:
        return float(sum(v for k, v in m["loss"].items() if k in ("src_loss", "dst_loss")))

    first, last = total(lines[0]), total(lines[-1])
    out = {"model": data["model"], "iterations": res.get("iteration"), "trainer_it_per_s": res.get("it_per_s"),
           "wall_s": round(wall, 2), "loss_windows": len(lines), "loss_first": first, "loss_last": last,
           "loss_ratio": last / first if first else None, "loss_falling": last < first,
           "first_window_its": lines[0].get("n"), "last_window_its": lines[-1].get("n")}
    sec.log(f"trainer: {out['iterations']} iterations at {out['trainer_it_per_s']} it/s; "
            f"src+dst loss {first:.4f} -> {last:.4f}")
    return out


def samples(sec: Section) -> dict[str, Any]:
    """The sample pipeline for SAEHD 256 batch 16: GPU augmentation (the trainer's BatchMaker on the
    device) and face decoding (FaceSource threads, no cache) at 1 thread, the trainer's default and
    every core."""
    import os

    from ..faces.facetype import FaceType
    from ..train.bench import bench_augment
    from ..train.samples import FaceSource, default_processes, default_threads, load_faceset

    res, batch = (32, 2) if sec.dry else (int(sec.params.get("res", 256)), int(sec.params.get("batch", 16)))
    ws = _workspace(sec)
    cfg = build_face_model(Section("cpu", dry=sec.dry), "SAEHD", {"resolution": res, "batch_size": batch},
                           {}).sampler_config()
    cfg["resolution"] = res
    out: dict[str, Any] = {"resolution": res, "batch": batch, "face_type": cfg["face_type"]}
    for ct in ("none", "rct"):
        try:
            ms = bench_augment(res, batch, sec.device, cfg, iters=3 if sec.dry else 20, ct=ct)["augment_ms_per_batch"]
            out[f"augment_ms_per_batch_ct_{ct}"] = ms
            out[f"augment_samples_per_s_ct_{ct}"] = 2 * batch * 1000 / ms  # both sides per batch
        except Exception as exc:  # noqa: BLE001
            out[f"augment_ct_{ct}_error"] = error_text(exc)
    src = load_faceset(ws.aligned("src"))
    cores = os.cpu_count() or 1
    threads = sorted({1, default_threads(), cores})
    out["decode"] = []
    # threads, then the trainer's loader processes on a GPU (all cores but one): decoding scales with those
    for n, procs in [(t, 0) for t in threads] + [(default_threads(), default_processes("cuda"))]:
        fs = FaceSource(src, res, FaceType.from_string(cfg["face_type"]), batch, seed=0, cache_bytes=0, threads=n,
                        prefetch=4, label="src", processes=procs)
        try:
            fs.start()
            fs.next()
            k = 2 if sec.dry else 8
            t0 = time.perf_counter()
            for _ in range(k):
                fs.next()
            el = time.perf_counter() - t0
            row = {"threads": n, "processes": procs, "samples_per_s": k * batch / el, "batches": k}
        except Exception as exc:  # noqa: BLE001
            row = {"threads": n, "processes": procs, "error": error_text(exc)}
        finally:
            fs.close()
        out["decode"].append(row)
        how = f"{procs} loader process(es)" if procs else f"{n} thread(s)"
        sec.log(f"face decoding, {how}: " + (f"{row['samples_per_s']:.0f} samples/s" if "samples_per_s" in row
                                             else row["error"]))
    out["default_threads"] = default_threads()
    out["cpu_count"] = cores
    return out


def xseg(sec: Section) -> dict[str, Any]:
    """XSeg training steps (the XSeg trainer's own step) on the real faces, per batch size."""
    import torch

    from .. import options as optmod
    from ..jobs.context import Reporter
    from ..xseg.options import XSegTrainOptions
    from ..xseg.train import XSegTrainer

    ws = _workspace(sec)
    sizes = [2] if sec.dry else [int(b) for b in sec.params.get("batches", (4, 16))]
    dev = "cuda" if sec.cuda else "cpu"
    out: dict[str, Any] = {"configs": []}
    for bs in sizes:
        data = {"batch_size": bs, "seed": 1, "workers": 0, "device": dev, "restart": True,
                "model_dir": str(sec.scratch / f"xseg-b{bs}")}
        if sec.dry:
            data.update(resolution=64, base_ch=4)
        row: dict[str, Any] = {"batch": bs}
        tr = None
        try:
            tr = XSegTrainer(Reporter(ws), optmod.from_dict(XSegTrainOptions, data))
            tr.setup()
            fixed = tr.batches.next()
            real_batches = tr.batches

            class Fixed:
                def next(self) -> Any:
                    return fixed

                def close(self) -> None:
                    real_batches.close()

            tr.batches = Fixed()
            row.update(resolution=tr.res, base_ch=tr.base_ch, device=str(tr.device))
            if sec.dry:
                timing = dict(warmup=0, min_iters=1, max_iters=1)
            else:
                timing = dict(warmup=3, min_iters=5, max_iters=100 if sec.quick else 300)
            row.update(timed_loop(tr.step, tr.device, seconds=max(1.0, min(5.0, sec.left() / (2 * len(sizes)))),
                                  **timing))
            row["loss"] = row.pop("last")
            row["faces_per_s"] = row["it_per_s"] * bs
            row["flops_per_iter"] = count_flops(tr.step)
            row["tflops"] = row["flops_per_iter"] * row["it_per_s"] / 1e12
        except Exception as exc:  # noqa: BLE001
            row["error"] = error_text(exc)
        finally:
            if tr is not None and hasattr(tr, "batches"):
                tr.batches.close()
            del tr
            free_memory(torch.device(dev))
        out["configs"].append(row)
        sec.log(f"xseg b{bs}: " + (f"{row['it_per_s']:.2f} it/s" if "it_per_s" in row else row["error"]))
    return out


# ---------------------------------------------------------------------------------------------
# extraction and merging
# ---------------------------------------------------------------------------------------------


def random_s3fd_weights(folder: Path, seed: int = 0) -> Path:
    """A torch-hub folder with S3FD and 2DFAN weight files of the right shapes and random values.

    S3FD's classification heads are set to 'background everywhere' (zero weights, a large
    background bias) so that random weights do not flood NMS and FAN with thousands of boxes;
    every layer still runs, so the cost is that of the real network."""
    import torch
    from face_alignment import models as fa_models
    from face_alignment.detection.sfd.net_s3fd import s3fd

    from ..faces.detect import weights

    torch.manual_seed(seed)
    ck = folder / "checkpoints"
    ck.mkdir(parents=True, exist_ok=True)
    det = s3fd()
    with torch.no_grad():
        for name, mod in det.named_modules():
            if name.endswith("_mbox_conf"):
                mod.weight.zero_()
                mod.bias.fill_(8.0)
                mod.bias[-1] = -8.0
    torch.save(det.state_dict(), ck / weights.S3FD_FILE)
    torch.save(fa_models.FAN(4).state_dict(), ck / weights.FAN2D_FILE)
    return folder


def planted_boxes(backend: Any, frame_box: Callable[[Any], Any]) -> None:
    """Run S3FD's network on every image as usual, then report one face per image: ``frame_box(img)``
    (where the face is). Random weights find nothing; this keeps the landmark and second passes
    running as they would on real footage (one face per frame)."""
    import numpy as np

    real = backend._s3fd

    def s3fd_with_face(images: Any) -> list[Any]:
        real(images)
        return [np.asarray([[*frame_box(im), 0.99]], np.float32) for im in images]

    backend._s3fd = s3fd_with_face


def extract(sec: Section) -> dict[str, Any]:
    """S3FD + 2DFAN on 1080p frames, batched as extract-faces batches them (``find_faces`` over the
    backend's batch: one S3FD call per batch, one FAN call for all faces, the second pass)."""
    import cv2

    from ..faces.bench import synth_frames
    from ..faces.detect import create_backend
    from ..faces.detect.base import StageTimes, find_faces

    n = 1 if sec.dry else int(sec.params.get("frames", 48))
    w, h = (256, 144) if sec.dry else (1920, 1080)
    small = synth_frames(sec.scratch / "extract-frames", n, size=h // 2 if sec.dry else 512)
    frames = []
    for p in sorted(small.glob("*.png")):
        img = cv2.imread(str(p))
        big = cv2.resize(img, (h, h), interpolation=cv2.INTER_CUBIC)
        pad = (w - h) // 2
        frames.append(cv2.copyMakeBorder(big, 0, 0, pad, w - h - pad, cv2.BORDER_REFLECT))
    hub = random_s3fd_weights(sec.scratch / "s3fd-hub")
    backend = create_backend("s3fd", device=sec.device if sec.device != "cuda" else "cuda:0", weights_dir=hub)

    def face_box(img: Any) -> tuple[float, float, float, float]:
        ih, iw = img.shape[:2]
        s = 0.45 * min(ih, iw)  # Grace Hopper's face fills about this much of the synthetic frame
        return (iw / 2 - s / 2, ih * 0.42 - s / 2, iw / 2 + s / 2, ih * 0.42 + s / 2)

    planted_boxes(backend, face_box)
    bs = int(sec.params.get("batch_size") or backend.batch_size)
    out: dict[str, Any] = {"frame": f"{w}x{h}", "frames": n, "batch_size": bs, "fan_batch": backend.fan_batch,
                           "weights": "random (right shapes); one face per frame planted after S3FD's network",
                           "detector": backend.describe()}
    try:
        # the dry run (a CPU, FAN at 256 px) times the full pass only, without a warm-up
        for accurate in (True,) if sec.dry else (True, False):
            key = "accurate" if accurate else "single_pass"
            if not sec.dry:
                find_faces(backend, frames[:bs], accurate=accurate)  # warm-up: cuDNN autotune, allocations
            sync(sec.device)
            st = StageTimes()
            found = 0
            t0 = time.perf_counter()
            for i in range(0, n, bs):
                found += sum(len(f) for f in find_faces(backend, frames[i:i + bs], accurate=accurate, times=st))
            sync(sec.device)
            el = time.perf_counter() - t0
            out[key] = {"frames_per_s": n / el, "faces": found, "ms_per_frame": 1000 * el / n,
                        "detect_ms_per_frame": 1000 * st.detect / n, "landmarks_ms_per_frame": 1000 * st.landmarks / n,
                        "refine_ms_per_frame": 1000 * st.refine / n}
            sec.log(f"s3fd+fan {key}: {n / el:.2f} frames/s ({found} faces)")
        out["peak_mem_mib"] = _peak_mib(sec.device)
    finally:
        backend.close()
        del backend
        free_memory(sec.device)
    return out


def merge(sec: Section) -> dict[str, Any]:
    """The real merge step at 1080p (:func:`dfl_tui.merge.bench.run_bench`) with the model the
    real-training section trained (else, and it says so, a fresh Quick96)."""
    from ..merge.bench import run_bench

    frames = 2 if sec.dry else int(sec.params.get("frames", 16))
    return run_bench(device=sec.device, model="", model_type="", frames=frames,
                     sizes=("demo",) if sec.dry else ("1080p",), batch_size=int(sec.params.get("batch_size", 8)),
                     workers=0, workspace=_workspace(sec), log=sec.log)


SECTIONS: dict[str, Callable[[Section], dict[str, Any]]] = {
    "probe": probe, "faces": faces, "train": train, "compile": compiled, "real_train": real_train,
    "samples": samples, "xseg": xseg, "extract": extract, "merge": merge,
}
