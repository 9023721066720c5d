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

from ..errors import InputError
from ..util.atomic import DiskFullError, _fsync_dir, atomic_write_json, disk_full, is_disk_full
from .modeldir import CKPT, CKPT_NEW, CKPT_PREV, MANIFEST, ModelDir

FORMAT = "dfl-tui-checkpoint/1"
RNG_PART = "rng"

# Tests make saves slow to kill a training in the middle of one (seconds to sleep after each file).
SAVE_DELAY_ENV = "DFL_TUI_TEST_SAVE_DELAY"


def _write_file(path: Path, data: bytes) -> None:
    try:
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        if is_disk_full(exc) and not exc.filename:
            exc.filename = str(path)
        raise


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


def _manifest_problem(manifest: Any) -> str | None:
    """What is wrong with a manifest's fields (types included), or None when it is usable."""
    if not isinstance(manifest, dict):
        return f"not a JSON object but {type(manifest).__name__}"
    if manifest.get("format") != FORMAT:
        return f"format {manifest.get('format')!r}, expected {FORMAT!r}"
    it = manifest.get("iteration", 0)
    if isinstance(it, bool) or not isinstance(it, int) or it < 0:
        return f"iteration {it!r} is not a whole number"
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "no list of files"
    for name, size in files.items():
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
            return f"file name {name!r} is not a plain file name"
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return f"size {size!r} of {name} is not a whole number"
    for key, kind in (("trainer", dict), ("model", str)):
        if key in manifest and manifest[key] is not None and not isinstance(manifest[key], kind):
            return f"{key} is a {type(manifest[key]).__name__}, expected a {kind.__name__}"
    return None


