"""``dfl-tui bench review --faces N [--json]``: how the reviewer copes with a big faceset.

Builds a synthetic set of N aligned faces (real metadata, real thumbnails in
``.thumbs/``) in a temporary workspace, in a child process so its memory does
not count, then opens the real app headless on the reviewer and reports:

* ``open_s``: from pushing the reviewer to the first screen with every visible
  thumbnail decoded;
* ``page_s``: the mean and worst time of a page-down until the new page's
  thumbnails are all drawn (``pages`` of them);
* ``end_s``: jumping to the last face, thumbnails drawn;
* ``peak_rss_mb``: the UI process's peak resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..util import bench as benchutil


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--faces", type=int, default=50_000, help="how many faces in the synthetic set [default: 50000]")
    p.add_argument("--pages", type=int, default=20, help="page-downs to time [default: 20]")
    p.add_argument("--size", default="200x60", help="terminal size COLSxROWS [default: 200x60]")
    p.add_argument("--keep", metavar="DIR", help="build the set in DIR and keep it (reused when it is there)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


async def measure(root: Path, pages: int, size: tuple[int, int]) -> dict[str, Any]:
    from .. import workflow
    from .app import DflApp
    from .screens.review import ReviewScreen

    app = DflApp(root, watch=False, poll_interval=None, load_user_config=False, theme="dfl-dark",
                 state_path=root / ".bench-state.json")
    out: dict[str, Any] = {}

    async def until(pilot: Any, cond: Any, timeout: float = 60.0) -> None:
        t0 = time.monotonic()
        while not cond():
            if time.monotonic() - t0 > timeout:
                raise TimeoutError("the reviewer did not finish drawing in time")
            await pilot.pause(0.002)

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        t0 = time.perf_counter()
        c0 = cpu()
        screen = ReviewScreen(workflow.get("review-src"))
        app.push_screen(screen)
        await until(pilot, lambda: screen.loaded and screen.grid.names and screen.grid.missing_visible() == 0)
        out["open_s"] = round(time.perf_counter() - t0, 3)
        out["open_cpu_s"] = round(cpu() - c0, 3)
        grid = screen.grid
        out["faces"] = len(grid.names)
        out["visible"] = len(grid.visible_range())
        times = []
        c0 = cpu()
        for _ in range(pages):
            t = time.perf_counter()
            await pilot.press("pagedown")
            await until(pilot, lambda: grid.missing_visible() == 0)
            times.append(time.perf_counter() - t)
        out["pages"] = len(times)
        out["page_cpu_s"] = round((cpu() - c0) / max(1, len(times)), 4)
        out["page_mean_s"] = round(sum(times) / max(1, len(times)), 4)
        out["page_max_s"] = round(max(times) if times else 0.0, 4)
        t = time.perf_counter()
        await pilot.press("end")
        await until(pilot, lambda: grid.missing_visible() == 0)
        out["end_s"] = round(time.perf_counter() - t, 4)
        t = time.perf_counter()
        await pilot.press("1")
        out["tag_s"] = round(time.perf_counter() - t, 4)
    return out


def run(args: argparse.Namespace) -> int:
    n = int(args.faces)
    cols, rows = (int(v) for v in str(args.size).lower().split("x"))
    tmp = None
    if args.keep:
        root = Path(args.keep).absolute()
    else:
        tmp = tempfile.mkdtemp(prefix="dfl-bench-review-")
        root = Path(tmp)
    folder = root / "data_src" / "aligned"
    try:
        t0 = time.perf_counter()
        have = sum(1 for e in os.scandir(folder) if e.name.endswith(".jpg")) if folder.is_dir() else 0
        if have != n:
            if folder.exists():
                shutil.rmtree(folder)
            code = ("import sys; from pathlib import Path; from dfl_tui.faceset.synthetic import make_set; "
                    f"make_set(Path(sys.argv[1]), {n})")
            subprocess.run([sys.executable, "-c", code, str(folder)], check=True)
        build_s = time.perf_counter() - t0
        if not args.json:
            print(f"synthetic set: {n} faces in {folder} (built in {build_s:.1f} s)", file=sys.stderr)
        res = asyncio.run(measure(root, int(args.pages), (cols, rows)))
        res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
        res["load_avg"] = round(os.getloadavg()[0], 2)
        res["cpus"] = os.cpu_count()
        res["terminal"] = f"{cols}x{rows}"
        res["build_s"] = round(build_s, 1)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(benchutil.format_pairs([
            ("faces", f"{res['faces']}  ({res['visible']} visible at {res['terminal']})"),
            ("open reviewer", f"{res['open_s'] * 1000:.0f} ms  (to every visible thumbnail drawn; "
                              f"{res['open_cpu_s'] * 1000:.0f} ms CPU)"),
            ("page down", f"{res['page_mean_s'] * 1000:.0f} ms mean, {res['page_max_s'] * 1000:.0f} ms worst "
                          f"over {res['pages']} pages (thumbnails drawn; {res['page_cpu_s'] * 1000:.0f} ms CPU each)"),
            ("jump to end", f"{res['end_s'] * 1000:.0f} ms"),
            ("tag a face", f"{res['tag_s'] * 1000:.0f} ms (key press incl. Pilot's pause)"),
            ("peak memory", f"{res['peak_rss_mb']:.0f} MB (UI process)"),
            ("machine", f"{res['cpus']} CPUs, load average {res['load_avg']} (times stretch on a busy machine; "
                        "CPU figures do not)"),
        ], width=15))
    return 0


main = benchutil.bench_main(__name__)


if __name__ == "__main__":
    sys.exit(main())
