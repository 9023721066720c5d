"""DeepFaceLab's optimizers (reference §6.6): AdaBelief and RMSprop, with lr dropout,
the 500-iteration cosine LR cycle and global-norm gradient clipping.

They are written for this project rather than taken from ``torch.optim`` because DFL's
AdaBelief has **no bias correction and no epsilon inside s**, and because lr dropout
multiplies each *update* (not the gradient) by a fresh Bernoulli(p) mask.

The state is a flat ``{name: tensor}`` dict keyed by parameter names
(``m.encoder.net.0.conv.weight``...), plus ``step``: it saves to safetensors as is, and a
state saved for a different architecture loads tolerantly (mismatched entries start fresh).
Updates use the ``torch._foreach_*`` kernels: one launch per op for all parameters.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

EPS = float(torch.finfo(torch.float32).resolution)  # 1e-6, np.finfo(float32).resolution as in DFL


def cos_lr(lr: float, step: int, period: int) -> float:
    """lr * (cos(2 pi step / period) + 1) / 2; ``period`` 0 = constant lr."""
    return lr if period <= 0 else lr * (math.cos(2 * math.pi * step / period) + 1) / 2


class Optimizer:
    """Common machinery. ``lr_dropout`` is the probability that an element is *updated*
    (DFL uses 0.3 when the option is on, 1.0 = off); ``lr_cos`` the cosine period (0 = off);
    ``clipnorm`` the global gradient norm limit (0 = off)."""

    state_names: tuple[str, ...] = ()

    def __init__(self, named_params: Iterable[tuple[str, torch.nn.Parameter]], lr: float,
                 lr_dropout: float = 1.0, lr_cos: int = 0, clipnorm: float = 0.0) -> None:
        named = list(named_params)
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.lr, self.lr_dropout, self.lr_cos, self.clipnorm = lr, lr_dropout, lr_cos, clipnorm
        self.step_count = 0
        self.state = {s: [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
                      for s in self.state_names}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def current_lr(self) -> float:
        return cos_lr(self.lr, self.step_count, self.lr_cos)

    @torch.no_grad()
    def step(self) -> None:
        idx = [i for i, p in enumerate(self.params) if p.grad is not None]
        if idx:
            params = [self.params[i] for i in idx]
            grads = [self.params[i].grad for i in idx]
            if self.clipnorm > 0:
                clip_grad_norm_(grads, self.clipnorm)
            state = {s: [self.state[s][i] for i in idx] for s in self.state_names}
            upd, denom = self._direction(grads, state)
            if self.lr_dropout < 1.0:
                # A dropped element gets an infinite denominator, so its update is exactly 0:
                # one in-place pass over the (fresh) denominators instead of a masked copy.
                torch._foreach_div_(denom, keep_masks(params, self.lr_dropout))
            torch._foreach_addcdiv_(params, upd, denom, value=-self.current_lr())
        self.step_count += 1

    def _direction(self, grads: list[torch.Tensor], state: dict[str, list[torch.Tensor]]) \
            -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Update the state in place; return (numerator, denominator) of the step direction.
        The denominators must be fresh tensors (the step may change them in place)."""
        raise NotImplementedError

    # -- state for safetensors ---------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        sd = {"step": torch.tensor(self.step_count, dtype=torch.int64)}
        for s in self.state_names:
            for name, t in zip(self.names, self.state[s]):
                sd[f"{s}.{name}"] = t
        return sd

    def load_state_dict(self, sd: dict[str, torch.Tensor]) -> list[str]:
        """Load what fits; return the names of entries left fresh (missing or of another shape)."""
        fresh = []
        if "step" in sd:
            self.step_count = int(sd["step"])
        with torch.no_grad():
            for s in self.state_names:
                for name, t in zip(self.names, self.state[s]):
                    v = sd.get(f"{s}.{name}")
                    if v is None or v.shape != t.shape:
                        fresh.append(f"{s}.{name}")
                        t.zero_()
                    else:
                        t.copy_(v)
        return fresh


KEEP_BITS = 15  # random bits per element for lr dropout: keep-probability within 2**-15 of the asked one


def keep_masks(params: list[torch.Tensor], p: float) -> list[torch.Tensor]:
    """lr dropout's Bernoulli(p) keep masks (int16 0/1), one per parameter.

    Drawn as 15-bit integers compared with round(p * 2**15) (0.3 -> 0.29999): on the CPU torch's
    float ``bernoulli_`` costs about three times as much, a noticeable share of a training step.
    """
    threshold = round(p * (1 << KEEP_BITS))
    return [torch.empty(t.shape, dtype=torch.int16, device=t.device).random_(0, 1 << KEEP_BITS).lt_(threshold)
            for t in params]


def clip_grad_norm_(grads: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients by max_norm / max(norm, max_norm) (global norm), without a host sync."""
    norm = torch.linalg.vector_norm(torch.stack([n.float() for n in torch._foreach_norm(grads)]))
    torch._foreach_mul_(grads, (max_norm / torch.clamp(norm, min=max_norm)).to(grads[0].dtype))
    return norm


class AdaBelief(Optimizer):
    """m = b1 m + (1-b1) g;  s = b2 s + (1-b2) (g - m)^2;  p -= lr * m / (sqrt(s) + eps).
    No bias correction, eps only outside the sqrt (DFL's variant)."""

    state_names = ("m", "v")

    def __init__(self, named_params, lr: float = 5e-5, beta1: float = 0.9, beta2: float = 0.999, **kw) -> None:
        super().__init__(named_params, lr, **kw)
        self.beta1, self.beta2 = beta1, beta2

    def _direction(self, grads, state):
        m, s = state["m"], state["v"]
        torch._foreach_lerp_(m, grads, 1 - self.beta1)
        torch._foreach_sub_(grads, m)  # g - m in place: the gradients are not needed after this step
        torch._foreach_mul_(s, self.beta2)
        torch._foreach_addcmul_(s, grads, grads, value=1 - self.beta2)
        denom = torch._foreach_sqrt(s)
        torch._foreach_add_(denom, EPS)
        return m, denom


class RMSprop(Optimizer):
    """a = rho a + (1-rho) g^2;  p -= lr * g / (sqrt(a) + eps)."""

    state_names = ("a",)

    def __init__(self, named_params, lr: float = 5e-5, rho: float = 0.9, **kw) -> None:
        super().__init__(named_params, lr, **kw)
        self.rho = rho

    def _direction(self, grads, state):
        a = state["a"]
        torch._foreach_mul_(a, self.rho)
        torch._foreach_addcmul_(a, grads, grads, value=1 - self.rho)
        denom = torch._foreach_sqrt(a)
        torch._foreach_add_(denom, EPS)
        return grads, denom


def make_optimizer(kind: str, named_params, lr: float, lr_dropout: bool | str = False,
                   clipgrad: bool = False, lr_cos: int | None = None) -> Optimizer:
    """An optimizer from the model options: ``kind`` 'adabelief' | 'rmsprop'; ``lr_dropout``
    'y'/'cpu'/True -> update keep-probability 0.3 and (unless ``lr_cos`` is given) the 500-step cosine."""
    on = lr_dropout in (True, "y", "cpu")
    cls = AdaBelief if kind == "adabelief" else RMSprop
    return cls(named_params, lr=lr, lr_dropout=0.3 if on else 1.0,
               lr_cos=(500 if on else 0) if lr_cos is None else lr_cos, clipnorm=1.0 if clipgrad else 0.0)
