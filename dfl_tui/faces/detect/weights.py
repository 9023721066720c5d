"""Where the s3fd backend's weights live, and whether they are there (light: no torch).

face-alignment 1.5.0 fetches its weights through ``torch.hub`` into
``<hub dir>/checkpoints/`` (``$TORCH_HOME/hub``, default ``~/.cache/torch/hub``) and
downloads nothing when a file of the expected name is already there. Machines
without internet bring the files along: ``--weights-dir DIR`` accepts either a
hub folder (``DIR/checkpoints/<file>``) or a plain folder holding the files.
"""

from __future__ import annotations

import os
from pathlib import Path

# File names face-alignment 1.5.0 expects (the basenames of its download URLs;
# a test checks them against the installed package).
S3FD_FILE = "s3fd-619a316812.pth"
FAN2D_FILE = "2DFAN4-11f355bf06.pth.tar"
FAN3D_FILE = "3DFAN4-7835d9f11d.pth.tar"

S3FD_URL = "https://www.adrianbulat.com/downloads/python-fan/" + S3FD_FILE
FAN2D_URL = "https://www.adrianbulat.com/downloads/python-fan/" + FAN2D_FILE
FAN3D_URL = "https://www.adrianbulat.com/downloads/python-fan/" + FAN3D_FILE


def default_hub_dir() -> Path:
    """``torch.hub.get_dir()`` without importing torch (same rule: $TORCH_HOME/hub)."""
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        torch_home = os.path.join(xdg, "torch")
    return Path(torch_home).expanduser() / "hub"


def needed_files(three_d: bool) -> list[str]:
    """The files the s3fd backend loads: S3FD plus 2DFAN (3DFAN for head face types, as DeepFaceLab)."""
    return [S3FD_FILE, FAN3D_FILE if three_d else FAN2D_FILE]


def find_file(name: str, weights_dir: str | os.PathLike | None = None) -> Path | None:
    """A weights file in ``weights_dir`` (plain or hub layout) or the torch hub cache."""
    places = []
    if weights_dir:
        wd = Path(weights_dir).expanduser()
        places += [wd / name, wd / "checkpoints" / name]
    places.append(default_hub_dir() / "checkpoints" / name)
    for p in places:
        if p.is_file() and p.stat().st_size > 0:
            return p
    return None


def missing_files(three_d: bool, weights_dir: str | os.PathLike | None = None) -> list[str]:
    return [n for n in needed_files(three_d) if find_file(n, weights_dir) is None]


def where_to_put(weights_dir: str | os.PathLike | None = None) -> str:
    """A sentence telling the user where the files go."""
    target = Path(weights_dir).expanduser() if weights_dir else default_hub_dir() / "checkpoints"
    return (f"put {S3FD_FILE} and {FAN2D_FILE} (and {FAN3D_FILE} for head faces) in {target} "
            f"(they download from {S3FD_URL.rsplit('/', 1)[0]}/ on a machine with internet)")
