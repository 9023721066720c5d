"""The ``train`` step: DeepFaceLab's trainer loop around the PyTorch models (reference §6.1).

``run_train(ctx, opts)`` runs in a job process (detached by default, so it survives the terminal):

* options: the requested :class:`~dfl_tui.train.options.TrainOptions` merged with the model's
  saved ``options.json`` (fixed options stay as created; the rest may change on restart);
* resume: the newest complete checkpoint is loaded (weights, optimizer state, iteration, random
  generators); a model whose pretrain option was switched off restarts at iteration 0 with
  fresh inter layers, as DeepFaceLab does;
* the loop: batches from :class:`~dfl_tui.train.samples.FaceSource` (decoded in threads, cached),
  augmented on the training device (:mod:`dfl_tui.train.augment`), one ``model.train_step_async`` (its losses are read one step later on a GPU);
* saves (:mod:`dfl_tui.train.checkpoint`, SIGKILL-safe) at iteration 1 of a new model, every
  ``autosave_minutes``, on request (control file ``save``), at the target iteration and when the
  job is stopped (SIGTERM or the ``cancel`` control file); autobackups every N hours into
  rotating slots and on request (``backup``); preview PNGs every preview period and on request
  (``preview``); preview history when enabled; ``summary.txt``; ``metrics.jsonl``;
* a NaN/inf loss stops training without saving: the last good checkpoint stays (its iteration is
  named); a GPU out-of-memory error ends with a message naming the batch size and resolution.

Around the loop, one module per thing: :mod:`.device` (which device, out-of-memory messages),
:mod:`.batches` (faces -> augmented batch), :mod:`.metrics` (metrics.jsonl, loss history),
:mod:`.distributed` (torchrun ranks), :mod:`.backups` (rotating autobackups), :mod:`.summary`
(summary.txt), :mod:`.checkpoint` (saving and loading).
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from collections import deque
from typing import Any

import numpy as np
import torch

from .. import options as optmod
from ..errors import DflError, InputError
from ..faces.facetype import FaceType
from ..util.atomic import atomic_write_text
from . import checkpoint as ckpt
from .backups import rotate_backup
from .batches import BatchMaker, BatchPrefetcher
from ..device import device_lines, is_oom, oom_message, pick_device
from .distributed import Dist
from .metrics import IterationTimes, LossHistory, MetricsWriter
from .modeldir import ModelDir
from .options import describe_changes, resolve
from .preview import layout_previews, write_history, write_previews
from .samples import FaceSource, aligned_dirs, default_processes, default_threads, load_faceset, loader_pool
from .summary import summary_text

PREVIEW_MIN_SECONDS = 5.0  # the latest preview is rewritten at most this often (history is not limited)
PREVIEW_SHARE = 0.01  # ... and rarer when making it would take more than this share of the training time
CONTROL_EVERY = 0.5  # seconds between control-file checks


class TrainingStopped(DflError):
    """Training ended on purpose with a message for the user (NaN loss, out of memory)."""


# ---------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------


class Trainer:
    def __init__(self, ctx: Any, opts: Any) -> None:
        self.ctx = ctx
        self.ws = ctx.workspace
        if self.ws is None:
            raise DflError("training needs a workspace")
        self.opts = opts
        name = opts.model_dir_name
        if not name:
            saved_models = [d for d in (self.ws.model_dir.iterdir() if self.ws.model_dir.is_dir() else [])]
            raise InputError("name the model (--name) or choose its kind (--model)" +
                             (f"; models here: {', '.join(sorted(p.name for p in saved_models))}" if saved_models else ""))
        try:
            self.mdir = ModelDir.of(self.ws, name)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        self.saved = self.mdir.read_options()
        try:
            self.resolved = resolve(opts, self.saved, str(self.mdir.options_path))
        except optmod.OptionError as exc:
            raise InputError(str(exc)) from None
        self.kind = self.resolved.model
        self.topts = self.resolved.trainer
        self.dist = Dist()
        self.device = pick_device(opts.device)
        self.dist.setup(self.device)
        self.nan_at: int | None = None
        self.saved_iteration: int | None = None
        self.last_save_t = time.monotonic()
        self.next_preview_t = 0.0
        self.last_batch: dict[str, torch.Tensor] | None = None
        self.save_losses: dict[str, float] = {}
        self.save_count = 0

    # -- set-up --------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        self.ctx.log(msg)

    def setup(self) -> None:
        from ..models import build_model

        r = self.resolved
        if r.new:
            self.log(f"new {self.kind} model '{self.mdir.name}' in {self.mdir.root}")
        else:
            for line in describe_changes(r):
                self.log("options: " + line)
        d = self.dist
        if d.main:
            self._lock_model()
            ckpt.tidy(self.mdir)
        d.barrier()
        seed = self.opts.seed if self.opts.seed is not None else int.from_bytes(os.urandom(4), "little") >> 1
        seed = d.same_int(seed)
        torch.manual_seed(seed)  # the same on every rank: identical init, lr-dropout masks, AMP picks
        self.gen = torch.Generator().manual_seed(seed + 3 + 7919 * d.rank)  # augmentation differs per rank
        try:
            self.model = build_model(self.kind, r.model_options, self.device)
        except optmod.OptionError as exc:
            raise InputError(str(exc)) from None
        self.model.train()
        got = ckpt.load_checkpoint(self.mdir, warn=self.ctx.warn, optional=ckpt.optimizer_parts(self.model),
                                   reset_optional=bool(self.opts.reset_optimizer))
        self.trainer_state: dict[str, Any] = {}
        if got is not None:
            parts, manifest, folder = got
            rng = parts.pop(ckpt.RNG_PART, None)
            notes = self.model.load_parts(parts)
            for n in notes:
                self.log(f"checkpoint: {n}")
            if rng is not None and self.opts.seed is None:
                ckpt.set_rng_state(rng, {"augment": self.gen} if d.main else {})
            self.trainer_state = manifest.get("trainer") or {}
            self.saved_iteration = self.model.iteration
            self.log(f"resumed from {folder.name} at iteration {self.model.iteration}")
        elif not r.new:
            self.ctx.warn(f"model '{self.mdir.name}' has options but no saved checkpoint: starting from scratch")
        was_pretrain = bool(((self.saved or {}).get("options") or {}).get("pretrain"))
        if was_pretrain and not r.model_options.get("pretrain") and got is not None:
            self.model.end_pretraining()
            self.log("pretraining switched off: iteration reset to 0, inter layers re-initialised")
        d.sync_model(self.model)
        self.cfg = self.model.sampler_config()
        self.batch_size = int(self.cfg["batch_size"])
        if d.world > 1:  # DeepFaceLab splits the batch over the GPUs
            self.batch_size = max(1, self.batch_size // d.world)
            self.log(f"rank {d.rank} of {d.world}: {self.batch_size} faces per side per step on {self.device}")
        self.res = int(self.cfg["resolution"])
        if d.main:
            created = (self.saved or {}).get("created") or time.time()
            self.mdir.write_options(r.saved_json(created=created))
            self._write_run_json()
            self._write_summary()
        self._load_samples(seed + 1000 * d.rank)
        self.maker = BatchMaker(self.cfg, self.device, self.gen)
        self.metrics = MetricsWriter(self.mdir.metrics_path if d.main else None, self.batch_size * d.world)
        self.history = LossHistory()
        if d.main:
            self.history.load(self.mdir.metrics_path)
        self.metrics.event("start", self.model.iteration, model=self.kind, device=str(self.device),
                           batch=self.batch_size * d.world, world=d.world)
        period = int(self.topts.get("preview_every") or 0)
        self.preview_period = period if period > 0 else (10 * max(1, self.res // 64) if self.kind != "Quick96" else 10)
        self.last_backup_wall = float(self.mdir.read_state().get("backup_time") or time.time())

    def _lock_model(self) -> None:
        """One trainer per model: a flock held for the whole run (released by the OS if we die)."""
        import fcntl

        self.mdir.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.mdir.root / "train.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            other = self.mdir.read_run().get("run_id") or "another process"
            raise InputError(f"model '{self.mdir.name}' is already being trained ({other}); stop that training "
                             f"first, or train another --name") from None
        self._model_lock = fd

    def _load_samples(self, seed: int) -> None:
        pretrain_dir = (self.opts.pretraining_data_dir or None) if self.cfg.get("pretrain") else None
        src_dir, dst_dir = aligned_dirs(self.ws, pretrain_dir)
        if self.cfg.get("pretrain") and not self.opts.pretraining_data_dir:
            raise InputError("pretrain is on: give the pretraining faces with --pretraining-data-dir DIR")
        ft = FaceType.from_string(self.cfg["face_type"])
        threads = self.opts.loader_threads or default_threads()
        procs = self.opts.loader_processes
        procs = default_processes(self.device.type, self.dist.world) if procs is None or procs < 0 else procs
        self.loader_pool = loader_pool(procs) if procs > 0 else None
        cache = int(self.opts.cache_mb) << 20
        self.log(f"indexing faces in {src_dir} and {dst_dir}")
        src = load_faceset(src_dir, warn=self.ctx.warn)
        dst = src if dst_dir == src_dir else load_faceset(dst_dir, warn=self.ctx.warn)
        uy = bool(self.cfg.get("uniform_yaw"))
        self.src = FaceSource(src, self.res, ft, self.batch_size, uniform_yaw=uy, seed=seed + 1, cache_bytes=cache,
                              threads=threads, warn=self.ctx.warn, label="src", processes=procs, pool=self.loader_pool)
        self.dst = FaceSource(dst, self.res, ft, self.batch_size, uniform_yaw=uy, seed=seed + 2, cache_bytes=cache,
                              threads=threads, warn=self.ctx.warn, label="dst", processes=procs, pool=self.loader_pool)
        for side, source in (("src", self.src), ("dst", self.dst)):
            st = (self.trainer_state.get("samplers") or {}).get(side)
            if st and self.opts.seed is None and self.dist.main:
                source.set_state(st)
        self.log(f"{len(src)} src faces, {len(dst)} dst faces; {self.kind} {self.res}px "
                 f"{FaceType.from_string(self.cfg['face_type']).to_string()}, batch {self.batch_size}, "
                 f"device {self.device}" + (f", {procs} loader process{'es' if procs != 1 else ''}" if procs else ""))
        self.preview_indexes = self._preview_indexes()

    def _preview_indexes(self) -> dict[str, list[int]]:
        """The fixed faces of the preview history (kept across restarts by file name)."""
        n = min(4, self.batch_size, max(1, 800 // self.res))
        out = {}
        saved = self.trainer_state.get("preview_faces") or {}
        for side, source in (("src", self.src), ("dst", self.dst)):
            names = {s.name: i for i, s in enumerate(source.samples)}
            idx = [names[x] for x in saved.get(side, []) if x in names][:n]
            if len(idx) < min(n, len(source.samples)):
                rng = random.Random(len(source.samples))
                pool = [i for i in range(len(source.samples)) if i not in idx]
                rng.shuffle(pool)
                idx += pool[: n - len(idx)]
            while len(idx) < n:
                idx.append(idx[len(idx) % max(1, len(idx))] if idx else 0)
            out[side] = idx
        return out

    def _write_run_json(self) -> None:
        from ..util.atomic import atomic_write_json

        run = getattr(self.ctx, "run", None)
        atomic_write_json(self.mdir.run_path, {
            "run_id": getattr(run, "id", None), "run_dir": str(getattr(run, "path", "") or ""),
            "pid": os.getpid(), "started": time.time(), "device": str(self.device), "model": self.kind,
        }, fsync=False)

    def _write_summary(self) -> None:
        opts = dict(self.resolved.model_options)
        if self.kind == "Quick96":
            from ..models.quick96 import FIXED

            opts = {**FIXED, **opts}
        opts.update({k: v for k, v in self.topts.items()})
        atomic_write_text(self.mdir.summary_path,
                          summary_text(f"{self.mdir.name}_{self.kind}", self.model.iteration, opts,
                                       device_lines(self.device)), fsync=False)

    # -- saving ----------------------------------------------------------------------------
    def save(self, reason: str) -> None:
        if getattr(self, "_pending", None):
            self._settle()  # may stop training (NaN) before anything is written
        if self.nan_at is not None or not self.dist.main:
            self.saved_iteration = self.model.iteration if self.nan_at is None else self.saved_iteration
            self.last_save_t = time.monotonic()
            return
        it = self.model.iteration
        t0 = time.monotonic()
        trainer_state = {
            "samplers": {"src": self.src.get_state(), "dst": self.dst.get_state()},
            "preview_faces": {side: [src.samples[i].name for i in idx]
                              for (side, idx), src in zip(self.preview_indexes.items(), (self.src, self.dst))},
            "reason": reason,
        }
        ckpt.save_checkpoint(self.mdir, self.model.state_dict_parts(), iteration=it, model=self.kind,
                             trainer_state=trainer_state, rng=ckpt.rng_state({"augment": self.gen}))
        now = time.time()
        st = self.mdir.read_state()
        st.update(model=self.kind, name=self.mdir.name, iteration=it, saved=now, saved_iteration=it)
        self.mdir.write_state(st)
        self._write_summary()
        self.saved_iteration = it
        self.last_save_t = time.monotonic()
        self.metrics.event("save", it, reason=reason, seconds=round(time.monotonic() - t0, 3))
        means = ""
        if self.save_count:
            means = " · mean since last save: " + " ".join(
                f"{k} {v / self.save_count:.4f}" for k, v in self.save_losses.items())
        self.save_losses, self.save_count = {}, 0
        self.log(f"saved at iteration {it} ({reason}, {time.monotonic() - t0:.1f}s){means}")

    def backup(self, reason: str) -> None:
        """Copy the current checkpoint, options, summary and previews into autobackups/01 (01 newest)."""
        if self.nan_at is not None or not self.dist.main:
            self.last_backup_wall = time.time()
            return
        if self.saved_iteration != self.model.iteration:
            self.save(f"before backup ({reason})")
        newest = rotate_backup(self.mdir, int(self.topts.get("backup_slots") or 24))
        now = time.time()
        self.last_backup_wall = now
        st = self.mdir.read_state()
        st.update(backup_time=now, backup_iteration=self.model.iteration)
        self.mdir.write_state(st)
        self.metrics.event("backup", self.model.iteration, reason=reason)
        self.log(f"backup of iteration {self.model.iteration} in {newest} ({reason})")

    # -- previews --------------------------------------------------------------------------
    @torch.no_grad()
    def _panels(self, batch: dict[str, torch.Tensor], rows: int | None = None) -> list[tuple[str, np.ndarray]]:
        self.model.eval()
        try:
            out = self.model.preview(batch)
        finally:
            self.model.train()
        return layout_previews(self.kind, out, face_type=self.cfg["face_type"], max_rows=rows)

    def write_preview(self, force: bool = False) -> None:
        if self.last_batch is None or self.nan_at is not None or not self.dist.main:
            return
        now = time.monotonic()
        if not force and now < self.next_preview_t:
            return
        paths = write_previews(self.mdir, self._panels(self.last_batch), self.model.iteration, cell=self.res)
        # A preview costs forward passes (on a CPU about half a training step) and PNG writes: keep it
        # under PREVIEW_SHARE of the time, so it never slows training noticeably.
        done = time.monotonic()
        self.next_preview_t = done + max(PREVIEW_MIN_SECONDS, (done - now) / PREVIEW_SHARE)
        if not getattr(self, "_preview_announced", False) and paths:
            self._preview_announced = True
            self.ctx.artifact("preview", str(paths[0]))

    def write_history(self) -> None:
        if not self.dist.main:
            return
        raw_s = self.src.make_batch(self.preview_indexes["src"])
        raw_d = self.dst.make_batch(self.preview_indexes["dst"])
        batch = self.maker.plain(raw_s, raw_d)
        write_history(self.mdir, self._panels(batch, rows=len(self.preview_indexes["src"])), self.model.iteration,
                      self.history.array())

    # -- the loop --------------------------------------------------------------------------
    def _check_losses(self, iteration: int, losses: dict[str, float], elsewhere: bool = False) -> None:
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if not bad and elsewhere:  # another rank saw it (torchrun)
            bad = list(losses)[:1]
            losses = {**losses, bad[0]: float("nan")}
        if not bad:
            return
        self.nan_at = iteration
        self.metrics.event("nan", iteration, losses={k: str(v) for k, v in losses.items()})
        kept = (f"the last good checkpoint (iteration {self.saved_iteration}) is kept"
                if self.saved_iteration is not None else "no checkpoint had been saved yet")
        raise TrainingStopped(
            f"{', '.join(bad)} became {losses[bad[0]]} at iteration {iteration}: training stopped without saving; "
            f"{kept}. Restart to continue from it; if it happens again lower the learning load "
            "(turn on clipgrad, lower gan_power or face/bg style power, or the batch size).")

    def _next_batch(self, times: IterationTimes) -> dict[str, torch.Tensor] | None:
        """The next augmented batch (from the prefetch thread), or None when the model relearns its
        last one (Quick96)."""
        if not self.model.needs_batch:
            return None
        t0 = time.perf_counter()
        batch, times.augment = self.prefetch.next()
        times.wait = time.perf_counter() - t0
        self.last_batch = batch
        return batch

    def _out_of_memory(self, msg: str) -> None:
        self.last_batch = None
        self._pending.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if self.model.iteration != self.saved_iteration:
            try:
                self.save("out of memory")
            except Exception:  # noqa: BLE001 - the message below matters more
                pass
        raise TrainingStopped(msg) from None

    def _record(self) -> dict[str, float]:
        """Read the oldest pending step's losses (a host sync on a GPU) and record them: metrics,
        history, progress, console. A NaN/inf stops training (:meth:`_check_losses`)."""
        it, tensors, seconds, times = self._pending.popleft()
        losses = self.model.losses_to_floats(tensors)
        self.last_losses = (it, losses)
        if not all(math.isfinite(v) for v in losses.values()):
            self._check_losses(it, losses)
        self.metrics.add(it, losses, seconds, times)
        self.history.add(losses)
        for k, v in losses.items():
            self.save_losses[k] = self.save_losses.get(k, 0.0) + v
        self.save_count += 1
        self.ctx.progress(it - self.start_it, (self.target - self.start_it) if self.target else None, iteration=it,
                          **{k: round(v, 4) for k, v in losses.items()})
        now = time.monotonic()
        if now - self._last_console >= 10.0:
            self._last_console = now
            ls = "".join(f"[{v:.4f}]" for v in losses.values())
            print(f"[{time.strftime('%H:%M:%S')}][#{it:06d}][{seconds * 1000:04.0f}ms]{ls}", flush=True)
        return losses

    def _settle(self) -> None:
        """Record every pending step (before a save: never write weights whose last loss is unread)."""
        while self._pending:
            self._record()

    def loss_lag(self) -> int:
        """How many steps late losses are read: 1 on a single GPU, else 0 (tests force 1 on the CPU)."""
        return 1 if self.device.type == "cuda" and not self.dist.on else 0

    def begin(self) -> bool:
        """Set up and prepare the loop; False when the target is already reached."""
        self.setup()
        self.target = int(self.topts.get("target_iter") or 0)
        self.autosave_s = float(self.topts.get("autosave_minutes") or 25.0) * 60.0
        self.backup_s = float(self.topts.get("autobackup_hours") or 0) * 3600.0
        self.history_on = bool(self.topts.get("write_preview_history"))
        self.start_it = self.model.iteration
        # Progress counts this session's iterations (so the job's it/s and ETA are right after a
        # resume); the model's own iteration goes along as a count.
        self.ctx.stage("training", total=(self.target - self.start_it) if self.target > self.start_it else None,
                       unit="it")
        if self.target and self.start_it >= self.target:
            self.log(f"the model is already at iteration {self.start_it}, the target is {self.target}: nothing to do "
                     "(raise --target-iter to go on)")
            return False
        self.new_model = self.saved_iteration is None
        self.reason = "stopped"
        # A step's losses are read after the next step is queued on a GPU (the GPU never waits for
        # the host); at once on the CPU, and with torchrun (the ranks agree on them every step).
        self._lag = self.loss_lag()
        self._pending: deque[tuple[int, dict[str, torch.Tensor], float, IterationTimes]] = deque()
        self._last_control = self._last_console = 0.0
        self.totals = IterationTimes()
        self.src.start()
        self.dst.start()
        self.prefetch = BatchPrefetcher(self.maker, lambda: (self.src.next(), self.dst.next()))
        self.metrics.flush()
        return True

    def iterate(self) -> bool:
        """One training step and what is due after it (saves, previews, backups, requests).
        False when training ends (``self.reason`` says why: target, stopped...)."""
        ctx, d = self.ctx, self.dist
        if ctx.cancelled and not d.on:
            self.reason = ctx.stop_reason or "stopped"
            return False
        times = IterationTimes()
        t0 = t1 = time.perf_counter()
        oom = None
        try:
            batch = self._next_batch(times)
            t1 = time.perf_counter()
            losses = self.model.train_step_async(batch)
        except Exception as exc:
            if not is_oom(exc):
                raise
            oom = oom_message(exc, self.device, self.batch_size, self.res)
        if oom is not None:  # outside the except block: the failed step's tensors are freed
            self._out_of_memory(oom)
        t2 = time.perf_counter()
        times.step = t2 - t1
        self.totals.add(times)
        self._pending.append((self.model.iteration, losses, t2 - t0, times))
        recorded_bad = False
        while len(self._pending) > self._lag:
            recorded_bad |= not all(math.isfinite(v) for v in self._record().values())
        it = self.model.iteration
        now = time.monotonic()
        # What to do after this step: asked by the user (control files, SIGTERM), due by the clock,
        # or forced by a bad loss. With torchrun every rank does the same.
        want = [int(ctx.cancelled), int(recorded_bad), 0, 0, 0, 0, 0]
        if d.main:
            if now - self._last_control >= CONTROL_EVERY:
                self._last_control = now
                want[2] = int(ctx.take_request("save"))
                want[3] = int(ctx.take_request("backup"))
                want[4] = int(ctx.take_request("preview"))
            want[5] = int(now - self.last_save_t >= self.autosave_s)
            want[6] = int(bool(self.backup_s) and time.time() - self.last_backup_wall >= self.backup_s)
        stop, nan, req_save, req_backup, req_preview, due_save, due_backup = d.agree(want)
        if nan:  # another rank's loss went bad
            self._check_losses(*getattr(self, "last_losses", (it, {"loss": float("nan")})), elsewhere=True)
        if self.new_model and it == self.start_it + 1:
            self.save("first iteration")
            self.write_preview(force=True)
        if self.target and it >= self.target:
            self.write_preview(force=True)
            if self.history_on:
                self.write_history()
            self.save("target iteration")
            self.reason = "target"
            return False
        if it % self.preview_period == 0:
            self.write_preview()
            if self.history_on:
                self.write_history()
        if stop:
            self.reason = ctx.stop_reason or "stopped on another rank"
            return False
        if due_save:
            self.save(f"every {self.autosave_s / 60:g} minutes")
        if due_backup:
            self.backup(f"every {self.backup_s / 3600:g} hours")
        if req_save:
            self.save("requested")
        if req_backup:
            self.backup("requested")
        if req_preview:
            self.write_preview(force=True)
        return True

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        except OSError as exc:
            if ckpt.is_disk_full(exc):  # whatever write hit it, say what is kept
                raise ckpt.disk_full_error(self.mdir, exc) from None
            raise
        finally:
            fd = getattr(self, "_model_lock", None)
            if fd is not None:
                os.close(fd)
                self._model_lock = None

    def _run(self) -> dict[str, Any]:
        if not self.begin():
            return {"model": self.mdir.name, "iteration": self.start_it, "target_reached": True}
        t_start = time.monotonic()
        try:
            while self.iterate():
                pass
            self._settle()
        except TrainingStopped:
            self.metrics.flush()
            raise
        except BaseException:
            # Unexpected: keep what was learnt if the weights are still good, then report the crash.
            if self.nan_at is None and self.model.iteration != self.saved_iteration:
                try:
                    self.save("after an error")
                except Exception as exc:  # noqa: BLE001
                    print(f"could not save after the error: {exc}", file=sys.stderr, flush=True)
            raise
        finally:
            self.close_loaders()
        return self._finish(self.reason, self.start_it, t_start)

    def close_loaders(self) -> None:
        if getattr(self, "prefetch", None) is not None:
            self.prefetch.close()
        self.src.close()
        self.dst.close()
        if self.loader_pool is not None:
            self.loader_pool.shutdown(wait=False, cancel_futures=True)

    def _finish(self, reason: str, start_it: int, t_start: float) -> dict[str, Any]:
        d = self.dist
        if reason != "target":
            self.write_preview(force=True)
            if self.model.iteration != self.saved_iteration:
                self.save("stop")
        elapsed = time.monotonic() - t_start
        done = self.model.iteration - start_it
        self.metrics.event("stop", self.model.iteration, reason=reason)
        if d.on:
            self.log(f"rank {d.rank}: weights checksum {d.checksum(self.model):.10e}")
        self.log(f"{done} iterations in {elapsed:.0f}s ({done / elapsed if elapsed > 0 else 0:.2f} it/s); "
                 f"model at iteration {self.model.iteration}" + (" (target reached)" if reason == "target" else ""))
        return {"model": self.mdir.name, "iteration": self.model.iteration, "iterations_run": done,
                "it_per_s": round(done / elapsed, 3) if elapsed > 0 else 0.0, "target_reached": reason == "target"}


def run_train(ctx: Any, opts: Any) -> dict[str, Any]:
    """The ``train`` step's run function (see the module docstring)."""
    return Trainer(ctx, opts).run()


__all__ = ["Trainer", "TrainingStopped", "run_train"]