def check(folder: Path) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """(manifest or None, {file name: what is wrong}) of a checkpoint folder; no problems = complete."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return None, {MANIFEST: "missing (the save did not finish)"}
    except (OSError, ValueError) as exc:
        return None, {MANIFEST: f"unreadable ({exc})"}
    why = _manifest_problem(manifest)
    if why is not None:
        return None, {MANIFEST: why}
    problems: dict[str, str] = {}
    for name, size in manifest["files"].items():
        p = folder / name
        try:
            actual = p.stat().st_size
        except OSError:
            problems[name] = "missing"
            continue
        if actual != size:
            problems[name] = f"{actual} bytes, the manifest says {size}"
        elif name.endswith(".safetensors") and not _safetensors_header_ok(p, size):
            problems[name] = "its safetensors header is damaged"
    return manifest, problems


def verify(folder: Path) -> dict[str, Any] | None:
    """The manifest of a complete checkpoint folder, or None when anything is missing, short or mistyped."""
    manifest, problems = check(folder)
    return None if problems else manifest


def _iteration(manifest: dict[str, Any]) -> int:
    return int(manifest.get("iteration", 0))


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
    """Write a complete checkpoint and make it the current one (see the module docstring). On a full
    disk the partial ``checkpoint.new`` is removed and :class:`DiskFullError` names the last good one."""
    if delay is None:
        delay = float(os.environ.get(SAVE_DELAY_ENV, "0") or 0)
    mdir.root.mkdir(parents=True, exist_ok=True)
    new = mdir.checkpoint(CKPT_NEW)
    if new.exists():
        shutil.rmtree(new)
    try:
        _write_new(new, parts, iteration=iteration, model=model, trainer_state=trainer_state, rng=rng, delay=delay)
    except BaseException as exc:
        shutil.rmtree(new, ignore_errors=True)  # a partial copy only takes space; the current one is untouched
        if is_disk_full(exc):
            raise disk_full_error(mdir, exc) from None
        raise
    cur, prev = mdir.checkpoint(CKPT), mdir.checkpoint(CKPT_PREV)
    if cur.exists():
        if verify(cur) is not None:
            if prev.exists():
                shutil.rmtree(prev)
            os.replace(cur, prev)
        else:  # a damaged current copy: kept for the user, out of the rotation
            os.replace(cur, cur.with_name(f"{cur.name}.damaged-{int(time.time())}"))
    if delay:
        time.sleep(delay)
    os.replace(new, cur)
    _fsync_dir(mdir.root)
    return cur


def _write_new(new: Path, parts: dict[str, dict[str, torch.Tensor]], *, iteration: int, model: str,
               trainer_state: dict[str, Any] | None, rng: dict[str, torch.Tensor] | None, delay: float) -> None:
    from safetensors.torch import save as st_save

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


def disk_full_error(mdir: ModelDir, exc: BaseException) -> DiskFullError:
    """``disk full: <path>, N MB free, the last good checkpoint is iteration K`` for a training that must stop."""
    path = getattr(exc, "filename", None) or mdir.root
    got = find_checkpoint(mdir)
    kept = (f"the last good checkpoint is iteration {_iteration(got[1])} ({got[0]}), kept" if got is not None
            else "no checkpoint had been saved yet")
    return disk_full(path, f"{kept}; free some space and train again to continue from it")


def tidy(mdir: ModelDir) -> None:
    """Finish a save that was interrupted between its two renames (the trainer calls this at start)."""
    new, cur, prev = mdir.checkpoint(CKPT_NEW), mdir.checkpoint(CKPT), mdir.checkpoint(CKPT_PREV)
    if not new.exists():
        return
    m_new = verify(new)
    m_cur = verify(cur) if cur.exists() else None
    if m_new is not None and (m_cur is None or _iteration(m_new) > _iteration(m_cur)):
        if m_cur is not None:
            if prev.exists():
                shutil.rmtree(prev)
            os.replace(cur, prev)
        elif cur.exists():
            os.replace(cur, cur.with_name(f"{cur.name}.damaged-{int(time.time())}"))
        os.replace(new, cur)
        _fsync_dir(mdir.root)
    elif m_new is None and (new / MANIFEST).exists() and m_cur is None:
        return  # a finished save damaged since, and no good current copy: the loader decides, nothing is deleted
    else:
        shutil.rmtree(new)


def find_checkpoint(mdir: ModelDir, warn: Callable[[str], None] | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest complete checkpoint folder and its manifest (None when there is none)."""
    found = []
    for which in (CKPT, CKPT_NEW, CKPT_PREV):
        folder = mdir.checkpoint(which)
        if not folder.exists():
            continue
        manifest, problems = check(folder)
        if manifest is None or problems:
            if warn is not None and which != CKPT_NEW:
                warn(f"{folder} is damaged ({_describe(problems)}); using an older copy")
            continue
        found.append((_iteration(manifest), which != CKPT, folder, manifest))
    if not found:
        return None
    found.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return found[0][2], found[0][3]


class ModelLoadError(InputError):
    """A model whose files exist but do not load. Nothing on disk was changed."""


class _Unreadable(Exception):
    def __init__(self, name: str, exc: BaseException) -> None:
        super().__init__(name)
        self.name, self.exc = name, exc


# Parts a resume rebuilds without losing any training: the random streams, and the iteration
# counter (the manifest has it too). Optimizers are dropped only when the caller says so.
AUTO_PARTS = frozenset({RNG_PART, "state"})


def _part_of(name: str) -> str:
    return name[: -len(".safetensors")] if name.endswith(".safetensors") else name


def _describe(problems: dict[str, str]) -> str:
    return "; ".join(f"{name}: {why}" for name, why in problems.items())


def read_parts(folder: Path, manifest: dict[str, Any], skip: Any = ()) -> dict[str, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    parts = {}
    for name in manifest["files"]:
        part = _part_of(name)
        if name.endswith(".safetensors") and part not in skip:
            try:
                parts[part] = load_file(str(folder / name), device="cpu")
            except Exception as exc:  # noqa: BLE001 - any decoding failure names the file
                raise _Unreadable(name, exc) from exc
    return parts


def backups(mdir: ModelDir) -> list[tuple[Path, dict[str, Any] | None]]:
    """(slot folder, manifest of its checkpoint or None when damaged), newest (01) first."""
    return [(slot, verify(slot / CKPT)) for slot in mdir.backups()]


def _way_back(mdir: ModelDir, restore_hint: str) -> str:
    good = [(slot, m) for slot, m in backups(mdir) if m is not None]
    if not good:
        return "There is no autobackup of it to go back to."
    listed = ", ".join(f"{slot.name} (iteration {_iteration(m)}, "
                       f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(float(m.get('saved') or 0)))})"
                       for slot, m in good[:3])
    more = f" and {len(good) - 3} more in {mdir.backups_dir}" if len(good) > 3 else ""
    return f"Autobackups are the way back: {listed}{more}; {restore_hint.format(slot=good[0][0].name)}."


