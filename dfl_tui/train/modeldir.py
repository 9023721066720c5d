"""A model's folder, ``<workspace>/model/<name>/``: what the trainer writes and the monitor reads.

```
model/<name>/
  options.json        model kind, its options (fixed ones marked), the trainer's saved settings
  state.json          iteration, last save/backup time (a copy for the UI; the truth is in checkpoint/)
  summary.txt         DeepFaceLab's boxed "Model Summary" table
  checkpoint/         the last good checkpoint: one safetensors file per part + manifest.json
  checkpoint.prev/    the one before it (kept until the next save completes)
  metrics.jsonl       one line per second or so: iteration, mean losses, ms/iteration, samples/s
  previews/           the latest preview panels as PNG + index.json
  history/<panel>/    preview history (0001234.jpg ...) when enabled
  autobackups/01..NN  rotating backups (01 newest)
  run.json            which job trains it now (run folder, pid)
```

Light module (no torch, no numpy): the TUI imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..util.atomic import atomic_write_json, read_json

CKPT = "checkpoint"
CKPT_NEW = "checkpoint.new"
CKPT_PREV = "checkpoint.prev"
MANIFEST = "manifest.json"


def slug(text: str) -> str:
    """A file-name-safe version of a preview panel name (``"SAEHD masked"`` -> ``saehd_masked``)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "preview"


@dataclass(frozen=True)
class ModelDir:
    root: Path

    @classmethod
    def of(cls, workspace: Any, name: str) -> "ModelDir":
        name = name.strip()
        if not name or "/" in name or name in (".", "..") or name.startswith("."):
            raise ValueError(f"model name {name!r}: use letters, digits, '-' or '_'")
        return cls(Path(workspace.model_dir) / name)

    @property
    def name(self) -> str:
        return self.root.name

    # -- files -------------------------------------------------------------------------
    @property
    def options_path(self) -> Path:
        return self.root / "options.json"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.txt"

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def run_path(self) -> Path:
        return self.root / "run.json"

    @property
    def previews_dir(self) -> Path:
        return self.root / "previews"

    @property
    def preview_index_path(self) -> Path:
        return self.previews_dir / "index.json"

    @property
    def history_dir(self) -> Path:
        return self.root / "history"

    @property
    def backups_dir(self) -> Path:
        return self.root / "autobackups"

    def checkpoint(self, which: str = CKPT) -> Path:
        return self.root / which

    # -- reading -----------------------------------------------------------------------
    def exists(self) -> bool:
        return self.options_path.exists()

    def read_options(self) -> dict[str, Any] | None:
        data = read_json(self.options_path, None)
        return data if isinstance(data, dict) else None

    def write_options(self, data: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.options_path, data)

    def read_state(self) -> dict[str, Any]:
        data = read_json(self.state_path, {})
        return data if isinstance(data, dict) else {}

    def write_state(self, data: dict[str, Any]) -> None:
        atomic_write_json(self.state_path, data)

    def read_run(self) -> dict[str, Any]:
        data = read_json(self.run_path, {})
        return data if isinstance(data, dict) else {}

    def read_preview_index(self) -> dict[str, Any]:
        data = read_json(self.preview_index_path, {})
        return data if isinstance(data, dict) else {}

    def preview_panels(self) -> list[tuple[str, Path]]:
        """(panel name, PNG path) of the latest previews, in the model's order."""
        idx = self.read_preview_index()
        out = []
        for p in idx.get("panels") or []:
            path = self.previews_dir / str(p.get("file", ""))
            if path.is_file():
                out.append((str(p.get("name", path.stem)), path))
        return out

    def backups(self) -> list[Path]:
        if not self.backups_dir.is_dir():
            return []
        return sorted(p for p in self.backups_dir.iterdir() if p.is_dir() and p.name.isdigit())


def list_models(workspace: Any) -> list[ModelDir]:
    """Trained models (folders with an options.json written by the trainer) in a workspace."""
    root = Path(workspace.model_dir)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        md = ModelDir(d)
        if d.is_dir() and md.exists():
            opts = md.read_options() or {}
            if opts.get("format", "").startswith("dfl-tui-model"):
                out.append(md)
    return out


__all__ = ["CKPT", "CKPT_NEW", "CKPT_PREV", "MANIFEST", "ModelDir", "list_models", "slug"]
