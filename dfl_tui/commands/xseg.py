"""``dfl-tui xseg ACTION ...``: DeepFaceLab's ``xseg`` commands without prompts.

::

    dfl-tui xseg train [--batch-size 8] [--iterations N] [--pretrain] ...   (detached by default)
    dfl-tui xseg apply src|dst              the trained model (model/XSeg) on a faceset
    dfl-tui xseg apply-generic src|dst      the generic whole-face mask (no model, no download)
    dfl-tui xseg remove src|dst             drop applied masks (backed up first)
    dfl-tui xseg remove-labels src|dst      drop the polygons (backed up first)
    dfl-tui xseg restore-labels src|dst     put the last removed polygons back
    dfl-tui xseg fetch src|dst              copy labelled faces to <aligned>_xseg
    dfl-tui xseg export-masks src|dst       masks as PNG files in <aligned>_masks
    dfl-tui xseg editor src|dst             label faces (opens the TUI's mask editor)

Light at import: the options modules only.
"""

from __future__ import annotations

import argparse
import sys

from .. import options as optmod
from ..xseg.options import ACTIONS, SIDES, XSegOptions, XSegTrainOptions

_HELP = {
    "train": "train the XSeg mask model on the labelled faces of src and dst (a background job)",
    "apply": "apply the trained XSeg model to a faceset (masks stored in the face files)",
    "apply-generic": "apply the generic whole-face mask (FaceMesh + forehead + skin; needs no model)",
    "remove": "remove the applied masks from a faceset (a backup is kept)",
    "remove-labels": "remove the hand-drawn polygons from a faceset (a backup is kept)",
    "restore-labels": "restore the polygons removed last (from the backup)",
    "fetch": "copy the labelled faces to <aligned>_xseg",
    "export-masks": "write each face's mask as <stem>_mask.png into <aligned>_masks",
    "editor": "open the mask editor on a faceset (the TUI)",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..cli import _Formatter, add_job_flags

    sub = p.add_subparsers(dest="xseg_action", metavar="ACTION", required=True)
    t = sub.add_parser("train", help=_HELP["train"], description=_HELP["train"], formatter_class=_Formatter)
    optmod.add_arguments(t, XSegTrainOptions)
    add_job_flags(t, detach_default=True)
    for action in ACTIONS:
        a = sub.add_parser(action, help=_HELP[action], description=_HELP[action], formatter_class=_Formatter)
        optmod.add_arguments(a, XSegOptions, exclude=("action",))
        add_job_flags(a)
    e = sub.add_parser("editor", help=_HELP["editor"], description=_HELP["editor"], formatter_class=_Formatter)
    e.add_argument("side", choices=SIDES, metavar="src|dst", help="which faceset to label")


def run(args: argparse.Namespace) -> int:
    from ..cli import run_step_command

    action = args.xseg_action
    if action == "editor":
        from .manual_extract import run_screen

        def make() -> object:
            from ..tui.screens.xseg_editor import XSegEditorScreen

            screen = XSegEditorScreen(side=args.side)
            screen.standalone = True
            return screen

        return run_screen(args, make)
    try:
        if action == "train":
            opts = optmod.from_namespace(XSegTrainOptions, args)
            return run_step_command(args, "xseg-train", opts)
        opts = optmod.from_namespace(XSegOptions, args, base={"action": action})
    except optmod.OptionError as exc:
        print(f"dfl-tui xseg {action}: {exc}", file=sys.stderr)
        return 2
    return run_step_command(args, "xseg", opts)