def _saved_before(mdir: ModelDir) -> str | None:
    """Why a model with no checkpoint folder must have had one (None: it was never saved)."""
    aside = sorted(p.name for p in mdir.root.glob(CKPT + "*.damaged-*")) if mdir.root.is_dir() else []
    if aside:
        return f"only damaged copies set aside earlier remain ({', '.join(aside)})"
    it = mdir.read_state().get("saved_iteration")
    if isinstance(it, int) and not isinstance(it, bool) and it > 0:
        return f"{mdir.state_path.name} says it was saved at iteration {it}, but {mdir.checkpoint()} is missing"
    if mdir.backups():
        return f"it has autobackups but {mdir.checkpoint()} is missing"
    return None


def load_checkpoint(mdir: ModelDir, warn: Callable[[str], None] | None = None, *, optional: Any = (),
                    reset_optional: bool = False, reset_hint: str = "run again with --reset-optimizer",
                    restore_hint: str = "'dfl-tui train --name {name} --restore-backup {slot}' puts one back") \
        -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any], Path] | None:
    """(parts incl. ``rng``, manifest, folder) of the newest copy that loads, or None for a model
    that was never saved.

    A copy loads when every file is intact, or when only parts that can be rebuilt are damaged:
    the random streams and the iteration counter always (said through ``warn``), the ``optional``
    parts (optimizers) only with ``reset_optional`` (the user's explicit choice); those parts are
    left out of the result, so the model keeps them fresh. When nothing loads, :class:`ModelLoadError`
    names every damaged file, what can be recovered and the autobackups; nothing is changed on disk.
    """
    say = warn or (lambda _m: None)
    restore_hint = restore_hint.replace("{name}", mdir.name)
    seen = []
    for which in (CKPT, CKPT_NEW, CKPT_PREV):
        folder = mdir.checkpoint(which)
        if folder.exists():
            manifest, problems = check(folder)
            if which == CKPT_NEW and manifest is None:
                continue  # a save cut short: never a candidate (tidy() removes it)
            seen.append((folder, manifest, problems))
    if not seen:
        why = _saved_before(mdir)
        if why is None:
            return None
        raise ModelLoadError(f"model '{mdir.name}' in {mdir.root} could not be loaded: {why}. Nothing was changed. "
                             + _way_back(mdir, restore_hint))
    recoverable = AUTO_PARTS | (frozenset(optional) if reset_optional else frozenset())
    order = sorted((s for s in seen if s[1] is not None), key=lambda s: (_iteration(s[1]), s[0].name != CKPT),
                   reverse=True)
    unreadable = []
    for folder, manifest, problems in order:
        skip = {_part_of(n) for n in problems}
        if not skip <= recoverable:
            continue
        try:
            parts = read_parts(folder, manifest, skip=skip)
        except _Unreadable as u:
            problems[u.name] = f"could not be read ({u.exc})"
            unreadable.append(folder)
            continue
        if "state" in skip:
            parts["state"] = {"iteration": torch.tensor(_iteration(manifest), dtype=torch.int64)}
        for other, _m, other_problems in seen:
            if other is not folder and other_problems and other not in unreadable:
                say(f"{other} is damaged ({_describe(other_problems)}); it is kept until the next save sets it "
                    f"aside; resuming from {folder.name} (iteration {_iteration(manifest)})")
        if problems:
            dropped = sorted(skip - AUTO_PARTS)
            say(f"{folder}: {_describe(problems)}; "
                + (f"continuing with a fresh {', '.join(dropped)} as asked" if dropped
                   else "rebuilt from the manifest (no training is lost)"))
        for bad in unreadable:  # kept for the user, out of the way of the next saves
            aside = bad.with_name(bad.name + f".damaged-{int(time.time())}")
            os.replace(bad, aside)
            say(f"{bad} could not be read ({_describe(problems)}); set aside as {aside.name}")
        return parts, manifest, folder
    lines = [f"model '{mdir.name}' could not be loaded; its files exist but are damaged (nothing was changed):"]
    for folder, _m, problems in seen:
        lines += [f"  {folder / name}: {why}" for name, why in problems.items()]
    weights_ok = [(f, m) for f, m, pr in order if {_part_of(n) for n in pr} <= AUTO_PARTS | frozenset(optional)]
    if weights_ok and not reset_optional:
        f, m = weights_ok[0]
        lines.append(f"The network weights in {f.name}/ (iteration {_iteration(m)}) are intact: {reset_hint} to "
                     f"continue from them with a fresh optimizer.")
    lines.append(_way_back(mdir, restore_hint))
    raise ModelLoadError("\n".join(lines))


