#!/usr/bin/env python3
"""DeepFaceLab's Quick96 trainer and dfl-tui's, on the same faces and the same machine, in turns.

    scripts/dfl-speed-compare.py --dfl DIR --dfl-python PY -w WORKSPACE [--iters 40] [--rounds 2] [--json]

``DIR`` is a DeepFaceLab checkout (``github:iperov/DeepFaceLab``) and ``PY`` a Python that runs
it (on this VM: Python 3.11, ``tensorflow-cpu==2.15.*``, ``numpy==1.23.5``, ``numexpr==2.8.4``,
``opencv-python-headless``, ``scipy``, ``pillow``, ``tqdm``, ``colorama``); nothing of it is part
of dfl-tui. Each round runs DeepFaceLab's ``main.py train --model Quick96 --cpu-only`` (batch 4,
96 px) on ``WORKSPACE/data_src/aligned`` and ``data_dst/aligned`` in a throw-away model folder
until it printed ``--iters`` iterations (the first 3 are warm-up), then
``dfl-tui bench train --model Quick96 --faces --json`` on the same workspace (with the Python
that runs this script: the project's ``.venv/bin/python``). Machines drift, so
the rounds alternate and the ratio is taken per round. Only the standard library: it runs
beside any venv.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ITER_LINE = re.compile(r"\]\[#(\d+)\]\[(\d+)ms\]")  # DeepFaceLab: [hh:mm:ss][#000012][2740ms][loss][loss]
WARMUP = 3


def iteration_ms(log: str) -> dict[int, int]:
    """Iteration number -> its time in ms, from DeepFaceLab's trainer output (lines end in \\r or \\n)."""
    return {int(m.group(1)): int(m.group(2)) for m in ITER_LINE.finditer(log)}


def run_dfl(dfl: Path, python: str, ws: Path, iters: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="dfl-q96-") as mdir:
        argv = [python, str(dfl / "main.py"), "train", "--training-data-src-dir", str(ws / "data_src" / "aligned"),
                "--training-data-dst-dir", str(ws / "data_dst" / "aligned"), "--model-dir", mdir,
                "--model", "Quick96", "--no-preview", "--cpu-only", "--force-model-name", "cmp", "--silent-start"]
        log_path = Path(mdir) / "log.txt"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, cwd=dfl, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            assert proc.stdin is not None
            proc.stdin.write(b"\n" * 64)  # any question it asks: its default
            proc.stdin.flush()
            t0 = time.monotonic()
            times: dict[int, int] = {}
            try:
                while proc.poll() is None and time.monotonic() - t0 < timeout:
                    time.sleep(2)
                    times = iteration_ms(log_path.read_text(errors="replace"))
                    if len(times) >= iters:
                        break
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # DFL's sample generators are child processes
                except ProcessLookupError:
                    pass
                proc.wait()
        text = log_path.read_text(errors="replace")
    times = iteration_ms(text)
    timed = [ms for i, ms in sorted(times.items()) if i > WARMUP]
    if not timed:
        return {"error": "DeepFaceLab printed no timed iteration; its output ended with:\n" + text[-1500:]}
    return {"iterations": len(timed), "median_ms": statistics.median(timed), "mean_ms": statistics.fmean(timed),
            "min_ms": min(timed)}


def run_ours(ws: Path, timeout: float, extra: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "dfl_tui", "-w", str(ws), "bench", "train", "--model", "Quick96",
                          "--faces", "--json", *extra], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        return {"error": out.stderr[-1500:]}
    doc = json.loads(out.stdout[out.stdout.index("{"):])
    return {"iteration_ms": doc.get("faces_iteration_ms"), "bare_step_ms": doc.get("faces_bare_step_ms"),
            "step_ms": doc.get("ms_per_iter"), "share_of_probe": doc.get("share_of_probe"),
            "probe_gflops": doc.get("probe_tflops") and doc["probe_tflops"] * 1000, "faces_error": doc.get("faces_error")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dfl", required=True, type=Path, help="a DeepFaceLab checkout (main.py in it)")
    p.add_argument("--dfl-python", required=True, help="the Python that runs DeepFaceLab (TensorFlow installed)")
    p.add_argument("-w", "--workspace", required=True, type=Path, help="a workspace with data_src/data_dst aligned")
    p.add_argument("--iters", type=int, default=40, help="DeepFaceLab iterations per round [default: 40]")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds [default: 2]")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per run at most [default: 900]")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--bench-args", default="", help="more arguments for dfl-tui bench train (e.g. \"--iters 20\")")
    a = p.parse_args(argv)
    if not (a.dfl / "main.py").is_file():
        p.error(f"{a.dfl}: no DeepFaceLab main.py there")
    for side in ("data_src", "data_dst"):
        if not any((a.workspace / side / "aligned").glob("*.jpg")):
            p.error(f"{a.workspace / side / 'aligned'}: no aligned JPEG faces (DeepFaceLab reads only those)")
    rounds = []
    for r in range(a.rounds):
        dfl = run_dfl(a.dfl, a.dfl_python, a.workspace, a.iters, a.timeout)
        ours = run_ours(a.workspace, a.timeout, a.bench_args.split())
        row = {"round": r + 1, "deepfacelab": dfl, "dfl_tui": ours}
        if dfl.get("median_ms") and ours.get("iteration_ms"):
            row["ratio"] = ours["iteration_ms"] / dfl["median_ms"]
        rounds.append(row)
        if not a.json:
            d = f"{dfl['median_ms'] / 1000:.2f} s/it (median of {dfl['iterations']})" if "median_ms" in dfl else dfl["error"]
            o = (f"{ours['iteration_ms'] / 1000:.2f} s/it full trainer, bare step {ours['bare_step_ms'] / 1000:.2f} s"
                 if ours.get("iteration_ms") else str(ours.get("error") or ours.get("faces_error")))
            ratio = f"  dfl-tui takes {row['ratio']:.2f}x DeepFaceLab's time" if "ratio" in row else ""
            print(f"round {r + 1}: DeepFaceLab {d}; dfl-tui {o}.{ratio}", flush=True)
    if a.json:
        print(json.dumps({"model": "Quick96", "batch": 4, "resolution": 96, "rounds": rounds}, indent=2))
    return 0 if all("ratio" in r for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
