"""``dfl-tui jobs``: list, show, follow, cancel background jobs, read their logs."""

from __future__ import annotations

import argparse
import json
import sys

from ..util.fmt import describe_progress, fmt_age, progress_count
from ..workspace import Workspace


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", default="list", choices=["list", "show", "follow", "cancel", "log"],
                   help="list (default), show ID, follow ID, cancel ID, log ID")
    p.add_argument("job", nargs="?", help="job id (or a unique part of it)")
    p.add_argument("--all", action="store_true", help="list every job, not only the last 20")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from .. import jobs as jobsmod

    ws = Workspace.open(args.workspace)
    if args.action == "list":
        rows = jobsmod.list_jobs(ws, limit=None if args.all else 20)
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
            return 0
        if not rows:
            print(f"no jobs in {ws.root}")
            return 0
        for st in rows:
            err = st.get("error") or ""
            print(f"{st['id']:<44} {st.get('state', '?'):<10} {progress_count(st):<18} {fmt_age(st.get('created') or st.get('started')):<9} {err[:60]}")
        return 0
    if not args.job:
        print(f"dfl-tui jobs {args.action}: give a job id", file=sys.stderr)
        return 2
    try:
        run_dir = jobsmod.find(ws, args.job)
    except KeyError as exc:
        print(str(exc).strip("'\""), file=sys.stderr)
        return 1
    if args.action == "show":
        st = run_dir.read_status()
        if args.json:
            print(json.dumps(st, indent=2, default=str))
        else:
            for k in ("id", "step", "state", "pid", "detached", "error"):
                if st.get(k) is not None:
                    print(f"{k}: {st[k]}")
            print(f"progress: {describe_progress(st)}")
            if st.get("result"):
                print(f"result: {json.dumps(st['result'], default=str)}")
            if st.get("traceback"):
                print(st["traceback"])
            print(f"log: {run_dir.log_path}")
        return 0
    if args.action == "log":
        print(run_dir.log_tail(200))
        return 0
    if args.action == "cancel":
        alive = jobsmod.cancel(run_dir)
        print(f"asked {run_dir.id} to stop" if alive else f"{run_dir.id} is not running")
        return 0
    if args.action == "follow":
        from ..cli import follow_run

        return follow_run(run_dir, cancel_on_interrupt=False)
    return 2
