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

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
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

    def has_checkpoints(self) -> bool:
        """Any checkpoint folder, complete or not, or an autobackup: the model was saved before."""
        return any(self.checkpoint(w).exists() for w in (CKPT, CKPT_PREV, CKPT_NEW)) or bool(self.backups())

    def read_options(self, strict: bool = True) -> dict[str, Any] | None:
        """The saved options; None for a model never created. A damaged or wrong-typed file, or a
        missing one beside checkpoints, raises :class:`ModelFileError` naming it (``strict``; a
        display passes ``strict=False`` and gets None)."""
        try:
            return check_options(self)
        except ModelFileError:
            if strict:
                raise
            return None

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


class ModelFileError(InputError):
    """A model's own file (options.json) is damaged or missing: the message names it and the way back."""


# Fields of options.json and their JSON types (the trainer's and XSeg's layout).
_OPTION_FIELDS: dict[str, tuple[type, ...]] = {"format": (str,), "model": (str,), "options": (dict,),
                                               "trainer": (dict,), "fixed": (list,), "created": (int, float)}


def check_options(mdir: "ModelDir") -> dict[str, Any] | None:
    """Read and check ``options.json`` (see :meth:`ModelDir.read_options`)."""
    path = mdir.options_path
    back = next((b / path.name for b in mdir.backups() if (b / path.name).is_file()), None)
    summary = mdir.summary_path
    listed = f"{summary} lists the options the model was trained with" if summary.is_file() else ""
    way_back = (f"copy {back} over it (the newest autobackup), or 'dfl-tui train --name {mdir.name} "
                f"--restore-backup {back.parent.name}'" if back else
                "fix it by hand (it is JSON" + (f"; {listed}" if listed else "") + ")")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if mdir.has_checkpoints():
            if not back:  # nothing to fix by hand: say where the options can be found again
                way_back = ("no autobackup holds a copy; restore it from your own backup"
                            + (f", or write it again from {summary.name} beside it, which lists the options the model "
                               f"was trained with" if listed else ""))
            raise ModelFileError(f"{path} is missing but model '{mdir.name}' has checkpoints: it is not a new model. "
                                 f"Nothing was changed; {way_back}") from None
        return None
    except OSError as exc:
        raise ModelFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ModelFileError(f"{path} is damaged (not valid JSON: {exc}; {len(raw)} bytes). Nothing was changed; "
                             f"{way_back}") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path} holds a JSON {type(data).__name__}, not an object. Nothing was changed; "
                             f"{way_back}")
    for key, kinds in _OPTION_FIELDS.items():
        v = data.get(key)
        if v is not None and (not isinstance(v, kinds) or isinstance(v, bool)):
            raise ModelFileError(f"{path}: '{key}' is a {type(v).__name__}, expected "
                                 f"{' or '.join(k.__name__ for k in kinds)}. Nothing was changed; {way_back}")
    if not data.get("model"):
        raise ModelFileError(f"{path} does not say which model it is ('model' is missing). Nothing was changed; "
                             f"{way_back}")
    return data


def list_models(workspace: Any) -> list[ModelDir]:
    """Trained models (folders with an options.json written by the trainer) in a workspace."""
    root = Path(workspace.model_dir)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        md = ModelDir(d)
        if d.is_dir() and md.exists():
            opts = md.read_options(strict=False) or {}
            if opts.get("format", "").startswith("dfl-tui-model"):
                out.append(md)
    return out


__all__ = ["CKPT", "CKPT_NEW", "CKPT_PREV", "MANIFEST", "ModelDir", "ModelFileError", "check_options",
           "list_models", "slug"]
