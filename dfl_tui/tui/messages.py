"""Messages that carry data from worker threads to the widgets that own the state.

Workers never touch widgets: they read files and post one of these; a handler
on the event loop updates the screen (harlequin's discipline).
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class WorkspaceLoaded(Message):
    """``Workspace.status()`` and the recent jobs, read in a thread."""

    bubble = False

    def __init__(self, status: dict[str, Any], jobs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.status = status
        self.jobs = jobs


class JobsLoaded(Message):
    """The job list, read in a thread."""

    bubble = False
    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.jobs = jobs


class JobUpdated(Message):
    """New status and events of the job a :class:`JobView` follows."""

    bubble = False

    def __init__(self, run_id: str, status: dict[str, Any], events: list[dict[str, Any]], final: bool) -> None:
        super().__init__()
        self.run_id = run_id
        self.status = status
        self.events = events
        self.final = final


class JobStarted(Message):
    def __init__(self, run_id: str, run_path: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.run_path = run_path


class JobStartFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class JobFinished(Message):
    """Bubbles from a :class:`JobView` when its job reaches a final state."""

    def __init__(self, run_id: str, status: dict[str, Any], live: bool = True) -> None:
        super().__init__()
        self.run_id = run_id
        self.status = status
        self.live = live  # False: the job had already ended when the view attached to it


class TextLoaded(Message):
    """A file's text read in a thread (job.log tail)."""

    bubble = False

    def __init__(self, what: str, text: str) -> None:
        super().__init__()
        self.what = what
        self.text = text
