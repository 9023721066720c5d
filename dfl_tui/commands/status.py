"""``dfl-tui status``: what each workflow step has produced."""

from __future__ import annotations

import argparse
import json

from ..workspace import Workspace, human_bytes


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def step_lines(st: dict) -> list[tuple[str, str, str]]:
    """(step number, title, what is there) for each workflow step."""

    def vid(side: str) -> str:
        return f"{st[side + '_video'].rsplit('/', 1)[-1]} ({human_bytes(st[side + '_video_bytes'])})" if st[side + "_video"] else "no video"

    models = st["models"]
    rows = [
        ("1", "Workspace", st["workspace"] + ("" if st["exists"] else " (not created yet)")),
        ("2", "Source frames", f"{vid('src')}; {st['src_frames']} frames in data_src/"),
        ("3", "Destination frames", f"{vid('dst')}; {st['dst_frames']} frames in data_dst/"),
        ("4", "Source faces", f"{st['src_faces']} faces in data_src/aligned" + (" (+ faceset.pak)" if st["src_packed"] else "")
         + (f", {st['src_trash']} in trash" if st["src_trash"] else "")),
        ("6", "Destination faces", f"{st['dst_faces']} faces in data_dst/aligned, {st['dst_debug']} debug frames"
         + (f", {st['dst_trash']} in trash" if st["dst_trash"] else "")),
        ("9", "Models", ", ".join(f"{m['name']} ({m.get('model') or '?'}, iter {m.get('iteration', 0)})" for m in models) or "none"),
        ("10", "Merged", f"{st['merged_frames']} frames in data_dst/merged, {st['merged_masks']} masks"),
        ("11", "Result", (f"result.mp4 ({human_bytes(st['result_bytes'])})" if st["result"] else "no result.mp4")
         + (" + result_mask.mp4" if st.get("result_mask") else "")),
    ]
    return rows


def run(args: argparse.Namespace) -> int:
    ws = Workspace.open(args.workspace)
    st = ws.status()
    if not st["exists"] and not args.json:
        print(f"workspace {ws.root} does not exist yet: run 'dfl-tui demo' or put data_src.mp4 and data_dst.mp4 there")
    from .. import jobs as jobsmod

    active = jobsmod.list_jobs(ws, active_only=True)
    st["active_jobs"] = [{"id": j["id"], "step": j.get("step"), "state": j.get("state"), "progress": j.get("progress")} for j in active]
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    for num, title, what in step_lines(st):
        print(f"{num:>3}  {title:<19} {what}")
    for j in st["active_jobs"]:
        prog = j.get("progress") or {}
        print(f"     job {j['id']}: {j['state']} {prog.get('done', 0)}/{prog.get('total') or '?'}")
    for line in leftover_lines(st):
        print(f"  !  {line}")
    return 0


def leftover_lines(st: dict) -> list[str]:
    """Warnings about what killed runs left (see Workspace.leftovers)."""
    lines = [f"interrupted operation in {folder}: {n} file(s) under temporary names (.txn-*); the next dfl-tui "
             f"job finishes it from the trash journal" for folder, n in (st.get("interrupted") or {}).items()]
    tmp = st.get("stale_temps") or {}
    if tmp.get("files"):
        lines.append(f"stale temporary files: {tmp['files']} ({human_bytes(tmp['bytes'])}) left by killed runs; the "
                     "next dfl-tui job removes them:")
        for folder, w in (tmp.get("folders") or {}).items():
            lines.append(f"   {folder} ({w['files']}, {human_bytes(w['bytes'])}, "
                         f"{'e.g. ' if w['files'] > 1 else ''}{w['biggest']})")
    return lines
