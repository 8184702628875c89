"""Multi-process training: torchrun's environment, gradient all-reduce.

Gradients are all-reduced by hand after each phase instead of wrapping the networks in
DistributedDataParallel: R1 and path-length regularisation differentiate through
gradients (double backward), which DDP's reducer does not support.  Averaging the
gradients of equal local batches equals the gradient of the global batch mean.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

LOG = logging.getLogger(__name__)


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> DistInfo:
    return DistInfo(
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )


def init(info: DistInfo, device: torch.device) -> None:
    if info.world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def sync_grads(module: torch.nn.Module, info: DistInfo) -> None:
    if info.world == 1:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= info.world
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.world == 1:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    if info.world == 1:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, 0)


def checksums(module: torch.nn.Module) -> tuple[list[str], torch.Tensor]:
    """Names and float64 (sum, sum of squares) of every parameter and buffer, (n, 2)."""
    names, rows = [], []
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        if t.is_floating_point():
            d = t.detach().double()
            names.append(name)
            rows.append(torch.stack([d.sum(), d.square().sum()]))
    if not rows:
        return names, torch.zeros(0, 2, dtype=torch.float64)
    return names, torch.stack(rows)


def check_consistency(module: torch.nn.Module, info: DistInfo, when: str) -> None:
    """Refuse to go on when ranks hold different parameters or buffers.

    Gradients are all-reduced by hand here, so a rank that skipped a sync or a parameter
    left out of it would drift silently; comparing one checksum pair per tensor (one
    all-reduce of a few KB) catches it at the start and at every checkpoint.  A mismatch
    is a bug, not a user error: it raises with the first tensors that differ."""
    if info.world == 1:
        return
    names, sums = checksums(module)
    both = torch.cat([sums, -sums], dim=1)
    dist.all_reduce(both, op=dist.ReduceOp.MAX)
    differ = (both[:, :2] + both[:, 2:]).abs().amax(dim=1) > 0  # max - min per tensor
    if bool(differ.any()):
        bad = [n for n, d in zip(names, differ.tolist(), strict=True) if d]
        raise RuntimeError(
            f"ranks hold different values {when} in {len(bad)} tensors "
            f"(first: {', '.join(bad[:5])}): the gradient sync missed something"
        )


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
