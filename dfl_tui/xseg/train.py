"""The ``xseg-train`` step: train the XSeg mask network on labelled faces (DeepFaceLab §5.3).

Runs as a detached job like ``train`` and writes the same model-folder files, so the
training monitor shows it: ``model/XSeg/options.json``, ``state.json``, ``run.json``,
``summary.txt``, ``metrics.jsonl`` (the main trainer's :class:`MetricsWriter`), PNG
previews and SIGKILL-safe safetensors checkpoints (:mod:`dfl_tui.train.checkpoint`).

* data: src and dst aligned faces together, those with polygons (else those with an
  applied mask), cut to the model's face type (:mod:`dfl_tui.xseg.samples`), decoded
  once and cached, augmented per sample in loader threads (:mod:`dfl_tui.xseg.augment`);
* model: :class:`~dfl_tui.xseg.net.XSegNet`, RMSprop at lr 1e-4 with lr dropout (only
  30 % of the weights move at each step, always on in DeepFaceLab's XSeg);
* loss: per-pixel sigmoid cross-entropy against the mask. **Pretrain mode** (no labels
  needed): the skips are zeroed and the net reconstructs the grey face, loss
  5 DSSIM(res/11.6) + 5 DSSIM(res/23.2) + 10 MSE;
* saves every ``save_every_min``, on the ``save`` request, at the target iteration and
  on stop; previews every ``preview_every`` iterations and on the ``preview`` request.
"""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .. import options as optmod
from ..errors import DflError, InputError
from ..faces.facetype import FaceType
from ..train import checkpoint as ckpt
from ..train.modeldir import ModelDir
from ..train.preview import write_previews
from ..device import device_lines, is_oom, pick_device
from ..train.metrics import MetricsWriter
from ..train.summary import summary_text
from ..util.atomic import atomic_write_json, atomic_write_text
from ..util.prefetch import Prefetcher
from .augment import augment
from .model import DFL_LAYOUT, FIXED, FORMAT, NET_PART, OPT_PART, model_dir_for, net_layout, saved_fixed
from .net import XSegNet, count_parameters
from .options import MODEL_NAME, XSegTrainOptions
from .samples import XSegSample, folders_for, load_face_only, load_truth, scan, training_set

PREVIEW_PANELS = ("XSeg training faces", "XSeg src faces", "XSeg dst faces")


# ---------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------