def optimizer_parts(model: Any) -> list[str]:
    """The checkpoint parts of ``model`` that are optimizers (what --reset-optimizer may drop)."""
    return [k for k, v in model.parts().items() if not isinstance(v, torch.nn.Module)]


def restore_backup(mdir: ModelDir, slot: str) -> str:
    """Make autobackup ``slot`` the model's checkpoint (and options). The copies it replaces are
    renamed ``<name>.replaced-<time>``, never deleted. Returns what was done, for the user."""
    slots = {p.name: p for p in mdir.backups()}
    src = slots.get(slot) or slots.get(slot.zfill(2))
    if src is None:
        raise InputError(f"no autobackup {slot!r} in {mdir.backups_dir}"
                         + (f": there are {', '.join(sorted(slots))}" if slots else ""))
    manifest, problems = check(src / CKPT)
    if manifest is None or problems:
        raise InputError(f"autobackup {src} is damaged too ({_describe(problems)}): choose another one")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    done = []
    for which in (CKPT_NEW, CKPT, CKPT_PREV):
        folder = mdir.checkpoint(which)
        if folder.exists():
            aside = folder.with_name(f"{folder.name}.replaced-{stamp}")
            os.replace(folder, aside)
            done.append(f"{folder.name} -> {aside.name}")
    incoming = mdir.checkpoint(CKPT + ".restoring")
    if incoming.exists():
        shutil.rmtree(incoming)
    shutil.copytree(src / CKPT, incoming)
    _fsync_dir(incoming)
    os.replace(incoming, mdir.checkpoint(CKPT))
    opts = src / mdir.options_path.name
    if opts.is_file():
        if mdir.options_path.exists():
            aside = mdir.options_path.with_name(f"{mdir.options_path.name}.replaced-{stamp}")
            os.replace(mdir.options_path, aside)
            done.append(f"{mdir.options_path.name} -> {aside.name}")
        shutil.copy2(opts, mdir.options_path)
    _fsync_dir(mdir.root)
    return (f"restored autobackup {src.name} (iteration {_iteration(manifest)}) into {mdir.checkpoint()}"
            + (f"; kept the replaced copies: {', '.join(done)}" if done else ""))


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
    got = load_checkpoint(mdir, optional=optimizer_parts(model), reset_optional=True)  # inference needs no optimizer
    if got is None:
        raise DflError(f"model '{name}' has no saved checkpoint yet: let it train until the first save")
    parts, _manifest, _folder = got
    parts.pop(RNG_PART, None)
    model.load_parts(parts)
    model.eval()
    return model


__all__ = ["FORMAT", "tidy", "find_checkpoint", "load_checkpoint", "load_model", "read_parts", "rng_state",
           "save_checkpoint", "set_rng_state", "verify",
           "AUTO_PARTS", "ModelLoadError", "backups", "check", "disk_full_error", "optimizer_parts", "restore_backup"]
