"""dfl-tui: the DeepFaceLab workflow in the terminal.

The package is split so the UI process never imports torch: ``cli``, ``options``,
``workspace``, ``jobs`` and ``tui`` are light; the heavy code (faces, train, merge,
xseg, models) is imported only inside job processes.
"""

__version__ = "0.1.0"
TOOL_NAME = "dfl-tui"
