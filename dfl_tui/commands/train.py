"""``dfl-tui train``: train SAEHD, AMP or Quick96 (DeepFaceLab's step 9).

    dfl-tui train --model Quick96 --target-iter 300
    dfl-tui train --model SAEHD --name mymodel --options saehd.json --device cuda:0 --detach
    dfl-tui train --name mymodel --batch-size 4          # restart with a smaller batch
    dfl-tui train --name mymodel --request save          # ask the running training to save now

The training always runs as a background job in its own session, so it survives the terminal
(an SSH drop, a closed tmux pane). Without ``--detach`` this command follows it: Ctrl+C stops it
(saving first), Ctrl+C twice leaves it running. Options are chosen once, when the model is created
(flags, or ``--options FILE.json``); on a restart the options you give replace the saved ones,
except those fixed at creation (resolution, face type, archi, dims...), which stay and are named.
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import options as optmod

REQUESTS = ("save", "backup", "preview", "stop")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..cli import add_job_flags
    from ..train.options import TrainOptions

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = __doc__
    optmod.add_arguments(p, TrainOptions)
    g = add_job_flags(p, always_detached="start it and return (it runs in the background either way); follow "
                                         "later with 'dfl-tui jobs follow ID' or the TUI")
    g.add_argument("--show-options", action="store_true",
                   help="print the model's saved options as JSON (usable with --options) and exit")
    g.add_argument("--request", choices=REQUESTS, default=None,
                   help="ask the model's running training to save, back up, refresh its preview or stop")
    g.add_argument("--restore-backup", metavar="SLOT", default=None,
                   help="make autobackup SLOT (01 = newest) the model's checkpoint and options again; the copies "
                        "it replaces are kept beside them as *.replaced-TIME")


def _err(msg: str) -> int:
    print(f"dfl-tui train: {msg}", file=sys.stderr)
    return 2


def active_run(ws, mdir):
    """The RunDir of the job training this model now, or None."""
    from ..jobs.rundir import RunDir

    info = mdir.read_run()
    path = info.get("run_dir")
    if not path:
        return None
    run = RunDir(__import__("pathlib").Path(path))
    return run if run.is_alive() else None


def run(args: argparse.Namespace) -> int:
    from .. import jobs
    from .. import steps as stepsmod
    from ..cli import follow_run, workspace_from
    from ..train.modeldir import ModelDir
    from ..train.options import TrainOptions, describe_changes, not_applicable, resolve
    from ..train.samples import PAK_NAMES
    from ..workspace import count_images

    ws = workspace_from(args)
    try:
        opts = optmod.from_namespace(TrainOptions, args)
    except optmod.OptionError as exc:
        return _err(str(exc))
    name = opts.model_dir_name
    if not name:
        models = [m["name"] for m in ws.models()]
        return _err("choose a model with --model SAEHD|AMP|Quick96 (or --name of an existing model"
                    + (f": {', '.join(models)}" if models else "") + ")")
    try:
        mdir = ModelDir.of(ws, name)
    except ValueError as exc:
        return _err(str(exc))
    from ..errors import DflError

    if args.restore_backup:
        if active_run(ws, mdir) is not None:
            return _err(f"model '{name}' is training now: stop it first")
        from ..train.checkpoint import restore_backup

        try:
            print(restore_backup(mdir, args.restore_backup))
        except DflError as exc:
            return _err(str(exc))
        return 0
    try:
        saved = mdir.read_options()
    except DflError as exc:
        return _err(str(exc))

    if args.show_options:
        if not saved:
            return _err(f"no model '{name}' in {ws.model_dir}")
        print(json.dumps(saved, indent=2))
        return 0

    if args.request:
        live = active_run(ws, mdir)
        if live is None:
            return _err(f"model '{name}' is not training now")
        if args.request == "stop":
            jobs.cancel(live)
            print(f"asked job {live.id} to stop (it saves first)")
        else:
            live.request(args.request)
            print(f"asked job {live.id} to {args.request}")
        return 0

    kind = opts.model or (saved or {}).get("model")
    if kind:
        extra = not_applicable(kind, optmod.given(args, TrainOptions))
        if extra:
            fixed = " (Quick96's settings are fixed)" if kind == "Quick96" else ""
            return _err(f"{', '.join('--' + n.replace('_', '-') for n in extra)}: not an option of {kind}{fixed}")
    try:
        resolved = resolve(opts, saved, str(mdir.options_path))
    except optmod.OptionError as exc:
        return _err(str(exc))
    live = active_run(ws, mdir)
    if live is not None:
        return _err(f"model '{name}' is already training (job {live.id}); follow it with "
                    f"'dfl-tui jobs follow {live.id}' or stop it with 'dfl-tui train --name {name} --request stop'")
    if not opts.pretraining_data_dir:
        for side in ("src", "dst"):
            folder = ws.aligned(side)
            if not count_images(folder) and not any((folder / n).exists() for n in PAK_NAMES):
                return _err(f"no aligned faces in {folder}: extract the {side} faces first (steps 4 and 5)")

    quiet = args.quiet or args.json
    if not quiet:
        if resolved.new:
            print(f"new {resolved.model} model '{name}' in {mdir.root}")
        else:
            print(f"continuing {resolved.model} model '{name}'")
            for line in describe_changes(resolved):
                print(f"  {line}")
    if not stepsmod.get("train").available:
        return _err("training is not available in this version")
    # Resolved options go to the job so it runs exactly what was shown here.
    job_opts = optmod.replace(opts, model=resolved.model, name=name, options_file="",
                              **{k: v for k, v in resolved.model_options.items()
                                 if k in {s.name for s in optmod.describe(TrainOptions)}},
                              **resolved.trainer)
    run_dir = jobs.start(ws, "train", job_opts, detach=True, title=f"Train {resolved.model} '{name}'")
    if args.detach:
        if args.json:
            print(json.dumps(run_dir.read_status(), indent=2, default=str))
        else:
            print(f"training in the background as job {run_dir.id} (log: {run_dir.log_path})")
            print(f"follow it: dfl-tui -w {ws.root} jobs follow {run_dir.id}   "
                  f"stop it: dfl-tui -w {ws.root} train --name {name} --request stop")
        return 0
    if not quiet:
        print(f"job {run_dir.id}: Ctrl+C stops it (saving first); Ctrl+C twice leaves it running in the background")
    return follow_run(run_dir, quiet=args.quiet, as_json=args.json)
