"""Which screen opens for a workflow step.

Dedicated screens (the reviewer, the training monitor, the merger, the XSeg
editor, manual extraction) are registered here by key as ``"module:Class"``
strings and imported only when opened, so the home screen stays fast and no
screen's imports (numpy, say) land in the UI process before they are needed.

Lookup for a :class:`~dfl_tui.workflow.WorkflowStep`: its ``key``
(``"review-dst"``), then its ``screen`` (``"review"``), then its job ``step``
(``"train"``). The first key whose module exists wins; with none, the generic
:class:`~dfl_tui.tui.screens.step.StepScreen` shows the step's options.

Contract for a registered screen class::

    class ReviewScreen(Screen):
        def __init__(self, entry: WorkflowStep, **kwargs) -> None: ...

``entry.options`` holds the preset values (``{"side": "src"}``), ``self.app.workspace``
the :class:`~dfl_tui.workspace.Workspace`. A screen may define ``save_state()``: the
app calls it on exit and on hang-up (SIGHUP) for every screen on the stack.
Every ``Binding`` needs an ``id`` (``"review.tag-red"``) so users can remap it.

Entries below name the modules later issues are expected to add; a module that
does not exist yet simply means "no dedicated screen".
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

SCREENS: dict[str, str] = {
    "view": "dfl_tui.tui.screens.review:ReviewScreen",
    "review": "dfl_tui.tui.screens.review:ReviewScreen",
    "train": "dfl_tui.tui.screens.train_monitor:TrainMonitorScreen",
    "merge": "dfl_tui.tui.screens.merger:MergerScreen",
    "xseg": "dfl_tui.tui.screens.xseg_editor:XSegEditorScreen",
    "manual-extract": "dfl_tui.tui.screens.manual_extract:ManualExtractScreen",
}


def register_screen(key: str, target: str) -> None:
    """Register ``"module:Class"`` as the screen for ``key`` (a step, screen or workflow key)."""
    if ":" not in target:
        raise ValueError(f"screen target {target!r} must be 'module:Class'")
    SCREENS[key] = target
    _EXISTS.pop(target.partition(":")[0], None)


_EXISTS: dict[str, bool] = {}


def _module_exists(module: str) -> bool:
    """Cached: the home screen asks for every row on every refresh."""
    if module not in _EXISTS:
        try:
            _EXISTS[module] = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            _EXISTS[module] = False
    return _EXISTS[module]


def has_screen(key: str | None) -> bool:
    """True when ``key`` is registered and its module is installed (nothing is imported)."""
    if not key or key not in SCREENS:
        return False
    return _module_exists(SCREENS[key].partition(":")[0])


def screen_key_for(entry: Any) -> str | None:
    """The registry key that serves a workflow entry, or ``None`` for the generic screen."""
    for key in (getattr(entry, "key", None), getattr(entry, "screen", None), getattr(entry, "step", None)):
        if has_screen(key):
            return key
    return None


def load_screen(key: str) -> type:
    """Import and return the screen class registered for ``key``."""
    module, _, attr = SCREENS[key].partition(":")
    return getattr(importlib.import_module(module), attr)
