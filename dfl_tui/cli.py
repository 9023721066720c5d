"""``dfl-tui``: the command line. With no command it opens the TUI.

Kept light on purpose: ``dfl-tui --help`` and ``dfl-tui status`` must start in a
fraction of a second, so nothing here imports torch, cv2 or numpy. Steps are
built from :mod:`dfl_tui.steps`; other commands live in small modules listed in
:data:`COMMANDS`, each with ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
from typing import Any

from . import __version__
from . import options as optmod
from . import steps as stepsmod
from .util.fmt import fmt_duration, fmt_rate
from .workspace import Workspace, default_workspace

# name -> (module, one-line help). Modules must be light to import.
COMMANDS: dict[str, tuple[str, str]] = {
    "status": ("dfl_tui.commands.status", "what each workflow step has produced in the workspace"),
    "jobs": ("dfl_tui.commands.jobs", "list, follow or cancel background jobs"),
    "clear-workspace": ("dfl_tui.commands.clear", "delete the workspace's contents (asks first)"),
    "inspect": ("dfl_tui.commands.inspect", "print an aligned face file's metadata"),
    "train": ("dfl_tui.commands.train", "train SAEHD, AMP or Quick96 (step 9)"),
    "model": ("dfl_tui.commands.model", "DeepFaceLab models in (import-dfl), check on faces (predict), out (export)"),
    "xseg": ("dfl_tui.commands.xseg", "XSeg masks: train, apply, apply-generic, remove, remove-labels, fetch, export-masks"),
    "evaluate": ("dfl_tui.commands.evaluate", "scorecard of a finished merge: identity, pose, flicker, marks"),
    "verify": ("dfl_tui.commands.verify", "report the synthetic-content marks in an image or video"),
    "bench": ("dfl_tui.commands.bench", "benchmarks: extract, train, merge, review"),
    "tui": ("dfl_tui.commands.tui", "open the terminal UI (the default with no command)"),
}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=min(100, max(60, _term_width())))


def _term_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 100


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="dfl-tui",
        formatter_class=_Formatter,
        description="The DeepFaceLab workflow in the terminal. With no command, opens the TUI "
        "(its options work without the word tui: dfl-tui --open 5 --theme dfl-light; see dfl-tui tui --help).",
        epilog="Workflow: demo -> extract-frames src/dst -> extract-faces src/dst -> sort/review -> xseg -> "
        "train -> merge -> make-video.  Run 'dfl-tui COMMAND --help' for a command's options.",
    )
    ap.add_argument("--workspace", "-w", default=None, metavar="DIR",
                    help=f"workspace folder (default: $DFL_WORKSPACE or ./workspace; now {default_workspace()})")
    ap.add_argument("--version", action="version", version=f"dfl-tui {__version__}")
    from .commands.tui import add_graphics_argument

    add_graphics_argument(ap)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for step in stepsmod.STEPS.values():
        if not step.cli:
            continue
        help_ = step.summary + ("" if step.available else " [not available yet]")
        p = sub.add_parser(step.name, help=help_, description=help_, formatter_class=_Formatter)
        add_step_arguments(p, step)
        p.set_defaults(_step=step.name)
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_, formatter_class=_Formatter)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not exc.name or not module.startswith(exc.name):
                raise
            p.set_defaults(_missing=name)
            continue
        mod.add_arguments(p)
        p.set_defaults(_module=module)
    return ap


def add_step_arguments(p: argparse.ArgumentParser, step: stepsmod.Step) -> None:
    """The flags every step command shares, then the step's own options."""
    try:
        cls = step.options_cls()
    except (ModuleNotFoundError, AttributeError):
        cls = None
    if cls is not None:
        optmod.add_arguments(p, cls)
    add_job_flags(p, detach_default=step.detach_default)


def add_job_flags(p: argparse.ArgumentParser, *, detach_default: bool = False,
                  always_detached: str | None = None) -> argparse._ArgumentGroup:
    """The flags of every command that starts a job, in a group "job": ``--detach``, ``--json``, ``--quiet``.

    ``always_detached``: the job runs in the background whatever the flag says (training); then
    ``--detach`` means "return at once" and this text is its help. Returns the group, for a command's
    own job flags (``train --request``)."""
    g = p.add_argument_group("job")
    if always_detached:
        g.add_argument("--detach", action="store_true", help=always_detached)
    else:
        g.add_argument("--detach", action=argparse.BooleanOptionalAction, default=None,
                       help="run in the background, surviving the terminal; follow it with 'dfl-tui jobs'"
                       + (" [default: on here]" if detach_default else ""))
    g.add_argument("--json", action="store_true", help="print the final job status as JSON")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    return g


def workspace_from(args: argparse.Namespace) -> Workspace:
    return Workspace.open(args.workspace)


# ---------------------------------------------------------------------------
# Running a step from the command line
# ---------------------------------------------------------------------------


def run_step_command(args: argparse.Namespace, step_name: str, options: Any | None = None) -> int:
    """Validate options, start the job, follow its progress until it ends."""
    step = stepsmod.get(step_name)
    if not step.available:
        print(f"dfl-tui {step.name}: not available yet in this version.", file=sys.stderr)
        return 2
    ws = workspace_from(args)
    try:
        if options is None:
            options = optmod.from_namespace(step.options_cls(), args)
    except optmod.OptionError as exc:
        print(f"dfl-tui {step.name}: {exc}", file=sys.stderr)
        return 2
    from . import jobs

    detach = step.detach_default if getattr(args, "detach", None) is None else bool(args.detach)
    run = jobs.start(ws, step.name, options, detach=detach)
    quiet = getattr(args, "quiet", False)
    if detach:
        if getattr(args, "json", False):
            print(json.dumps(run.read_status(), indent=2, default=str))
        else:
            print(f"started {run.id} in the background (log: {run.log_path})")
            print(f"follow it with: dfl-tui -w {ws.root} jobs follow {run.id}")
        return 0
    return follow_run(run, quiet=quiet, as_json=getattr(args, "json", False))


