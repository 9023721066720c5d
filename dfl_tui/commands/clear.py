"""``dfl-tui clear-workspace``: step 1, delete what is in the workspace (asks first)."""

from __future__ import annotations

import argparse
import sys

from ..workspace import Workspace


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def run(args: argparse.Namespace) -> int:
    ws = Workspace.open(args.workspace)
    entries = list(ws.entries())
    if not entries:
        print(f"{ws.root} is already empty")
        return 0
    from .. import jobs as jobsmod

    active = jobsmod.list_jobs(ws, active_only=True)
    if active:
        print(f"cannot clear: {len(active)} job(s) still running in {ws.root} (dfl-tui jobs cancel ID)", file=sys.stderr)
        return 1
    print(f"This deletes everything in {ws.root}:")
    for p in entries[:20]:
        print(f"  {p.name}{'/' if p.is_dir() else ''}")
    if len(entries) > 20:
        print(f"  ... and {len(entries) - 20} more")
    if not args.yes:
        if not sys.stdin.isatty():
            print("refusing to delete without confirmation: pass --yes", file=sys.stderr)
            return 1
        answer = input("Delete all of it? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing deleted")
            return 1
    removed = ws.clear()
    print(f"removed {len(removed)} item(s)")
    return 0
