"""``dfl-tui bench gpu [--json FILE] [--dry-run] [--quick]``: the GPU proof in one timed run.

Sections, in this order (each with its own time budget, all inside ``--budget`` seconds):

* ``probe``: the machine (torch, CUDA, cuDNN, card, driver) and the bf16 / fp32 / tf32 matmul
  TFLOP/s on random 8192^3 products: the measured peak every "share of peak" below refers to;
* ``faces``: real aligned faces (the demo portraits through the demo camera) in a scratch workspace;
* ``train_*``: training steps of Quick96 (batch 4 and 64) and SAEHD liae-ud 256 batch 16 in bf16
  autocast and fp32, channels_last on and off: it/s, samples/s, FLOPs per step (FlopCounterMode),
  TFLOP/s, share of the bf16 peak, peak memory;
* ``real_train``: the trainer itself on the real faces (Quick96, 300 iterations): it/s and the
  loss of the first and last metrics windows (it must fall);
* ``samples``: GPU augmentation ms per batch and face decoding samples/s per thread count;
* ``extract``: S3FD + 2DFAN frames/s on 1080p frames (random weights of the right shapes);
* ``merge``: the merge step's frames/s at 1080p with the model trained above;
* ``xseg``: XSeg training steps at batch 4 and 16;
* ``compile_*``: the training step under torch.compile (last: compilation takes the longest).

On a GPU each section runs in its own process with a timeout, so a crash, a hang or a slow
compile costs that section only; the JSON is rewritten after every section. ``--dry-run`` runs
every section on the CPU at tiny sizes (in this process unless ``--isolate``): the tests use it.

Light at import: torch loads in the sections.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..util import bench as benchutil

SCHEMA = "dfl-tui/bench-gpu/1"
MIN_SECTION_S = 12.0  # a section is skipped when less than this is left of the run's budget
SAEHD_256 = {"resolution": 256, "archi": "liae-ud"}


@dataclass
class Job:
    name: str
    section: str
    label: str
    budget: float  # seconds
    params: dict[str, Any] = field(default_factory=dict)


def plan(quick: bool = False, dry: bool = False) -> list[Job]:
    """The sections of a run, most important first (compilation last: it may not fit). A dry run
    leaves out Quick96's bigger batch, eager and compiled (the same code as the other runs)."""
    per_cfg = 2.5 if quick else 3.0
    jobs = [
        Job("probe", "probe", "matmul peak (bf16, fp32, tf32)", 45),
        Job("faces", "faces", "real aligned faces (demo portraits)", 40, {"n": 48, "size": 512}),
        Job("train_quick96_b4", "train", "Quick96 96px batch 4", 60,
            {"model": "Quick96", "batch": 4, "seconds_per_config": per_cfg}),
        Job("train_quick96_b64", "train", "Quick96 96px batch 64", 60,
            {"model": "Quick96", "batch": 64, "seconds_per_config": per_cfg}),
        Job("train_saehd256_b16", "train", "SAEHD liae-ud 256 batch 16", 90,
            {"model": "SAEHD", "batch": 16, "options": SAEHD_256, "seconds_per_config": per_cfg}),
        Job("real_train", "real_train", "trainer on real faces (Quick96)", 75,
            {"model": "Quick96", "iters": 150 if quick else 300}),
        Job("samples", "samples", "sample pipeline (SAEHD 256 batch 16)", 45, {"res": 256, "batch": 16}),
        Job("extract", "extract", "S3FD + 2DFAN extraction, 1080p", 60, {"frames": 16 if quick else 32}),
        Job("merge", "merge", "merge step, 1080p", 60, {"frames": 12 if quick else 16}),
        Job("xseg", "xseg", "XSeg training step 256", 45, {"batches": [4, 16]}),
    ]
    if not quick:
        jobs += [  # the smaller graph first: it compiles faster, so it is likelier to fit
            Job("compile_quick96_b64", "compile", "Quick96 batch 64, torch.compile", 100,
                {"model": "Quick96", "batch": 64}),
            Job("compile_saehd256_b16", "compile", "SAEHD liae-ud 256 batch 16, torch.compile", 150,
                {"model": "SAEHD", "batch": 16, "options": SAEHD_256}),
        ]
    if dry:
        jobs = [j for j in jobs if j.name not in ("train_quick96_b64", "compile_quick96_b64")]
    return jobs


# -- provenance ----------------------------------------------------------------------------------

