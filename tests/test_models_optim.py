"""DeepFaceLab's optimizers: AdaBelief without bias correction, RMSprop, lr dropout, cosine LR, clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dfl_tui.models.optim import EPS, AdaBelief, RMSprop, clip_grad_norm_, cos_lr, make_optimizer


def _param(values):
    return torch.nn.Parameter(torch.tensor(values, dtype=torch.float32))


def test_adabelief_matches_hand_computed_update():
    p = _param([1.0, -2.0, 0.5])
    opt = AdaBelief([("w", p)], lr=0.1)
    grads = [np.array([0.5, -1.0, 2.0]), np.array([-0.25, 0.5, 1.0])]
    w, m, s = np.array([1.0, -2.0, 0.5]), np.zeros(3), np.zeros(3)
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        m = 0.9 * m + 0.1 * g
        s = 0.999 * s + 0.001 * (g - m) ** 2  # uses the new m, no bias correction, no eps inside s
        w = w - 0.1 * m / (np.sqrt(s) + 1e-6)
    np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-5)
    np.testing.assert_allclose(opt.state["m"][0].numpy(), m, rtol=1e-6)
    np.testing.assert_allclose(opt.state["v"][0].numpy(), s, rtol=1e-5)
    assert EPS == pytest.approx(1e-6)
    # the first step of a bias-corrected Adam-like method would be ~lr; DFL's is lr * 0.1g / sqrt(0.001 (0.9g)^2)
    assert opt.step_count == 2


def test_rmsprop_matches_hand_computed_update():
    p = _param([1.0, -1.0])
    opt = RMSprop([("w", p)], lr=0.01)
    w, a = np.array([1.0, -1.0]), np.zeros(2)
    for g in (np.array([0.3, -0.6]), np.array([0.1, 0.2])):
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        a = 0.9 * a + 0.1 * g**2
        w = w - 0.01 * g / (np.sqrt(a) + 1e-6)
    np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-5)


def test_lr_dropout_updates_about_30_percent_with_fresh_masks():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.zeros(200, 100))
    opt = AdaBelief([("w", p)], lr=1e-3, lr_dropout=0.3)
    changed = []
    for _ in range(2):
        before = p.detach().clone()
        p.grad = torch.ones_like(p)
        opt.step()
        changed.append(p.detach() != before)
    for c in changed:
        assert 0.28 < c.float().mean().item() < 0.32
    overlap = (changed[0] & changed[1]).float().mean().item()
    assert 0.07 < overlap < 0.11  # independent masks: 0.3 * 0.3


def test_lr_dropout_option_turns_on_the_500_step_cosine():
    w = [("w", _param([0.0]))]
    on = make_optimizer("adabelief", w, 5e-5, lr_dropout="y")
    off = make_optimizer("rmsprop", w, 5e-5, lr_dropout="n", clipgrad=True)
    assert (on.lr_dropout, on.lr_cos, on.clipnorm) == (0.3, 500, 0.0)
    assert isinstance(off, RMSprop) and (off.lr_dropout, off.lr_cos, off.clipnorm) == (1.0, 0, 1.0)
    assert cos_lr(1.0, 0, 500) == 1.0
    assert cos_lr(1.0, 125, 500) == pytest.approx(0.5)
    assert cos_lr(1.0, 250, 500) == pytest.approx(0.0, abs=1e-12)
    assert cos_lr(1.0, 500, 500) == pytest.approx(1.0)
    assert cos_lr(1.0, 77, 0) == 1.0
    on.step_count = 250
    assert on.current_lr() == pytest.approx(0.0, abs=1e-15)


def test_clip_grad_norm_scales_only_large_gradients():
    g = [torch.full((3,), 4.0), torch.full((4,), 3.0)]  # norm sqrt(48 + 36)
    norm = clip_grad_norm_(g, 1.0)
    assert norm.item() == pytest.approx(math.sqrt(84))
    total = math.sqrt(sum(float(t.square().sum()) for t in g))
    assert total == pytest.approx(1.0, rel=1e-5)
    small = [torch.tensor([0.1, 0.2])]
    clip_grad_norm_(small, 1.0)
    assert torch.allclose(small[0], torch.tensor([0.1, 0.2]))


def test_state_dict_is_flat_and_loads_tolerantly():
    a, b = _param([1.0, 2.0]), _param([[1.0]])
    opt = AdaBelief([("a", a), ("b", b)], lr=0.1)
    a.grad, b.grad = torch.ones(2), torch.ones(1, 1)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"step", "m.a", "m.b", "v.a", "v.b"} and int(sd["step"]) == 1
    c = _param([0.0, 0.0, 0.0])  # "a" changed shape
    opt2 = AdaBelief([("a", c), ("b", _param([[0.0]]))], lr=0.1)
    fresh = opt2.load_state_dict(sd)
    assert fresh == ["m.a", "v.a"]
    assert opt2.step_count == 1 and torch.equal(opt2.state["m"][1], sd["m.b"])
