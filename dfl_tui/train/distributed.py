"""Data-parallel training across the processes ``torchrun`` starts (see :mod:`dfl_tui.train.ddp`).

DeepFaceLab splits the batch over the GPUs and averages the gradients on one device; here every
rank holds the whole model and draws ``batch // world`` faces of its own, and each of the model's
loss passes (the generator's, each discriminator's: :class:`~dfl_tui.models.base.LossPass`) runs
through :class:`torch.nn.parallel.DistributedDataParallel`, whose backward averages that
optimizer's gradients over the ranks while it computes them. Rank 0's weights and optimizer state
are copied everywhere first. All ranks share the global torch seed, so lr-dropout masks and AMP's
channel picks stay identical and the weights never drift apart.

Decisions (stop, save, backup, preview, NaN) are agreed every iteration with one small all-reduce;
only rank 0 writes files. Without torchrun :class:`Dist` is a no-op.
"""

from __future__ import annotations

from typing import Any

import torch


class Dist:
    """This process's place among the torchrun ranks, and the collective operations the trainer needs."""

    def __init__(self) -> None:
        import torch.distributed as dist

        self.dist = dist
        self.on = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.on else 0
        self.world = dist.get_world_size() if self.on else 1
        self.comm_device = torch.device("cpu")
        self.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def setup(self, device: torch.device) -> None:
        self.device = device
        if self.on and self.dist.get_backend() == "nccl":
            self.comm_device = device

    def barrier(self) -> None:
        if self.on:
            self.dist.barrier()

    def same_int(self, value: int) -> int:
        """Rank 0's value everywhere."""
        if not self.on:
            return value
        t = torch.tensor([value if self.main else 0], dtype=torch.int64, device=self.comm_device)
        self.dist.broadcast(t, 0)
        return int(t.item())

    def agree(self, flags: list[int]) -> list[int]:
        """Element-wise max over the ranks (a stop or a NaN anywhere stops everyone)."""
        if not self.on:
            return flags
        t = torch.tensor(flags, dtype=torch.int32, device=self.comm_device)
        self.dist.all_reduce(t, op=self.dist.ReduceOp.MAX)
        return [int(v) for v in t.tolist()]

    def sync_model(self, model: Any) -> None:
        """Rank 0's weights and optimizer state everywhere, then every loss pass under DDP."""
        if not self.on:
            return
        from torch.nn.parallel import DistributedDataParallel as DDP

        from ..models.optim import Optimizer

        with torch.no_grad():
            for part in model.parts().values():
                for t in part.state_dict().values():
                    if torch.is_tensor(t) and t.numel():
                        self.dist.broadcast(t, 0)
            for opt in model.parts().values():
                if isinstance(opt, Optimizer):
                    opt.step_count = self.same_int(opt.step_count)
        ids = [self.device.index] if self.device.type == "cuda" else None
        # static_graph: the same parameters take part in every iteration (also those a model
        # option leaves without a gradient), which lets DDP skip searching the graph each step.
        model.wrap_passes(lambda p: DDP(p, device_ids=ids, broadcast_buffers=False, static_graph=True))

    def checksum(self, model: Any) -> float:
        with torch.no_grad():
            return float(sum(p.double().sum().item() for p in model.parameters()))


__all__ = ["Dist"]
