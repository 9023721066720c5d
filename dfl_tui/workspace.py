"""The workspace folder: DeepFaceLab's layout and names, and what is in it.

Light module (no numpy, no cv2): ``dfl-tui status`` and the TUI home screen use it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

Side = Literal["src", "dst"]
SIDES: tuple[Side, ...] = ("src", "dst")

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
VIDEO_EXTS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".wmv", ".flv", ".mpg", ".mpeg")

# Folder names used for dfl-tui's own bookkeeping, beside the DeepFaceLab ones.
TRASH_DIR = ".trash"
THUMBS_DIR = ".thumbs"
JOBS_DIR = ".jobs"


def default_workspace() -> Path:
    return Path(os.environ.get("DFL_WORKSPACE") or "workspace")


def is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTS


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (DeepFaceLab's order)."""
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if e.is_file() and not e.name.startswith(".")]
    except OSError:
        return []
    return [folder / n for n in sorted(names) if Path(n).suffix.lower() in IMAGE_EXTS]


def count_images(folder: Path) -> int:
    try:
        with os.scandir(folder) as it:
            return sum(
                1 for e in it if not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() in IMAGE_EXTS and e.is_file()
            )
    except OSError:
        return 0


def check_side(side: str) -> Side:
    if side not in SIDES:
        raise ValueError(f"expected 'src' or 'dst', got {side!r}")
    return side  # type: ignore[return-value]


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace; nothing is created until a step needs it."""

    root: Path

    @classmethod
    def open(cls, root: str | os.PathLike | None = None) -> "Workspace":
        return cls(Path(root if root is not None else default_workspace()).expanduser().absolute())

    # -- the DeepFaceLab layout -------------------------------------------------
    def video(self, side: Side) -> Path:
        """``data_src.mp4`` or another container with that stem (``data_src.*``)."""
        stem = f"data_{check_side(side)}"
        default = self.root / f"{stem}.mp4"
        if default.exists():
            return default
        for ext in VIDEO_EXTS:
            p = self.root / f"{stem}{ext}"
            if p.exists():
                return p
        return default

    def frames(self, side: Side) -> Path:
        return self.root / f"data_{check_side(side)}"

    def aligned(self, side: Side) -> Path:
        return self.frames(side) / "aligned"

    def aligned_debug(self, side: Side) -> Path:
        return self.frames(side) / "aligned_debug"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def merged(self) -> Path:
        return self.frames("dst") / "merged"

    @property
    def merged_mask(self) -> Path:
        return self.frames("dst") / "merged_mask"

    @property
    def result(self) -> Path:
        return self.root / "result.mp4"

    @property
    def result_mask(self) -> Path:
        return self.root / "result_mask.mp4"

    @property
    def evaluation(self) -> Path:
        """The scorecard of the last ``dfl-tui evaluate`` (JSON)."""
        return self.root / "evaluation.json"

    @property
    def jobs_dir(self) -> Path:
        return self.root / JOBS_DIR

    def trash(self, folder: Path) -> Path:
        """The trash folder beside a set of images (``aligned/.trash``)."""
        return folder / TRASH_DIR

    def work_folders(self) -> list[Path]:
        """The folders dfl-tui writes in, and their sub-folders (one level, no symlinks): where a
        killed run can leave temporary files or an interrupted move (:mod:`dfl_tui.util.tempfiles`)."""
        tops = [self.root, *(f(s) for s in SIDES for f in (self.frames, self.aligned, self.aligned_debug)),
                self.merged, self.merged_mask, self.model_dir]
        out: dict[Path, None] = {}
        for top in tops:
            if not top.is_dir():
                continue
            out[top] = None
            with contextlib.suppress(OSError):
                for e in os.scandir(top):
                    if e.is_dir(follow_symlinks=False) and not e.name.startswith("."):
                        out[Path(e.path)] = None
        return list(out)

    def leftovers(self) -> dict[str, Any]:
        """What killed runs left: interrupted moves (folder -> files under temporary names) and
        stale temporary files (count, bytes, and per folder: count, bytes and the biggest file's name)."""
        from .util.tempfiles import interrupted_moves, stale_temps

        moves: dict[str, int] = {}
        files = size = 0
        where: dict[str, dict[str, Any]] = {}
        for f in self.work_folders():
            n = len(interrupted_moves(f)) if (f / TRASH_DIR).is_dir() else 0
            if n:
                moves[str(f)] = n
            for p in stale_temps(f):
                with contextlib.suppress(OSError):
                    b = p.stat().st_size
                    size += b
                    files += 1
                    w = where.setdefault(str(f), {"files": 0, "bytes": 0, "biggest": p.name, "_b": -1})
                    w["files"] += 1
                    w["bytes"] += b
                    if b > w["_b"]:
                        w["biggest"], w["_b"] = p.name, b
        for w in where.values():
            del w["_b"]
        return {"interrupted": moves, "stale_temps": {"files": files, "bytes": size, "folders": where}}

    def ensure(self) -> "Workspace":
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    # -- what is there ----------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """Trained models: folders under ``model/`` holding an ``options.json``."""
        out = []
        if not self.model_dir.is_dir():
            return out
        for d in sorted(self.model_dir.iterdir()):
            if d.is_dir() and (d / "options.json").exists():
                from .util.atomic import read_json

                state = read_json(d / "state.json", {}) or {}
                opts = read_json(d / "options.json", {}) or {}
                out.append(
                    {
                        "name": d.name,
                        "path": str(d),
                        "model": opts.get("model") or state.get("model"),
                        "iteration": state.get("iteration", 0),
                    }
                )
        return out

    def status(self) -> dict[str, Any]:
        """What each workflow step has produced, read from disk (cheap: counts only)."""
        st: dict[str, Any] = {"workspace": str(self.root), "exists": self.root.is_dir()}
        for side in SIDES:
            v = self.video(side)
            st[f"{side}_video"] = str(v) if v.exists() else None
            st[f"{side}_video_bytes"] = v.stat().st_size if v.exists() else 0
            st[f"{side}_frames"] = count_images(self.frames(side))
            st[f"{side}_faces"] = count_images(self.aligned(side))
            st[f"{side}_debug"] = count_images(self.aligned_debug(side))
            st[f"{side}_trash"] = count_images(self.trash(self.aligned(side)))
            st[f"{side}_packed"] = (self.aligned(side) / "faceset.pak").exists()
        st["models"] = self.models()
        st["merged_frames"] = count_images(self.merged)
        st["merged_masks"] = count_images(self.merged_mask)
        st["result"] = str(self.result) if self.result.exists() else None
        st["result_bytes"] = self.result.stat().st_size if self.result.exists() else 0
        st["result_mask"] = str(self.result_mask) if self.result_mask.exists() else None
        st["evaluation"] = self._evaluation_summary()
        st.update(self.leftovers())
        return st

    def _evaluation_summary(self) -> dict[str, Any] | None:
        """The last scorecard's figures (None: no evaluation, or an unreadable one)."""
        import json

        try:
            data = json.loads(self.evaluation.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        try:
            mtime = self.evaluation.stat().st_mtime
            newest = self.merged.stat().st_mtime  # merged frames are written by renames into the folder
        except OSError:
            mtime = newest = 0.0
        return {**{k: v for k, v in data.items() if isinstance(v, (int, float, str)) or v is None},
                "stale": newest > mtime}

    def entries(self) -> Iterator[Path]:
        """Everything at the top of the workspace (what clear-workspace would remove)."""
        if not self.root.is_dir():
            return iter(())
        return (p for p in sorted(self.root.iterdir()) if p.name != "README.md")

    def clear(self) -> list[str]:
        """Delete the workspace's contents (the caller has asked the user first).

        The workspace's own README and the folder itself stay. Returns what was removed.
        """
        removed = []
        for p in list(self.entries()):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p.name)
        return removed


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
