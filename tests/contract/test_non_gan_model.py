"""A model that is not a GAN implements the generic contract without the GAN step: a
per-point Gaussian fitted by maximum likelihood trains, checkpoints, resumes exactly and
generates through the same loop, registered like a partner's architecture."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gensemble.api import (
    ArchitecturePlugin,
    BatchRandom,
    GenerativeModel,
    OptimizerSpec,
    PluginOptions,
    StepContext,
    StepStats,
    Truncatable,
    UserError,
    hookimpl,
)
from gensemble.core.config import build_experiment
from gensemble.core.registry import Registry, get_registry, set_registry
from gensemble.inference.checkpoint_io import load_checkpoint
from gensemble.inference.loaded import LoadedModel
from gensemble.training.loop import train
from tests.contract.test_architectures import SOURCE, _store


class PointGaussian(GenerativeModel):
    """x ~ N(mu, sigma^2) independently at every point: one Adam, one loss, no critic."""

    architecture = "point_gaussian"

    def __init__(self, channels: int, height: int, width: int, lr: float) -> None:
        super().__init__()
        self.mu = torch.nn.Parameter(torch.zeros(channels, height, width))
        self.log_sigma = torch.nn.Parameter(torch.zeros(channels, height, width))
        self.lr = lr

    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        return {"model": OptimizerSpec([self.mu, self.log_sigma], self.lr)}

    def train_step(self, real: torch.Tensor, ctx: StepContext, optimizers: dict) -> StepStats:
        opt = optimizers["model"]
        opt.zero_grad(set_to_none=True)
        with ctx.autocast(real.device):
            z = (real - self.mu) / self.log_sigma.exp()
            nll = (0.5 * z.square() + self.log_sigma).mean() + 0.5 * math.log(2 * math.pi)
        nll.backward()
        ctx.sync(self)
        opt.step()
        return {"nll": nll.detach()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, device="cpu") -> torch.Tensor:  # noqa: ANN001
        noise = torch.randn(n, *self.mu.shape, generator=generator).to(device)
        return self.mu + self.log_sigma.exp() * noise


class PointGaussianOptions(PluginOptions):
    lr: float = 0.05


class PointGaussianPlugin(ArchitecturePlugin):
    name = "point_gaussian"
    description = "per-point Gaussian (a test of the generic contract)"
    Options = PointGaussianOptions

    def build(self, channels: int, height: int, width: int) -> PointGaussian:
        return PointGaussian(channels, height, width, self.options.lr)


@pytest.fixture()
def registry_with_gaussian():  # noqa: ANN201
    old = get_registry()
    reg = Registry()
    reg.load_entry_points()
    reg.register_module(
        SimpleNamespace(gensemble_architectures=hookimpl(lambda: [PointGaussianPlugin])),
        name="test:point_gaussian",
    )
    set_registry(reg)
    yield reg
    set_registry(old)


def _exp(tmp: Path, store: Path, steps: int) -> object:
    return build_experiment(
        {
            "domain": SOURCE,
            "architecture": {"name": "point_gaussian"},
            "training": {"steps": steps, "batch_size": 2, "checkpoint_every": 1, "log_every": 2},
            "data": {"store": str(store), "val_fraction": 0.25},
            "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db", "register_model": False},
            "output_dir": str(tmp / "runs"),
        },
        "<non-gan>",
    )


def test_a_non_gan_model_trains_resumes_and_generates(registry_with_gaussian, tmp_path) -> None:  # noqa: ANN001
    store = _store(tmp_path, SOURCE)
    assert not isinstance(PointGaussian(1, 2, 2, 0.1), Truncatable)
    first = train(_exp(tmp_path, store, 3))
    resumed = train(_exp(tmp_path, store, 5), resume=str(first.last_checkpoint))
    (tmp_path / "b").mkdir()
    straight = train(_exp(tmp_path / "b", store, 5))
    a, _ = load_checkpoint(resumed.last_checkpoint)
    b, _ = load_checkpoint(straight.last_checkpoint)
    for key in ("model.mu", "model.log_sigma"):
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a["model.mu"], torch.zeros_like(a["model.mu"]))
    loaded = LoadedModel(resumed.last_checkpoint)
    x = loaded.generate_physical(3, torch.Generator().manual_seed(0))
    assert x.shape == (3, 4, 16, 24) and torch.isfinite(x).all()
    with pytest.raises(UserError, match="does not support truncation"):
        loaded.generate_physical(3, torch.Generator().manual_seed(0), truncation=0.7)
    ctx = StepContext(0, BatchRandom(0), 2, lambda m: None)
    model = PointGaussian(2, 4, 4, 0.1)
    stats = model.train_step(torch.randn(2, 2, 4, 4), ctx, model.make_optimizers())
    assert set(stats) == {"nll"}
