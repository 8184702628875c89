"""Multi-process training: torchrun's environment, gradient all-reduce.

Gradients are all-reduced by hand after each phase instead of wrapping the networks in
DistributedDataParallel: R1 and path-length regularisation differentiate through
gradients (double backward), which DDP's reducer does not support.  Averaging the
gradients of equal local batches equals the gradient of the global batch mean.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