def commit() -> dict[str, Any]:
    """The checkout's commit (git), else $DFL_TUI_COMMIT (scripts/gpu-check.sh sets it)."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode == 0 and head.stdout.strip():
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10)
            return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip()), "from": "git"}
    except (OSError, subprocess.SubprocessError):
        pass
    env = os.environ.get("DFL_TUI_COMMIT", "").strip()
    if env:
        sha, _, rest = env.partition(" ")
        return {"commit": sha, "dirty": "dirty" in rest, "from": "DFL_TUI_COMMIT"}
    return {"commit": None, "dirty": None, "from": "unknown"}


# -- running sections ------------------------------------------------------------------------------

class Interrupted(BaseException):
    """SIGTERM (the shell script's timeout): stop, keep what was measured. A BaseException, so
    that a section's ``except Exception`` does not take it for one configuration's failure."""


_STOP: list[str] = []  # set by the first SIGTERM: no section starts after it


def _on_sigterm(signum: int, frame: Any) -> None:
    if _STOP:
        return
    _STOP.append(f"stopped by signal {signum}")
    raise Interrupted(_STOP[0])


def run_section_here(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one section in this process; never raises (errors become the record)."""
    from .sections import SECTIONS, Section, error_text

    sec = Section(device=spec["device"], dry=spec["dry"], quick=spec["quick"], seconds=spec["seconds"],
                  scratch=Path(spec["scratch"]), params=dict(spec["params"]),
                  log=lambda m: print(f"  [{spec['name']}] {m}", flush=True))
    try:
        return {"status": "ok", "figures": SECTIONS[spec["section"]](sec)}
    except Exception as exc:  # noqa: BLE001 - recorded; the run goes on with the next section
        traceback.print_exc()
        return {"status": "error", "error": error_text(exc), "traceback": traceback.format_exc()[-3000:]}


def child_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    rec = run_section_here(spec)
    Path(spec["result"]).write_text(json.dumps(rec, default=_json_default))
    return 0


def run_section_isolated(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one section in a child process (own process group) with a timeout."""
    work = Path(spec["scratch"])
    spec = {**spec, "result": str(work / f"{spec['name']}.result.json")}
    spec_path = work / f"{spec['name']}.spec.json"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "dfl_tui.gpubench.run", "--child", str(spec_path)]
    kw: dict[str, Any] = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
    proc = subprocess.Popen(cmd, **kw)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return {"status": "timeout", "error": f"did not finish within its {timeout:.0f} s; stopped"}
    except BaseException:
        _kill_group(proc)
        raise
    _kill_group(proc)  # threads or compile workers it may have left behind
    res = Path(spec["result"])
    if res.is_file():
        try:
            return json.loads(res.read_text())
        except ValueError as exc:
            return {"status": "error", "error": f"unreadable result ({exc})"}
    return {"status": "error", "error": f"the section's process ended with code {rc} and no result "
                                        f"(killed by signal {-rc})" if rc < 0 else
                                        f"the section's process ended with code {rc} and no result"}


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def write_json(path: Path | None, result: dict[str, Any]) -> None:
    if path is None:
        return
    from ..util.atomic import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=2, default=_json_default) + "\n", fsync=False)


# -- figures derived across sections -----------------------------------------------------------------

def _ok(result: dict[str, Any], name: str) -> dict[str, Any] | None:
    rec = result["sections"].get(name)
    return rec["figures"] if rec and rec.get("status") == "ok" else None


def derive(result: dict[str, Any]) -> None:
    """Shares of the measured peaks, compile speed-ups, trainer overhead, samples needed."""
    probe = _ok(result, "probe") or {}
    peaks = {k: probe[k]["tflops"] for k in ("bf16", "fp32", "tf32") if isinstance(probe.get(k), dict)
             and probe[k].get("tflops")}
    result["peaks_tflops"] = peaks
    eager: dict[tuple, dict[str, Any]] = {}
    for name, rec in result["sections"].items():
        if rec.get("section") not in ("train", "compile") or rec.get("status") != "ok":
            continue
        figs = rec["figures"]
        for row in figs.get("configs", []):
            if row.get("tflops") and peaks.get("bf16"):
                row["share_of_bf16_peak"] = row["tflops"] / peaks["bf16"]
            own = peaks.get("bf16") if row.get("precision") == "bf16" else (peaks.get("tf32") or peaks.get("fp32"))
            if row.get("tflops") and own:
                row["share_of_precision_peak"] = row["tflops"] / own
            if not row.get("compile") and "it_per_s" in row:
                eager[(figs["model"], figs["batch"], row["precision"], row["channels_last"])] = row
    for name, rec in result["sections"].items():
        if rec.get("section") == "compile" and rec.get("status") == "ok":
            figs = rec["figures"]
            for row in figs["configs"]:
                base = eager.get((figs["model"], figs["batch"], row["precision"], row["channels_last"]))
                if base and row.get("it_per_s"):
                    row["speedup_vs_eager"] = row["it_per_s"] / base["it_per_s"]
                    if "flops_per_iter" not in row and base.get("flops_per_iter"):
                        row["flops_per_iter"] = base["flops_per_iter"]
                        row["tflops"] = base["flops_per_iter"] * row["it_per_s"] / 1e12
                        if peaks.get("bf16"):
                            row["share_of_bf16_peak"] = row["tflops"] / peaks["bf16"]
    derived: dict[str, Any] = {}
    real = _ok(result, "real_train")
    q4 = _ok(result, "train_quick96_b4")
    if real and q4 and real.get("trainer_it_per_s") and not result.get("dry_run"):
        # the trainer's defaults on CUDA: bf16 autocast (where supported) and channels_last
        base = next((r for r in q4["configs"] if r.get("precision") == "bf16" and r.get("channels_last")
                     and "it_per_s" in r), None)
        if base:
            derived["trainer_it_per_s_over_bare_step"] = real["trainer_it_per_s"] / base["it_per_s"]
    saehd = _ok(result, "train_saehd256_b16")
    smp = _ok(result, "samples")
    if saehd and smp:
        best = max((r["it_per_s"] for r in saehd["configs"] if "it_per_s" in r), default=None)
        if best:
            need = best * saehd["batch"]
            derived["samples_needed_per_side_per_s"] = need
            for row in smp.get("decode", []):
                if "samples_per_s" in row:
                    row["covers_best_saehd_step"] = row["samples_per_s"] >= need
    result["derived"] = derived


# -- the table -----------------------------------------------------------------------------------------

def _f(v: Any, digits: int = 2, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return f"{v:,.{digits}f}{unit}"
    return str(v)


def format_table(result: dict[str, Any]) -> str:
    env = result.get("env") or {}
    c = result.get("commit") or {}
    lines = [f"dfl-tui bench gpu — {env.get('device_name', result.get('device'))}"
             + ("  [DRY RUN: CPU, tiny sizes; the figures only show the code runs]" if result.get("dry_run") else ""),
             f"date {result.get('date')}  commit {(c.get('commit') or 'unknown')[:12]}{' (dirty)' if c.get('dirty') else ''}"
             f"  torch {env.get('torch')}  CUDA {env.get('cuda')}  cuDNN {env.get('cudnn')}"
             f"  driver {(env.get('nvidia_smi') or {}).get('driver_version', '-') if isinstance(env.get('nvidia_smi'), dict) else '-'}",
             f"run {_f(result.get('elapsed_s'), 0)} s of a {_f(result.get('budget_s'), 0)} s budget"]
    peaks = result.get("peaks_tflops") or {}
    lines.append("matmul peak (measured): " + ", ".join(f"{k} {v:,.1f} TFLOP/s" for k, v in peaks.items())
                 if peaks else "matmul peak: not measured")
    head = ["training step", "prec", "CL", "comp", "it/s", "ms/it", "smp/s", "TFLOP/s", "%bf16", "peak MiB", ""]
    rows: list[list[Any]] = []
    sections = result.get("sections", {})
    for name, rec in sections.items():
        if rec.get("section") not in ("train", "compile"):
            continue
        figs = rec.get("figures") or {}
        label = (f"{figs['model']} {figs.get('resolution', '?')}px b{figs['batch']}" if "model" in figs
                 else rec.get("label", name))[:30]
        if rec.get("status") != "ok":
            rows.append([label, f"{rec.get('status')}: {rec.get('error', '')}"[:120]])
            continue
        for row in rec["figures"].get("configs", []):
            if "it_per_s" not in row:
                rows.append([label, row.get("precision", ""), _f(row.get("channels_last")), _f(row.get("compile")),
                             f"error: {row.get('error', '')}"[:110]])
                continue
            share = row.get("share_of_bf16_peak")
            extra = f"compile {row['compile_s']:.0f} s, x{row.get('speedup_vs_eager', 0):.2f} vs eager" \
                if row.get("compile") else ""
            rows.append([label, row["precision"], _f(row["channels_last"]), _f(row["compile"]), f"{row['it_per_s']:.2f}",
                         f"{row['ms_per_iter']:.1f}", f"{row['samples_per_s']:.1f}", _f(row.get("tflops"), 2),
                         _f(share and 100 * share, 1), _f(row.get("peak_mem_mib"), 0), extra])
    lines += ["", benchutil.format_table(head, rows, align="llll" + "r" * 6 + "l"), ""]
    for name, rec in sections.items():
        sec = rec.get("section")
        if sec in ("train", "compile", "probe"):
            continue
        figs = rec.get("figures") if rec.get("status") == "ok" else None
        if figs is None:
            lines.append(f"{rec.get('label', name)}: {rec.get('status')}: {rec.get('error', '')}"[:200])
            continue
        if sec == "faces":
            lines.append(f"faces: {figs['faces_per_side']} per side, {figs['size']} px {figs['face_type']}, "
                         f"made in {figs['seconds']:.1f} s")
        elif sec == "real_train":
            lines.append(f"real training ({figs['model']}, the trainer, real faces): {figs['iterations']} iterations, "
                         f"{_f(figs['trainer_it_per_s'])} it/s; src+dst loss {figs['loss_first']:.4f} -> "
                         f"{figs['loss_last']:.4f} ("
                         + ("a dry run: too few iterations to judge" if result.get("dry_run")
                            else "falling" if figs["loss_falling"] else "NOT falling") + ")")
            d = (result.get("derived") or {}).get("trainer_it_per_s_over_bare_step")
            if d:
                lines.append(f"  trainer it/s over the bare bf16 step's: {d:.2f}")
        elif sec == "samples":
            aug = figs.get("augment_ms_per_batch_ct_none")
            lines.append(f"sample pipeline ({figs['resolution']} px batch {figs['batch']}): augmentation on "
                         f"{result.get('device')} "
                         f"{_f(aug, 2)} ms/batch (ct rct {_f(figs.get('augment_ms_per_batch_ct_rct'), 2)} ms); "
                         "decoding " + ", ".join(
                             (f"{r['processes']} proc" if r.get("processes") else f"{r['threads']} thr")
                             + (f" {r['samples_per_s']:.0f}/s" if "samples_per_s" in r else " error")
                             for r in figs.get("decode", [])))
            need = (result.get("derived") or {}).get("samples_needed_per_side_per_s")
            if need:
                lines.append(f"  the fastest SAEHD step needs {need:.0f} samples/s per side "
                             f"(trainer default {figs['default_threads']} threads per side)")
        elif sec == "extract":
            a, s = figs.get("accurate") or {}, figs.get("single_pass") or {}
            lines.append(f"extraction S3FD+2DFAN {figs['frame']}, batch {figs['batch_size']}: "
                         f"{_f(a.get('frames_per_s'))} frames/s with the second pass "
                         f"(detect {_f(a.get('detect_ms_per_frame'), 1)} + landmarks {_f(a.get('landmarks_ms_per_frame'), 1)}"
                         f" + refine {_f(a.get('refine_ms_per_frame'), 1)} ms/frame), {_f(s.get('frames_per_s'))} without")
        elif sec == "merge":
            for key, row in (figs.get("sizes") or {}).items():
                lines.append(f"merge {row['width']}x{row['height']} ({figs['model_type']} {figs['resolution']} px, "
                             f"{'trained here' if not figs.get('fresh_model') else 'fresh'}): {row['frames_per_s']:.2f} "
                             f"frames/s; inference {figs['inference_ms_per_face']:.1f} ms/face, composite "
                             f"{row['composite_ms']:.0f} ms, PNG {row['png_encode_ms']:.0f} ms per frame")
        elif sec == "xseg":
            lines.append("xseg training step: " + "; ".join(
                f"b{r['batch']} {r['it_per_s']:.2f} it/s ({r['faces_per_s']:.0f} faces/s, {_f(r.get('tflops'))} TFLOP/s,"
                f" peak {_f(r.get('peak_mem_mib'), 0)} MiB)" if "it_per_s" in r else f"b{r['batch']} error: {r['error']}"
                for r in figs.get("configs", [])))
    lines.append("")
    lines.append("sections: " + ", ".join(f"{n} {r.get('status')} {r.get('seconds', 0):.0f}s"
                                          for n, r in sections.items()))
    return "\n".join(lines)


# -- the command ----------------------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = "\n".join((__doc__ or "").splitlines()[2:18])
    p.add_argument("--json", metavar="FILE", default=None,
                   help="write every figure here (rewritten after each section) [default: none]")
    p.add_argument("--dry-run", action="store_true",
                   help="every section on the CPU at tiny sizes, in seconds: checks the code, not the speed")
    p.add_argument("--quick", action="store_true", help="fewer iterations and no torch.compile (a second try)")
    p.add_argument("--device", default=None, help="cuda, cuda:N (default: cuda; cpu with --dry-run)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds for the whole run; sections that no longer fit are skipped "
                        "[default: 330, 200 with --quick, unlimited with --dry-run]")
    p.add_argument("--only", default="", help="comma list of section names or kinds to run (e.g. probe,train)")
    p.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                   help="run each section in its own process with a timeout [default: on, off with --dry-run]")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if args.child:
        return child_main(args.child)
    device = args.device or ("cpu" if args.dry_run else "cuda")
    if not args.dry_run and device.startswith("cuda") and not _cuda_available():
        print("dfl-tui bench gpu: no CUDA GPU visible to torch here; use --dry-run to check the code on the CPU",
              file=sys.stderr)
        return 2
    budget = args.budget if args.budget is not None else (1e9 if args.dry_run else (200.0 if args.quick else 330.0))
    isolate = args.isolate if args.isolate is not None else not args.dry_run
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    jobs = [j for j in plan(args.quick, args.dry_run) if not only or j.name in only or j.section in only]
    if not jobs:
        print(f"dfl-tui bench gpu: --only {args.only!r} matches no section; sections: "
              + ", ".join(j.name for j in plan(args.quick)), file=sys.stderr)
        return 2
    json_path = Path(args.json) if args.json else None
    t_start = time.monotonic()
    result: dict[str, Any] = {
        "schema": SCHEMA, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit(),
        "device": device, "dry_run": bool(args.dry_run), "quick": bool(args.quick), "budget_s": None if args.dry_run
        else budget, "isolated": isolate, "argv": sys.argv[1:], "host": platform.node(),
        "env": {"python": platform.python_version(), "cpu_count": os.cpu_count()}, "sections": {},
    }
    _STOP.clear()
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    scratch = Path(tempfile.mkdtemp(prefix="dfl-tui-bench-gpu-"))
    print(f"dfl-tui bench gpu: {len(jobs)} sections on {device}"
          + (" (dry run: CPU, tiny sizes)" if args.dry_run else f", budget {budget:.0f} s") + f"; scratch {scratch}",
          flush=True)
    code = 0
    try:
        for job in jobs:
            left = budget - (time.monotonic() - t_start)
            rec: dict[str, Any] = {"section": job.section, "label": job.label, "params": job.params}
            if _STOP:
                raise Interrupted(_STOP[0])
            if left < MIN_SECTION_S:
                rec.update(status="skipped", error=f"the run's {budget:.0f} s budget was spent", seconds=0.0)
                result["sections"][job.name] = rec
                continue
            seconds = min(job.budget, left)
            spec = {"name": job.name, "section": job.section, "params": job.params, "device": device,
                    "dry": bool(args.dry_run), "quick": bool(args.quick), "seconds": seconds, "scratch": str(scratch)}
            print(f"== {job.name}: {job.label} (up to {seconds:.0f} s)", flush=True)
            t0 = time.monotonic()
            try:
                rec.update(run_section_isolated(spec, seconds + 20.0) if isolate else run_section_here(spec))
            except Interrupted as exc:
                rec.update(status="interrupted", error=str(exc))
                raise
            finally:
                if _STOP and rec.get("status") != "ok":  # a section that swallowed the signal
                    rec.update(status="interrupted", error=_STOP[0])
                rec["seconds"] = round(time.monotonic() - t0, 2)
                result["sections"][job.name] = rec
                if job.section == "probe" and rec.get("status") == "ok":
                    result["env"].update(rec["figures"].get("env") or {})
                result["elapsed_s"] = round(time.monotonic() - t_start, 1)
                derive(result)
                write_json(json_path, result)
            print(f"== {job.name}: {rec['status']} in {rec['seconds']:.1f} s"
                  + (f": {rec.get('error')}" if rec.get("status") != "ok" else ""), flush=True)
    except Interrupted:
        code = 1
        for job in jobs:
            result["sections"].setdefault(job.name, {"section": job.section, "label": job.label, "params": job.params,
                                                     "status": "skipped", "error": _STOP[0] if _STOP else "stopped",
                                                     "seconds": 0.0})
        print("dfl-tui bench gpu: stopped by a signal; the figures so far are kept", flush=True)
    finally:
        signal.signal(signal.SIGTERM, old)
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    result["elapsed_s"] = round(time.monotonic() - t_start, 1)
    derive(result)
    write_json(json_path, result)
    print()
    print(format_table(result))
    if json_path:
        print(f"\nJSON: {json_path}")
    bad = [n for n, r in result["sections"].items() if r.get("status") != "ok"]
    return code or (1 if bad else 0)


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


main = benchutil.bench_main(__name__)


if __name__ == "__main__":
    raise SystemExit(main())
