"""``dfl-tui bench xseg``: how fast XSeg trains, augments, applies, and how fast the generic mask is.

Prints one table. Training is timed on synthetic tensors (the network and optimizer
only), augmentation and the generic mask on the labelled test faces shipped in the
repository (or the faces of ``--faces DIR``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..util import bench as benchutil


def _faces(folder: str | None) -> list[Path]:
    from ..workspace import list_images

    if folder:
        return list_images(Path(folder))
    here = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "xseg"
    return list_images(here)


def _load() -> float:
    import os

    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def add_arguments(ap: argparse.ArgumentParser) -> None:
    from ..device import DEVICE_HELP

    ap.add_argument("--device", default="auto", help=DEVICE_HELP)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--base-ch", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=10, help="timed training iterations (after 2 warm-up)")
    ap.add_argument("--faces", default=None, help="a folder of aligned faces for the augmentation/generic timings")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from ..faces import dflimg
    from ..models.optim import RMSprop
    from .augment import augment
    from .generic import GenericMasker
    from ..device import pick_device
    from .net import XSegNet, count_parameters
    from .polys import polys_from_meta, rasterize

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = pick_device(args.device)
    res, bs = args.resolution, args.batch_size
    rows: list[tuple[str, str]] = []
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    rows.append(("device", name))
    net = XSegNet(res, args.base_ch).to(dev, memory_format=torch.channels_last)
    rows.append(("network", f"XSeg {res}px base {args.base_ch}: {count_parameters(net) / 1e6:.2f}M parameters"))
    opt = RMSprop(net.named_parameters(), lr=1e-4, lr_dropout=0.3)
    x = torch.rand(bs, 3, res, res, device=dev).contiguous(memory_format=torch.channels_last)
    y = (torch.rand(bs, 1, res, res, device=dev) > 0.5).float()

    def step() -> None:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.iterations):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    dt = (time.perf_counter() - t0) / args.iterations
    dc = (time.process_time() - c0) / args.iterations
    rows.append(("train step", f"{1 / dt:.2f} it/s at batch {bs} ({dt * 1000:.0f} ms/it, {bs / dt:.1f} faces/s)"))
    if dev.type == "cpu":
        # CPU seconds the process used per iteration: what the step costs whatever else runs on the machine.
        rows.append(("train step CPU time", f"{dc:.1f} CPU-s/it (wall {dt:.1f} s; load average "
                                            f"{_load():.1f} on {_cores()} cores while measuring)"))
    if dev.type == "cuda":
        rows.append(("peak GPU memory", f"{torch.cuda.max_memory_allocated(dev) / 2**20:.0f} MiB"))
    net.eval()
    with torch.no_grad():
        xb = torch.rand(16, 3, res, res, device=dev)
        net.predict(xb)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        for _ in range(3):
            net.predict(xb)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        di = (time.perf_counter() - t0) / 3
    rows.append(("apply (inference)", f"{16 / di:.1f} faces/s (batch 16)"))

    faces = _faces(args.faces)
    loaded = []
    for p in faces[:8]:
        try:
            img, meta = dflimg.load_face(p)
        except dflimg.FaceFileError:
            continue
        loaded.append((p, img, meta))
    if loaded:
        import cv2

        rng = np.random.default_rng(0)
        samples = []
        for _p, img, meta in loaded:
            im = cv2.resize(img, (res, res), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
            m = rasterize(polys_from_meta(meta.seg_ie_polys), (res, res), res / img.shape[0])
            samples.append((im, m))
        n = 24
        t0 = time.perf_counter()
        for k in range(n):
            im, m = samples[k % len(samples)]
            augment(im, m, rng, samples[(k + 1) % len(samples)])
        da = (time.perf_counter() - t0) / n
        rows.append(("augmentation", f"{1 / da:.1f} samples/s per loader thread ({da * 1000:.1f} ms each)"))
        gm = GenericMasker()
        gm(loaded[0][1], loaded[0][2].landmarks)
        t0 = time.perf_counter()
        for _p, img, meta in loaded:
            gm(img, meta.landmarks)
        dg = (time.perf_counter() - t0) / len(loaded)
        rows.append(("generic mask", f"{1 / dg:.1f} faces/s per thread ({dg * 1000:.0f} ms each, "
                                     f"{loaded[0][1].shape[0]} px faces)"))
    print("dfl-tui bench xseg")
    print(benchutil.format_pairs(rows))
    return 0


main = benchutil.bench_main(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
