"""The TUI's screens: one per workflow step that needs its own (registered in
:mod:`dfl_tui.tui.registry`), plus home, the generic step screen, jobs and help."""
