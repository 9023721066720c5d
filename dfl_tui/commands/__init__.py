"""CLI commands that are not jobs. Each module: ``add_arguments(parser)`` and ``run(args) -> int``.

These modules are imported to build ``dfl-tui --help``: import nothing heavy at module level.
"""
