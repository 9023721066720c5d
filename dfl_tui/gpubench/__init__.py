"""``dfl-tui bench gpu``: the GPU proof (training steps, real training, extraction, merge, XSeg,
sample pipeline) in one timed run that writes a JSON and prints a table.

:mod:`.run` is the command (light at import), :mod:`.sections` the measurements, :mod:`.facesets`
the real faces they train on. ``scripts/gpu-check.sh`` runs it on a bare GPU machine.
"""
