"""GPU-style batched augmentation: one affine shared by warped and target, the warp grid, flips, colour."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dfl_tui.train import augment as A
from faces_data import astronaut_bgr, grace_hopper_bgr

RES = 64


def _faces(n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    a = cv2.resize(astronaut_bgr()[30:230, 130:330], (RES, RES), interpolation=cv2.INTER_AREA)
    g = cv2.resize(grace_hopper_bgr()[120:360, 150:390], (RES, RES), interpolation=cv2.INTER_AREA)
    imgs = np.stack([a, g] * (n // 2))
    return A.to_float(imgs, torch.device("cpu")), A.to_float(np.stack([a, g] * (n // 2))[..., :1], torch.device("cpu"))


def test_target_is_cv2_warp_affine_and_flip_of_the_same_parameters():
    imgs, _ = _faces()
    cfg = A.AugmentConfig(RES, random_warp=False, random_flip=True, flip_prob=0.5, scale=0.15)
    g = torch.Generator().manual_seed(3)
    p = A.gen_params(4, cfg, g)
    grid, _ = A.sampling_grid(p, RES, torch.device("cpu"), warped=False)
    out = A.apply_image(imgs, grid)
    fwd = A.invert_affine(p.inv_affine.double())  # back to cv2's forward matrices
    for i in range(4):
        src = (imgs[i].permute(1, 2, 0).numpy() * 255).astype(np.float32)
        ref = cv2.warpAffine(src, fwd[i].numpy(), (RES, RES), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        if p.flip[i]:
            ref = cv2.flip(ref, 1)
        got = out[i].permute(1, 2, 0).numpy() * 255
        assert np.abs(got - ref)[4:-4, 4:-4].mean() < 2.0, i


def test_warped_and_target_share_one_affine():
    imgs, masks = _faces()
    g = torch.Generator().manual_seed(0)
    cfg = A.AugmentConfig(RES, random_warp=True, random_flip=True, scale=0.15)
    p = A.gen_params(4, cfg, g)
    # With the warp grid replaced by the identity map, warped == target exactly: same affine, same flip.
    ident = p.warp_map.clone()
    ys, xs = torch.meshgrid(torch.arange(RES, dtype=torch.float32), torch.arange(RES, dtype=torch.float32),
                            indexing="ij")
    ident[:, 0], ident[:, 1] = xs, ys
    same = A.augment_side(imgs, masks, masks, cfg, params=A.WarpParams(p.inv_affine, p.flip, ident))
    assert torch.allclose(same["warped"], same["target"], atol=1e-5)
    # With the random grid they differ a little (local warp), far less than two different affines.
    out = A.augment_side(imgs, masks, masks, cfg, params=p)
    other = A.augment_side(imgs, masks, masks, cfg, generator=torch.Generator().manual_seed(99))
    d_warp = (out["warped"] - out["target"]).abs().mean()
    d_other = (other["target"] - out["target"]).abs().mean()
    assert 0 < d_warp < 0.5 * d_other
    # The mask follows the target: thresholding the augmented image matches the augmented mask.
    assert torch.allclose(out["mask"], A.apply_mask(masks, A.sampling_grid(p, RES, imgs.device, warped=False)[0],
                                                    A.sampling_grid(p, RES, imgs.device, warped=False)[1]))


def test_warp_grid_moves_only_interior_points_within_a_quarter_cell():
    g = torch.Generator().manual_seed(1)
    maps = A.warp_maps(64, RES, g)
    ys, xs = torch.meshgrid(torch.arange(RES, dtype=torch.float32), torch.arange(RES, dtype=torch.float32),
                            indexing="ij")
    disp = torch.stack([maps[:, 0] - xs, maps[:, 1] - ys], 1)
    # The biggest cell is res/2: points move by at most 0.24 of it, plus the resize's sub-pixel offset.
    assert disp.abs().max() <= 0.24 * RES / 2 + 1.5
    assert disp.abs().mean() > 0.3  # it does move


def test_flip_probability_and_no_flip_when_off():
    g = torch.Generator().manual_seed(5)
    on = A.gen_params(4000, A.AugmentConfig(RES, random_warp=False, random_flip=True), g)
    assert 0.37 < on.flip.float().mean().item() < 0.43
    off = A.gen_params(100, A.AugmentConfig(RES, random_warp=False, random_flip=False), g)
    assert not off.flip.any()


def test_eyes_mouth_mask_is_renormalised_to_one():
    imgs, _ = _faces()
    em = torch.zeros(4, 1, RES, RES)
    em[:, :, 20:30, 20:44] = 0.4
    out = A.augment_side(imgs, torch.ones_like(em), em, A.AugmentConfig(RES, random_warp=False, rotation=0,
                                                                            scale=0.0, translate=0.0))
    assert torch.allclose(out["em_mask"].amax((1, 2, 3)), torch.ones(4), atol=1e-4)


def test_hsv_round_trip_and_random_hsv_only_on_the_warped_input():
    imgs, masks = _faces()
    back = A.hsv_to_bgr(A.bgr_to_hsv(imgs))
    assert (back - imgs).abs().max() < 1e-4
    lab_back = A.lab_to_bgr(A.bgr_to_lab(imgs))
    assert (lab_back - imgs).abs().max() < 2e-3
    cfg = A.AugmentConfig(RES, random_warp=False, hsv_power=0.3)
    g = torch.Generator().manual_seed(2)
    out = A.augment_side(imgs, masks, masks, cfg, g)
    plain = A.augment_side(imgs, masks, masks, A.AugmentConfig(RES, random_warp=False),
                           torch.Generator().manual_seed(2))
    assert torch.allclose(out["target"], plain["target"])
    assert (out["warped"] - out["target"]).abs().mean() > 0.01


def test_colour_transfer_modes_move_colours_toward_the_reference():
    imgs, _ = _faces(2)
    src, ref = imgs[:1], imgs[1:]  # astronaut toward Grace Hopper
    g = torch.Generator().manual_seed(0)
    before = (src.mean((2, 3)) - ref.mean((2, 3))).abs().sum()
    for mode in ("rct", "lct", "mkl", "idt", "sot"):
        out = A.color_transfer(mode, src, ref, g)
        assert out.shape == src.shape and out.min() >= 0 and out.max() <= 1, mode
        after = (out.mean((2, 3)) - ref.mean((2, 3))).abs().sum()
        assert after < 0.5 * before, (mode, float(before), float(after))
        # The face's structure stays: still correlated with the original.
        c = np.corrcoef(out.flatten().numpy(), src.flatten().numpy())[0, 1]
        assert c > 0.6, (mode, c)
    # In augment_side, warped and target get the same colours (transfer happens before the warp).
    masks = torch.ones(1, 1, RES, RES)
    cfg = A.AugmentConfig(RES, random_warp=False, ct_mode="rct")
    out = A.augment_side(src, masks, masks, cfg, g, ct_ref=ref)
    assert torch.allclose(out["warped"], out["target"])


def test_batch_prefetcher_augments_ahead_and_hands_over_errors():
    import numpy as np

    from dfl_tui.train.batches import BatchMaker, BatchPrefetcher
    from dfl_tui.train.samples import RawBatch

    rng = np.random.default_rng(0)
    raw = RawBatch(rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
                   rng.integers(0, 256, (2, 32, 32), dtype=np.uint8),
                   rng.integers(0, 256, (2, 32, 32), dtype=np.uint8), [0, 1])
    cfg = {"resolution": 32, "batch_size": 2}
    calls = []

    def draw():
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk gone")
        return raw, raw

    pre = BatchPrefetcher(BatchMaker(cfg, torch.device("cpu"), torch.Generator().manual_seed(0)), draw)
    try:
        for _ in range(2):
            batch, seconds = pre.next()
            assert batch["warped_src"].shape == (2, 3, 32, 32) and seconds > 0
        with pytest.raises(OSError, match="disk gone"):
            pre.next()
    finally:
        pre.close()
    # the same generator seed gives the same batches as augmenting in the calling thread
    pre = BatchPrefetcher(BatchMaker(cfg, torch.device("cpu"), torch.Generator().manual_seed(7)), lambda: (raw, raw))
    try:
        ahead = pre.next()[0]
    finally:
        pre.close()
    here = BatchMaker(cfg, torch.device("cpu"), torch.Generator().manual_seed(7)).make(raw, raw)
    assert all(torch.equal(ahead[k], here[k]) for k in here)
