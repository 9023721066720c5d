"""Checkpoints that survive anything: a SIGKILL or a power cut mid-save leaves a good one.

A checkpoint is a folder with one safetensors file per model part (networks and optimizers,
DeepFaceLab's part names), ``rng.safetensors`` (the random generators, so a resume continues the
same random stream) and ``manifest.json`` (iteration, file sizes, trainer state), written last.

Saving (:func:`save_checkpoint`):

1. write every file into ``checkpoint.new/`` and fsync it, then the manifest, fsync the folder;
2. drop the old ``checkpoint.prev/``, rename ``checkpoint/`` -> ``checkpoint.prev/``;
3. rename ``checkpoint.new/`` -> ``checkpoint/``, fsync the model folder.

Whatever instant the process dies at, at least one complete checkpoint is on disk: a folder only
counts when its manifest exists and every file has the recorded size and a readable safetensors
header (:func:`verify`). Loading (:func:`load_checkpoint`) takes the newest complete one of
``checkpoint``, ``checkpoint.new`` and ``checkpoint.prev``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..util.atomic import _fsync_dir, atomic_write_json
from .modeldir import CKPT, CKPT_NEW, CKPT_PREV, MANIFEST, ModelDir

FORMAT = "dfl-tui-checkpoint/1"
RNG_PART = "rng"

# Tests make saves slow to kill a training in the middle of one (seconds to sleep after each file).
SAVE_DELAY_ENV = "DFL_TUI_TEST_SAVE_DELAY"


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _safetensors_header_ok(path: Path, size: int) -> bool:
    """The header parses and its tensors end exactly at the file's end."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                return False
            (n,) = struct.unpack("<Q", head)
            if n <= 0 or 8 + n > size:
                return False
            meta = json.loads(fh.read(n))
    except (OSError, ValueError):
        return False
    end = 0
    for k, v in meta.items():
        if k == "__metadata__":
            continue
        try:
            end = max(end, int(v["data_offsets"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            return False
    return 8 + n + end == size


def verify(folder: Path) -> dict[str, Any] | None:
    """The manifest of a complete checkpoint folder, or None when anything is missing or short."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return None
    for name, size in files.items():
        p = folder / name
        try:
            if p.stat().st_size != int(size):
                return None
        except (OSError, TypeError, ValueError):
            return None
        if name.endswith(".safetensors") and not _safetensors_header_ok(p, int(size)):
            return None
    return manifest


def rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, torch.Tensor]:
    """The global torch generators (CPU, every CUDA device) and named extra generators."""
    out = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, st in enumerate(torch.cuda.get_rng_state_all()):
            out[f"torch_cuda_{i}"] = st
    for name, g in (generators or {}).items():
        out[f"gen_{name}"] = g.get_state()
    return out


def set_rng_state(state: dict[str, torch.Tensor], generators: dict[str, torch.Generator] | None = None) -> None:
    if "torch_cpu" in state:
        torch.set_rng_state(state["torch_cpu"].to(torch.uint8))
    if torch.cuda.is_available():
        cuda = [state[k] for k in sorted(k for k in state if k.startswith("torch_cuda_"))]
        if cuda and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([c.to(torch.uint8) for c in cuda])
    for name, g in (generators or {}).items():
        st = state.get(f"gen_{name}")
        if st is not None:
            g.set_state(st.to(torch.uint8))


def save_checkpoint(mdir: ModelDir, parts: dict[str, dict[str, torch.Tensor]], *, iteration: int, model: str,
                    trainer_state: dict[str, Any] | None = None, rng: dict[str, torch.Tensor] | None = None,
                    delay: float | None = None) -> Path:
    """Write a complete checkpoint and make it the current one (see the module docstring)."""
    from safetensors.torch import save as st_save

    if delay is None:
        delay = float(os.environ.get(SAVE_DELAY_ENV, "0") or 0)
    mdir.root.mkdir(parents=True, exist_ok=True)
    new = mdir.checkpoint(CKPT_NEW)
    if new.exists():
        shutil.rmtree(new)
    new.mkdir()
    files: dict[str, int] = {}
    all_parts = dict(parts)
    if rng:
        all_parts[RNG_PART] = rng
    for part, sd in all_parts.items():
        data = st_save({k: v.detach().to("cpu").contiguous() for k, v in sd.items()},
                       metadata={"model": model, "part": part, "format": FORMAT})
        name = f"{part}.safetensors"
        _write_file(new / name, data)
        files[name] = len(data)
        if delay:
            time.sleep(delay)
    manifest = {"format": FORMAT, "model": model, "iteration": int(iteration), "saved": time.time(), "files": files,
                "trainer": trainer_state or {}}
    atomic_write_json(new / MANIFEST, manifest)
    _fsync_dir(new)
    cur, prev = mdir.checkpoint(CKPT), mdir.checkpoint(CKPT_PREV)
    if cur.exists():
        if verify(cur) is not None:
            if prev.exists():
                shutil.rmtree(prev)
            os.replace(cur, prev)
        else:  # a damaged current copy is not worth keeping over a good .prev
            shutil.rmtree(cur)
    if delay:
        time.sleep(delay)
    os.replace(new, cur)
    _fsync_dir(mdir.root)
    return cur


def tidy(mdir: ModelDir) -> None:
    """Finish a save that was interrupted between its two renames (the trainer calls this at start)."""
    new, cur, prev = mdir.checkpoint(CKPT_NEW), mdir.checkpoint(CKPT), mdir.checkpoint(CKPT_PREV)
    if not new.exists():
        return
    m_new = verify(new)
    m_cur = verify(cur) if cur.exists() else None
    if m_new is not None and (m_cur is None or int(m_new.get("iteration", 0)) > int(m_cur.get("iteration", 0))):
        if m_cur is not None:
            if prev.exists():
                shutil.rmtree(prev)
            os.replace(cur, prev)
        elif cur.exists():
            shutil.rmtree(cur)
        os.replace(new, cur)
        _fsync_dir(mdir.root)
    else:
        shutil.rmtree(new)


def find_checkpoint(mdir: ModelDir, warn: Callable[[str], None] | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest complete checkpoint folder and its manifest (None for a model never saved)."""
    found = []
    for which in (CKPT, CKPT_NEW, CKPT_PREV):
        folder = mdir.checkpoint(which)
        if not folder.exists():
            continue
        manifest = verify(folder)
        if manifest is None:
            if warn is not None and which != CKPT_NEW:
                warn(f"{folder} is incomplete or damaged; using an older copy")
            continue
        found.append((int(manifest.get("iteration", 0)), which != CKPT, folder, manifest))
    if not found:
        return None
    found.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return found[0][2], found[0][3]


def read_parts(folder: Path, manifest: dict[str, Any]) -> dict[str, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    parts = {}
    for name in manifest["files"]:
        if name.endswith(".safetensors"):
            parts[name[: -len(".safetensors")]] = load_file(str(folder / name), device="cpu")
    return parts


def load_checkpoint(mdir: ModelDir, warn: Callable[[str], None] | None = None) \
        -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any], Path] | None:
    """(parts incl. ``rng``, manifest, folder) of the newest complete checkpoint, or None."""
    got = find_checkpoint(mdir, warn)
    while got is not None:
        folder, manifest = got
        try:
            return read_parts(folder, manifest), manifest, folder
        except Exception as exc:  # noqa: BLE001 - a file that verifies but does not load: try the older copy
            if warn is not None:
                warn(f"{folder} could not be read ({exc}); trying an older copy")
            bad = folder.with_name(folder.name + f".damaged-{int(time.time())}")
            os.replace(folder, bad)
            got = find_checkpoint(mdir, warn)
    return None


def load_model(workspace: Any, name: str, device: Any = "cpu") -> Any:
    """A trained model ready for inference (the merger's entry point): built from options.json,
    weights from the newest complete checkpoint. Raises DflError when there is nothing to load."""
    from ..errors import DflError
    from ..models import build_model

    mdir = ModelDir.of(workspace, name)
    saved = mdir.read_options()
    if not saved:
        raise DflError(f"no model '{name}' in {workspace.model_dir}: train one first (step 9)")
    model = build_model(saved["model"], saved.get("options") or {}, device)
    got = load_checkpoint(mdir)
    if got is None:
        raise DflError(f"model '{name}' has no saved checkpoint yet: let it train until the first save")
    parts, _manifest, _folder = got
    parts.pop(RNG_PART, None)
    model.load_parts(parts)
    model.eval()
    return model


__all__ = ["FORMAT", "tidy", "find_checkpoint", "load_checkpoint", "load_model", "read_parts", "rng_state",
           "save_checkpoint", "set_rng_state", "verify"]
