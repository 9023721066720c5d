"""The Textual terminal UI. Light at import: no torch, cv2 or numpy in the UI process.

Start it with ``dfl-tui`` (or ``dfl-tui tui``); build it in code with
``dfl_tui.tui.app.DflApp(workspace)``.
"""
