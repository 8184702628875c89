"""Ranks are checked to hold identical parameters: two gloo processes agree, and one that
drifted is caught with the tensor named."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gensemble.training.distributed import DistInfo, check_consistency, checksums


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, drift: bool, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
        if drift and rank == 1:
            with torch.no_grad():
                net[1].bias[0] += 1e-6
        try:
            check_consistency(net, DistInfo(rank, 2), "at step 7")
            out[rank] = "ok"
        except RuntimeError as exc:
            out[rank] = str(exc)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("drift", [False, True])
def test_ranks_with_different_parameters_are_caught(drift: bool) -> None:
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(_free_port(), drift, out), nprocs=2, join=True)
        result = dict(out)
    if not drift:
        assert result == {0: "ok", 1: "ok"}
    else:
        for rank in (0, 1):  # every rank stops, naming the tensor that differs
            assert "at step 7" in result[rank] and "1.bias" in result[rank]
            assert "0.weight" not in result[rank]


def test_checksums_cover_parameters_and_buffers() -> None:
    net = torch.nn.BatchNorm1d(3)
    names, sums = checksums(net)
    assert "weight" in names and "running_mean" in names and sums.shape == (len(names), 2)
    check_consistency(net, DistInfo(0, 1), "alone")  # one process: nothing to compare
