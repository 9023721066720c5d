"""Interactive commands that open the TUI straight on one screen.

* ``dfl-tui extract-faces src|dst --detector manual [--fix-deleted-debug]``: manual face
  extraction (DeepFaceLab's "Manual pass" window, in the terminal);
* ``dfl-tui xseg editor src|dst``: the XSeg mask editor.

Light at import: Textual and the screens load in :func:`run_screen`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Callable


def run_screen(args: argparse.Namespace, make_screen: Callable[[], Any]) -> int:
    """Run the dfl-tui app with ``make_screen()`` pushed on top of the home screen."""
    from . import tui as tuicmd

    tuicmd.settle_colors(os.environ, getattr(args, "colors", "auto") or "auto")
    from ..tui import app as appmod
    from ..workspace import Workspace

    class OneScreenApp(appmod.DflApp):
        CSS_PATH = str(Path(appmod.__file__).parent / "app.tcss")

        def on_mount(self) -> None:
            super().on_mount()
            self.push_screen(make_screen())

    app = OneScreenApp(Workspace.open(getattr(args, "workspace", None)), theme=getattr(args, "theme", None))
    code = app.run()
    return 0 if app.exiting_on == "hangup" else int(code or 0)


def run_manual(args: argparse.Namespace, options: Any) -> int:
    """``extract-faces --detector manual``: the manual screen on the side's frames."""
    def make() -> Any:
        from ..tui.screens.manual_extract import ManualExtractScreen

        screen = ManualExtractScreen(options=options)
        screen.standalone = True
        return screen

    return run_screen(args, make)


def run_manual_cli(args: argparse.Namespace) -> int:
    """``dfl-tui extract-faces SIDE --detector manual [...]`` (routed here by :func:`dfl_tui.cli.main`)."""
    import sys

    from .. import options as optmod
    from ..faces.options import ExtractFacesOptions

    try:
        options = optmod.from_namespace(ExtractFacesOptions, args)
    except optmod.OptionError as exc:
        print(f"dfl-tui extract-faces: {exc}", file=sys.stderr)
        return 2
    return run_manual(args, options)
