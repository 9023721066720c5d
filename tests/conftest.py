"""Shared test set-up: no GPU, no network, deterministic UI, quiet jobs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("DFL_WORKSPACE", None)

# The tests import helpers like faces_data from this folder.
sys.path.insert(0, str(Path(__file__).parent))
