"""``dfl-tui verify FILE``: report the synthetic-content marks of an image or a video.

Exit status: 0 when a mark is found (metadata or watermark), 1 when none is, 2 when
the file cannot be read. Light to import: the work happens in
:mod:`dfl_tui.provenance.verify` (numpy, OpenCV, PyAV; never torch).
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="+", help="image (PNG, JPEG...) or video (MP4, MKV...) to check")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("--max-frames", type=int, default=0, metavar="N",
                   help="videos: check N frames spread over the video (default: every frame)")


def run(args: argparse.Namespace) -> int:
    from ..errors import DflError
    from ..provenance.verify import summary_lines, verify_file

    reports = []
    status = 0
    for f in args.file:
        try:
            rep = verify_file(f, max_frames=max(0, args.max_frames))
        except DflError as exc:
            print(f"dfl-tui verify: {exc}", file=sys.stderr)
            reports.append({"file": f, "error": str(exc), "marked": False})
            status = max(status, 2)
            continue
        reports.append(rep)
        if not rep["marked"]:
            status = max(status, 1)
        if not args.json:
            print("\n".join(summary_lines(rep)))
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2, default=str))
    return status
