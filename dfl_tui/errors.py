"""Errors meant for the user: the message says what is wrong, where, and what to do."""

from __future__ import annotations


class DflError(Exception):
    """A problem the user can fix (bad input, missing file, full disk...).

    Jobs show only the message for these; any other exception is a bug and is
    shown with its traceback.
    """


class InputError(DflError):
    """A file or folder given to a step is missing, corrupt or of the wrong kind."""


class JobCancelled(Exception):
    """Raised inside a job at a safe point after a stop was requested."""