def follow_run(run: Any, *, quiet: bool = False, as_json: bool = False, cancel_on_interrupt: bool = True,
               print_result: bool = True) -> int:
    """Print a job's progress until it ends; Ctrl+C asks it to stop (twice: leave it).

    ``print_result``: print the result's fields when it is done (a command that prints its own: False)."""
    from . import jobs

    printer = ProgressPrinter(sys.stderr, quiet=quiet)
    interrupted = [0]

    def on_int(signum: int, _frame: Any) -> None:
        interrupted[0] += 1
        if interrupted[0] == 1 and cancel_on_interrupt:
            printer.line("stopping (the job finishes its current item and saves); Ctrl+C again to leave it running")
            jobs.cancel(run)
        else:
            raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_int)
    try:
        for ev in jobs.follow(run):
            printer.event(ev)
    except KeyboardInterrupt:
        printer.finish()
        print(f"left job {run.id} running" if run.is_alive() else "", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, old)
    printer.finish()
    st = jobs.wait(run, timeout=5)
    if as_json:
        print(json.dumps(st, indent=2, default=str))
    state = st.get("state")
    if state == "done":
        res = st.get("result") or {}
        if res and not quiet and not as_json and print_result:
            for k, v in res.items():
                print(f"{k}: {v}")
        return 0
    if state == "cancelled":
        print(f"stopped: {st.get('message') or 'cancelled'}", file=sys.stderr)
        return 130
    err = st.get("error") or "the job failed"
    if err not in printer.errors:
        print(f"error: {err}", file=sys.stderr)
    if st.get("traceback") and os.environ.get("DFL_DEBUG"):
        print(st["traceback"], file=sys.stderr)
    print(f"(log: {run.log_path})", file=sys.stderr)
    return 1


class ProgressPrinter:
    """A one-line bar on a terminal, a line per few seconds when piped."""

    def __init__(self, stream: Any, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._bar_shown = False
        self._last = 0.0
        self.errors: set[str] = set()  # error lines already shown (the final error is not repeated)

    def line(self, text: str) -> None:
        if self._bar_shown:
            self.stream.write("\r\x1b[2K")
            self._bar_shown = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "log":
            level = ev.get("level", "info")
            if self.quiet and level == "info":
                return
            prefix = "" if level == "info" else f"{level}: "
            self.line(prefix + str(ev.get("message", "")))
            if level == "error":
                self.errors.add(str(ev.get("message", "")))
        elif kind == "progress" and not self.quiet:
            self.progress(ev)

    def progress(self, ev: dict[str, Any]) -> None:
        done, total = ev.get("done", 0), ev.get("total")
        counts = ev.get("counts") or {}
        extra = "  ".join(f"{k} {v}" for k, v in counts.items())
        rate = ev.get("rate") or 0
        unit = ev.get("unit", "items")
        rate_s = fmt_rate(rate, unit)
        eta = fmt_duration(ev.get("eta")) if ev.get("eta") is not None else ""
        stage = ev.get("stage") or ""
        if self.tty:
            width = 24
            frac = (done / total) if total else 0
            bar = "█" * int(frac * width) + "░" * (width - int(frac * width))
            tot = f"/{total}" if total else ""
            text = f"{stage} {bar} {done}{tot} {rate_s} {('ETA ' + eta) if eta else ''} {extra}"
            cols = _term_width()
            self.stream.write("\r\x1b[2K" + text[: cols - 1])
            self.stream.flush()
            self._bar_shown = True
        else:
            now = time.monotonic()
            if now - self._last < 2.0 and not (total and done >= total):
                return
            self._last = now
            tot = f"/{total}" if total else ""
            self.stream.write(f"{stage}: {done}{tot} {rate_s} {('eta ' + eta) if eta else ''} {extra}".rstrip() + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self._bar_shown:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_shown = False


# ---------------------------------------------------------------------------


def default_to_tui(argv: list[str]) -> list[str]:
    """``dfl-tui --open 5`` (options but no command) means ``dfl-tui tui --open 5``."""
    i = 0
    while i < len(argv):
        if argv[i] in ("-w", "--workspace"):
            i += 2
        elif argv[i].startswith("--workspace="):
            i += 1
        else:
            break
    rest = argv[i:]
    if rest and rest[0].startswith("-") and rest[0] not in ("-h", "--help", "--version"):
        return argv[:i] + ["tui"] + rest
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = default_to_tui(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args.command = "tui"
        args._module = COMMANDS["tui"][0]
    if getattr(args, "_missing", None):
        print(f"dfl-tui {args._missing}: not available yet in this version.", file=sys.stderr)
        return 2
    if getattr(args, "_step", None) == "extract-faces" and getattr(args, "detector", None) == "manual":
        from .commands.manual_extract import run_manual_cli  # interactive: the TUI's manual screen

        return run_manual_cli(args)
    from .errors import DflError

    try:
        if getattr(args, "_step", None):
            return run_step_command(args, args._step)
        module = importlib.import_module(args._module)
        return int(module.run(args) or 0)
    except BrokenPipeError:
        return 0
    except DflError as exc:  # a problem the user can fix (a full disk when starting a job...): the message only
        print(f"dfl-tui {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