class XSegBatches:
    """Augmented training batches, made ahead in threads (OpenCV releases the GIL).

    Each face is decoded and cut to the model's crop once, then kept (uint8 image and
    bit mask, about 0.26 MB at 256 px); the random part runs per sample with its own
    seeded generator so runs repeat with the same seed.
    """

    def __init__(self, samples: Sequence[XSegSample], res: int, face_type: FaceType, batch: int, source: str,
                 seed: int, threads: int, pretrain: bool, warn: Any = None) -> None:
        self.samples = list(samples)
        self.res, self.ft, self.batch, self.source = res, face_type, batch, source
        self.pretrain = pretrain
        self.warn = warn
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.bad: set[int] = set()
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="xseg-load")
        self._prefetch = Prefetcher(self.make, depth=3, name="xseg-batches")
        self._counter = 0

    def face(self, i: int) -> tuple[np.ndarray, np.ndarray] | None:
        with self.lock:
            got = self.cache.get(i)
        if got is not None:
            return got
        if i in self.bad:
            return None
        s = self.samples[i]
        try:
            if self.pretrain:
                img = load_face_only(s, self.res, self.ft)
                mask = np.ones((self.res, self.res), np.float32)
            else:
                img, mask = load_truth(s, self.res, self.ft, self.source)
        except (InputError, OSError, cv2.error) as exc:
            self.bad.add(i)
            if self.warn is not None:
                self.warn(f"skipped {s.path}: {exc}")
            return None
        got = (img, mask.astype(np.uint8))
        with self.lock:
            self.cache[i] = got
        return got

    def _sample(self, i: int, j: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
        a = self.face(i)
        if a is None:
            return None
        rng = np.random.default_rng(seed)
        other = None
        if not self.pretrain and len(self.samples) > 1:
            b = self.face(j)
            if b is not None:
                other = (b[0].astype(np.float32) / 255.0, b[1].astype(np.float32))
        img, mask = augment(a[0].astype(np.float32) / 255.0, a[1].astype(np.float32), rng, other)
        return img, mask

    def make(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch: (images N x 3 x R x R float, masks N x 1 x R x R float)."""
        out: list[tuple[np.ndarray, np.ndarray]] = []
        tries = 0
        while len(out) < self.batch:
            tries += 1
            if tries > self.batch * 20 or len(self.bad) >= len(self.samples):
                raise DflError("no training face could be loaded: see the warnings above")
            n = self.batch - len(out)
            idx = self.rng.integers(0, len(self.samples), size=(n, 2))
            seeds = [self.seed * 1_000_003 + self._counter + k for k in range(n)]
            self._counter += n
            futs = [self.pool.submit(self._sample, int(i), int(j), s) for (i, j), s in zip(idx, seeds)]
            out += [r for r in (f.result() for f in futs) if r is not None]
        imgs = torch.from_numpy(np.stack([o[0] for o in out])).permute(0, 3, 1, 2).contiguous()
        masks = torch.from_numpy(np.stack([o[1] for o in out]))[:, None].contiguous()
        return imgs, masks

    # -- prefetch ---------------------------------------------------------------------------
    def start(self) -> "XSegBatches":
        self._prefetch.start()
        return self

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self._prefetch.started:
            return self.make()
        return self._prefetch.get()

    def close(self) -> None:
        self._prefetch.close(timeout=5.0)
        self.pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------------
# Losses and previews
# ---------------------------------------------------------------------------


def grey(x: torch.Tensor) -> torch.Tensor:
    """BGR -> luma, N x 1 x H x W."""
    b, g, r = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.114 * b + 0.587 * g + 0.299 * r


def pretrain_loss(pred: torch.Tensor, target: torch.Tensor, res: int) -> torch.Tensor:
    from ..models.losses import dssim, dssim_kernels

    k1, k2 = dssim_kernels(res)
    return (5 * dssim(pred, target, max(k1, 1)) + 5 * dssim(pred, target, max(k2, 1))).mean() \
        + 10 * (pred - target).square().mean()


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)


def tint(img: np.ndarray, mask: np.ndarray, colour: tuple[float, float, float] = (0.0, 1.0, 0.0)) -> np.ndarray:
    """The image with the mask area tinted (DeepFaceLab's green for ground truth)."""
    m = mask[..., None]
    return img * (1 - 0.5 * m) + np.array(colour, np.float32) * 0.5 * m


def panel_rows(images: np.ndarray, preds: np.ndarray, truths: np.ndarray | None) -> np.ndarray:
    """Rows of [image (GT tinted) | predicted mask | image x prediction] (NHWC float images)."""
    rows = []
    for k in range(len(images)):
        img = images[k]
        p = preds[k]
        first = tint(img, truths[k]) if truths is not None else img
        pm = np.repeat(p[..., None], 3, axis=2)
        rows.append(np.concatenate([first, pm, img * (0.25 + 0.75 * p[..., None])], axis=1))
    return _u8(np.concatenate(rows, axis=0))


# ---------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------


class XSegTrainer:
    def __init__(self, ctx: Any, opts: XSegTrainOptions) -> None:
        self.ctx = ctx
        self.ws = ctx.workspace
        if self.ws is None:
            raise DflError("XSeg training needs a workspace")
        self.opts = opts
        self.mdir: ModelDir = model_dir_for(self.ws, opts.model_dir or None)
        self.device = pick_device(opts.device)
        self.iteration = 0
        self.saved_iteration: int | None = None
        self.last_save_t = time.monotonic()
        self.last_loss = float("nan")

    def log(self, msg: str) -> None:
        self.ctx.log(msg)

    # -- set-up ------------------------------------------------------------------------------
    def _fixed_options(self) -> dict[str, Any]:
        asked = {k: getattr(self.opts, k) for k in FIXED}
        saved = self.mdir.read_options()
        if not saved:
            return {**asked, **DFL_LAYOUT}  # new models are built as DeepFaceLab's
        if saved.get("model") != MODEL_NAME:
            raise InputError(f"{self.mdir.root} holds a {saved.get('model')} model, not XSeg; "
                             "choose another --model-dir")
        kept = saved_fixed(self.mdir, saved, asked)
        for k in FIXED:
            if kept[k] != asked[k]:
                spec = {s.name: s for s in optmod.describe(XSegTrainOptions)}[k]
                if asked[k] != spec.default:
                    self.ctx.warn(f"{k} stays {kept[k]!r} (fixed when the model was created; "
                                  "--restart for a new model)")
        return {**kept, **net_layout(saved)}

    def _restart(self) -> None:
        if not self.mdir.root.exists():
            return
        from ..faceset.trash import set_aside, undo_hint

        models = self.mdir.root.parent
        self.log("--restart: a new model; the old one goes to the trash")
        set_aside(models, [self.mdir.root], "xseg --restart", self, displace="names",
                  undo=undo_hint("src", models))

    def setup(self) -> None:
        opts = self.opts
        if opts.restart:
            self._restart()
        if self.mdir.root.exists():
            ckpt.tidy(self.mdir)
        fixed = self._fixed_options()
        self.face_type = FaceType.from_string(fixed["face_type"])
        self.res, self.base_ch = int(fixed["resolution"]), int(fixed["base_ch"])
        seed = int(opts.seed) if opts.seed else int.from_bytes(os.urandom(4), "little")
        torch.manual_seed(seed)
        # channels_last: about 20 % faster on CPU (oneDNN) and the fast layout for GPU convolutions.
        self.net = XSegNet(self.res, self.base_ch, upconv=fixed["upconv"], pool_pad=fixed["pool_pad"])
        self.net.to(self.device, memory_format=torch.channels_last)
        from ..models.optim import RMSprop

        self.opt = RMSprop(self.net.named_parameters(), lr=float(opts.lr), lr_dropout=float(opts.lr_dropout))
        got = ckpt.load_checkpoint(self.mdir, warn=self.ctx.warn, optional=[OPT_PART],
                                   reset_optional=bool(opts.reset_optimizer)) if self.mdir.root.exists() else None
        if got is not None:
            parts, manifest, folder = got
            self.net.load_state_dict(parts[NET_PART])
            if OPT_PART in parts:
                fresh = self.opt.load_state_dict(parts[OPT_PART])
                if fresh:
                    self.log(f"optimizer: {len(fresh)} entries start fresh")
            self.iteration = self.saved_iteration = int(manifest.get("iteration", 0))
            self.log(f"resumed from {folder.name} at iteration {self.iteration}")
        saved = self.mdir.read_options() or {}
        created = saved.get("created") or time.time()
        trainer = {k: getattr(opts, k) for k in ("batch_size", "pretrain", "iterations", "lr", "lr_dropout",
                                                  "save_every_min", "preview_every")}
        kept = {k: saved[k] for k in ("imported_from",) if k in saved}
        self.mdir.write_options({"format": FORMAT, "model": MODEL_NAME, "options": fixed, "trainer": trainer,
                                 "fixed": list(FIXED), "created": created, **kept})
        run = getattr(self.ctx, "run", None)
        atomic_write_json(self.mdir.run_path, {"run_id": getattr(run, "id", None),
                                               "run_dir": str(getattr(run, "path", "") or ""), "pid": os.getpid(),
                                               "started": time.time(), "device": str(self.device), "model": MODEL_NAME},
                          fsync=False)
        self._write_summary()
        self._load_samples(seed)
        self.metrics = MetricsWriter(self.mdir.metrics_path, int(opts.batch_size))
        self.metrics.event("start", self.iteration, model=MODEL_NAME, device=str(self.device),
                           batch=int(opts.batch_size))

    def _write_summary(self) -> None:
        rows = {"face_type": self.face_type.to_string(), "resolution": self.res, "base_ch": self.base_ch,
                "batch_size": self.opts.batch_size, "pretrain": bool(self.opts.pretrain),
                "parameters": f"{count_parameters(self.net) / 1e6:.1f}M"}
        atomic_write_text(self.mdir.summary_path, summary_text(MODEL_NAME, self.iteration, rows,
                                                               device_lines(self.device)), fsync=False)

    def _load_samples(self, seed: int) -> None:
        opts = self.opts
        folders = folders_for(self.ws, opts.pretrain_dir or None if opts.pretrain else None)
        found = scan(folders, warn=self.ctx.warn)
        if opts.pretrain:
            train, source = found, "images"
            if not train:
                raise InputError("pretraining needs faces: extract some first (or give --pretrain-dir)")
        else:
            train, source = training_set(found)
            if not train:
                where = " and ".join(str(f) for _, f in folders)
                raise InputError(f"no labelled faces in {where}: draw include/exclude polygons on a few faces in the "
                                 "XSeg editor first (dfl-tui, step 8), or train with --pretrain")
            if source == "masks":
                self.ctx.warn("no faces with polygons: learning from the faces' applied xseg_mask instead")
        n_lab = sum(1 for s in found if s.labelled)
        self.log(f"{len(train)} training faces ({source}); {len(found)} faces scanned, {n_lab} labelled; "
                 f"XSeg {self.res}px {self.face_type.to_string()}, batch {opts.batch_size}, device {self.device}")
        threads = opts.workers if opts.workers >= 0 else max(1, min(4, (os.cpu_count() or 2) - 1))
        self.batches = XSegBatches(train, self.res, self.face_type, int(opts.batch_size), source, seed, threads,
                                   bool(opts.pretrain), warn=self.ctx.warn)
        # Fixed faces for the src/dst preview panels: faces without labels (what the mask is for).
        rows = int(opts.max_preview_rows)
        self.preview_faces: dict[str, list[XSegSample]] = {}
        for side in ("src", "dst"):
            pool = [s for s in found if s.side == side and not s.labelled] or [s for s in found if s.side == side]
            step = max(1, len(pool) // rows) if pool else 1
            self.preview_faces[side] = pool[::step][:rows]

    # -- training ----------------------------------------------------------------------------
    def step(self) -> float:
        imgs, masks = self.batches.next()
        imgs = imgs.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        self.net.train()
        self.opt.zero_grad()
        if self.opts.pretrain:
            target = grey(imgs)
            pred = torch.sigmoid(self.net(imgs, pretrain=True))
            loss = pretrain_loss(pred, target, self.res)
        else:
            masks = masks.to(self.device, non_blocking=True)
            logits = self.net(imgs)
            loss = F.binary_cross_entropy_with_logits(logits, masks)
        loss.backward()
        self.opt.step()
        self.iteration += 1
        self.last_batch = (imgs.detach(), masks.detach() if not self.opts.pretrain else None)
        return float(loss.detach())

    def save(self, reason: str) -> None:
        t0 = time.monotonic()
        ckpt.save_checkpoint(self.mdir, {NET_PART: self.net.state_dict(), OPT_PART: self.opt.state_dict()},
                             iteration=self.iteration, model=MODEL_NAME, trainer_state={"reason": reason},
                             rng=ckpt.rng_state())
        st = self.mdir.read_state()
        st.update(model=MODEL_NAME, name=self.mdir.name, iteration=self.iteration, saved=time.time(),
                  saved_iteration=self.iteration, loss=None if math.isnan(self.last_loss) else self.last_loss)
        self.mdir.write_state(st)
        self._write_summary()
        self.saved_iteration = self.iteration
        self.last_save_t = time.monotonic()
        self.metrics.event("save", self.iteration, reason=reason, seconds=round(time.monotonic() - t0, 3))
        self.log(f"saved at iteration {self.iteration} ({reason}, {time.monotonic() - t0:.1f}s)")

    @torch.no_grad()
    def preview(self) -> list[str]:
        """Write the three preview panels; returns their file paths."""
        self.net.eval()
        rows = int(self.opts.max_preview_rows)
        panels: list[tuple[str, np.ndarray]] = []
        last = getattr(self, "last_batch", None)
        if last is not None:
            imgs, masks = last
            imgs = imgs[:rows]
            pred = self._predict(imgs)
            nhwc = imgs.permute(0, 2, 3, 1).float().cpu().numpy()
            truth = masks[:rows, 0].float().cpu().numpy() if masks is not None else None
            if self.opts.pretrain:
                truth = None
            panels.append((PREVIEW_PANELS[0], panel_rows(nhwc, pred, truth)))
        for name, side in zip(PREVIEW_PANELS[1:], ("src", "dst")):
            faces = []
            for s in self.preview_faces.get(side, []):
                try:
                    faces.append(load_face_only(s, self.res, self.face_type))
                except (InputError, OSError, cv2.error):
                    continue
            if not faces:
                continue
            x = torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2).float().div(255.0).to(self.device)
            pred = self._predict(x)
            panels.append((name, panel_rows(x.permute(0, 2, 3, 1).cpu().numpy(), pred, None)))
        self.net.train()
        if not panels:
            return []
        self.preview_iteration = self.iteration
        paths = write_previews(self.mdir, panels, self.iteration)
        return [str(p) for p in paths]

    def _predict(self, x: torch.Tensor) -> np.ndarray:
        if self.opts.pretrain:
            out = torch.sigmoid(self.net(x, pretrain=True))
        else:
            out = self.net.predict(x)
        return out[:, 0].float().cpu().numpy()

    def run(self) -> dict[str, Any]:
        self.setup()
        ctx, opts = self.ctx, self.opts
        target = int(opts.iterations or 0)
        start_it = self.iteration
        if target and start_it >= target:
            self.log(f"the XSeg model is already at iteration {start_it} (target {target}): nothing to do")
            return {"model": str(self.mdir.root), "iteration": start_it, "target_reached": True}
        ctx.stage("training XSeg" + (" (pretrain)" if opts.pretrain else ""), total=target or None, unit="it")
        save_s = float(opts.save_every_min) * 60.0
        announced = False
        reason = "stopped"
        t_start = time.monotonic()
        last_control = 0.0
        self.batches.start()
        try:
            while True:
                if ctx.cancelled:
                    reason = ctx.stop_reason or "stopped"
                    break
                t0 = time.perf_counter()
                try:
                    loss = self.step()
                except Exception as exc:
                    if is_oom(exc):
                        raise DflError(f"out of memory with batch size {opts.batch_size} at {self.res}px: restart "
                                       f"with --batch-size {max(1, int(opts.batch_size) // 2)}") from None
                    raise
                dt = time.perf_counter() - t0
                if not math.isfinite(loss):
                    self.metrics.event("nan", self.iteration)
                    raise DflError(f"the XSeg loss became {loss} at iteration {self.iteration}: stopped without "
                                   f"saving; the last good checkpoint (iteration {self.saved_iteration}) is kept")
                self.last_loss = loss
                self.metrics.add(self.iteration, {"loss": loss}, dt)
                ctx.progress(self.iteration, target or None, loss=round(loss, 4))
                now = time.monotonic()
                first = self.saved_iteration is None and self.iteration == start_it + 1
                if first:
                    self.save("first iteration")
                if first or self.iteration % int(opts.preview_every) == 0:
                    paths = self.preview()
                    if paths and not announced:
                        announced = True
                        ctx.artifact("preview", paths[0])
                if target and self.iteration >= target:
                    reason = "target"
                    break
                if now - self.last_save_t >= save_s:
                    self.save(f"every {opts.save_every_min:g} minutes")
                if now - last_control >= 0.5:
                    last_control = now
                    if ctx.take_request("save"):
                        self.save("requested")
                    if ctx.take_request("preview"):
                        self.preview()
        except BaseException:
            if self.iteration != self.saved_iteration and math.isfinite(self.last_loss):
                try:
                    self.save("after an error")
                except Exception:  # noqa: BLE001 - the original error matters more
                    pass
            raise
        finally:
            self.batches.close()
        if getattr(self, "preview_iteration", None) != self.iteration:
            self.preview()
        if self.iteration != self.saved_iteration:
            self.save("target iteration" if reason == "target" else "stop")
        elapsed = time.monotonic() - t_start
        done = self.iteration - start_it
        self.metrics.event("stop", self.iteration, reason=reason)
        rate = done / elapsed if elapsed > 0 else 0.0
        self.log(f"{done} iterations in {elapsed:.0f}s ({rate:.2f} it/s); XSeg at iteration {self.iteration}")
        return {"model": str(self.mdir.root), "iteration": self.iteration, "iterations_run": done,
                "it_per_s": round(rate, 3), "loss": round(self.last_loss, 5), "target_reached": reason == "target"}


def run_xseg_train(ctx: Any, opts: XSegTrainOptions) -> dict[str, Any]:
    """The ``xseg-train`` step's run function (see the module docstring)."""
    return XSegTrainer(ctx, opts).run()
