"""Losses and discriminators (reference §6.5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from dfl_tui.models import losses as L
from dfl_tui.models.discriminators import CodeDiscriminator, UNetPatchDiscriminator, patch_layers, receptive_field
from models_fixtures import face_batch


@pytest.fixture(scope="module")
def faces():
    return face_batch(64, n=2)


def test_dssim_zero_for_identical_and_positive_otherwise(faces):
    src, dst = faces["target_src"], faces["target_dst"]
    for k in L.dssim_kernels(64) + (11,):
        assert L.dssim(src, src, k).abs().max().item() < 1e-6
        d = L.dssim(src, dst, k)
        assert d.shape == (2,) and (d > 0.05).all()
    noisy = (src + 0.05 * torch.randn_like(src)).clamp(0, 1)
    assert 0 < L.dssim(src, noisy, 5).mean() < L.dssim(src, dst, 5).mean()


def test_dssim_equals_scikit_image_ssim_with_gaussian_window(faces):
    # skimage with gaussian_weights (sigma 1.5 -> an 11-tap window) crops the border it padded:
    # that is the VALID padding DFL uses, so (1 - ssim) / 2 must match.
    a, b = faces["target_src"][0], faces["target_dst"][0]
    ours = L.dssim(a[None], b[None], 11).item()
    ref = structural_similarity(a.permute(1, 2, 0).numpy(), b.permute(1, 2, 0).numpy(), gaussian_weights=True,
                                sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=2)
    assert ours == pytest.approx((1 - ref) / 2, abs=2e-5)


def test_structural_loss_uses_two_kernels_from_256():
    assert L.dssim_kernels(128) == (11, 5) and L.dssim_kernels(256) == (22, 11) and L.dssim_kernels(96) == (8, 4)
    a, b = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    assert torch.allclose(L.structural_loss(a, b, 64), 10 * L.dssim(a, b, 5))
    assert torch.allclose(L.structural_loss(a, b, 64, two_scales=True), 5 * L.dssim(a, b, 5) + 5 * L.dssim(a, b, 2))


def test_gaussian_blur_kernel_and_mass():
    assert [L.blur_kernel_size(s) for s in (0.5, 1, 2, 2.5)] == [3, 5, 9, 11]
    x = torch.ones(1, 1, 32, 32)
    y = L.gaussian_blur(x, 2)
    assert y.shape == x.shape and y[0, 0, 16, 16].item() == pytest.approx(1.0, abs=1e-6)
    assert y[0, 0, 0, 0].item() < 0.5  # zero padding darkens the corners, as in DFL


def test_blurred_mask_grows_and_saturates(faces):
    m = faces["target_srcm"]
    mb = L.blurred_mask(m, 64)
    assert mb.max() <= 1 and mb.min() >= 0
    assert (mb[m > 0.5] > 0.99).float().mean() > 0.9  # inside stays ~1
    edge_out = (m < 0.5) & (mb > 0.1)
    assert edge_out.any()  # grown past the edge
    plain = L.blurred_mask(m, 64, clip=False)
    assert plain.max() <= 1 and (plain <= mb + 1e-6).all()


def test_blur_out_mask_keeps_the_face_and_softens_the_background(faces):
    img, m = faces["target_src"], faces["target_srcm"]
    out = L.blur_out_mask(img, m, 256)  # sigma 2
    inside, outside = m.expand_as(img) > 0.5, m.expand_as(img) < 0.5
    assert torch.equal(out[inside], img[inside])
    assert not torch.allclose(out[outside], img[outside])
    tv = lambda t: (t[..., 1:, :] - t[..., :-1, :]).abs().mean()  # noqa: E731
    assert tv(out * (1 - m)) < tv(img * (1 - m))


def test_style_tv_eyes_mouth_and_d_losses(faces):
    a = faces["target_src"]
    assert L.style_loss(a, a, 8, 100).abs().max() < 1e-9
    assert (L.style_loss(a, (a * 0.5 + 0.3), 8, 100) > 0).all()
    assert L.total_variation_mse(torch.full((2, 3, 8, 8), 0.3)).abs().max() == 0
    assert (L.total_variation_mse(a) > 0).all()
    em = faces["target_srcm_em"]
    b = a.clone()
    b[em.expand_as(b) == 0] = 0  # differences outside eyes/mouth do not count
    assert L.eyes_mouth_loss(a, b, em).abs().max() < 1e-6
    assert torch.allclose(L.d_loss(torch.zeros(2, 1, 4, 4), True), torch.full((2,), np.log(2)))
    assert (L.d_loss(torch.full((1, 1, 2, 2), 10.0), True) < L.d_loss(torch.full((1, 1, 2, 2), 10.0), False)).all()


def test_patch_discriminator_archi_and_shapes():
    for target in (8, 16, 28, 64):
        layers = patch_layers(target)
        assert layers[0] == (3, 2) and all(k == 3 for k, _ in layers)
        assert abs(receptive_field(list(layers)) - target) <= 2
    assert receptive_field([(3, 2), (3, 2), (3, 1)]) == 3 + 2 * 2 + 2 * 4
    d = UNetPatchDiscriminator(patch_size=8, in_ch=3, base_ch=8)
    centre, full = d(torch.rand(2, 3, 48, 48))
    assert full.shape == (2, 1, 48, 48) and centre.shape[:2] == (2, 1) and centre.shape[-1] < 48
    odd = UNetPatchDiscriminator(patch_size=40, in_ch=3, base_ch=4)
    assert odd(torch.rand(1, 3, 40, 40))[1].shape == (1, 1, 40, 40)  # strides on odd sizes crop back


def test_code_discriminator_shapes():
    d = CodeDiscriminator(16, code_res=16, ch=8)
    assert len(d.convs) == 3
    assert d(torch.rand(2, 16, 16, 16)).shape[:2] == (2, 1)
