"""``dfl-tui evaluate``: a scorecard of a finished merge.

    dfl-tui evaluate                    # the merge in data_dst/merged, verdicts in plain words
    dfl-tui evaluate --model NAME       # ... checking that model NAME made it
    dfl-tui evaluate --json             # id_sim_src, id_sim_dst, pose_error_deg, landmark_error,
                                        # outside_ssim, flicker, marked_share and counts, for scripts

The work runs as a job in a worker process (the identity model and the landmark pipeline);
progress goes to stderr, the scorecard to stdout. It is also saved as evaluation.json in
the workspace. See the README ("Evaluating a merge") for what each number means.
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import options as optmod


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..evaluate.options import EvaluateOptions

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = __doc__
    optmod.add_arguments(p, EvaluateOptions)
    p.add_argument("--json", action="store_true", help="print only the figures and counts, as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from .. import jobs
    from ..cli import follow_run, workspace_from
    from ..evaluate.options import KEYS, EvaluateOptions
    from ..evaluate.report import verdict_lines

    ws = workspace_from(args)
    try:
        opts = optmod.from_namespace(EvaluateOptions, args)
    except optmod.OptionError as exc:
        print(f"dfl-tui evaluate: {exc}", file=sys.stderr)
        return 2
    run_ = jobs.start(ws, "evaluate", opts, detach=False)
    rc = follow_run(run_, quiet=True if args.json else args.quiet, as_json=False, print_result=False)
    if rc != 0:
        return rc
    res = (jobs.wait(run_, timeout=5).get("result") or {})
    if args.json:
        print(json.dumps({**{k: res.get(k) for k in KEYS}, "counts": res.get("counts") or {}}, indent=2))
    else:
        print("\n".join(verdict_lines(res)))
    return 0
