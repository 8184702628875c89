"""GAN inversion: the W+ code (and optionally the noise maps) that reproduce each member.

Batched over members: all members are optimised together, each with its own loss (the
sum of per-member losses has independent gradients, and Adam is element-wise), its own
random streams (seeded from the inversion's seed and the member's index), its own noise
penalty and its own early stop (a converged member is held while the others go on), so a
batch gives the codes of one member at a time (to float rounding), only faster.  The schedule is the
published StyleGAN2 projector's: W+ starts at the prior mean w, Adam with a cosine
learning-rate ramp-up/ramp-down, and latent noise that decays to zero over the first
75 % of the steps.  The loss is on normalised fields with per-variable weights (MAE or
MSE) plus an optional log-spectrum term.

Noise maps (``noise``): generators are trained with random noise inputs, so zero maps run
both the inversion and the generation off the training distribution.  Modes:

* ``const`` (zero maps, the generator's deterministic output; the former default);
* ``fixed``: one seeded draw of noise maps, used at every inversion step and for every
  member, inverted and generated (an in-distribution realisation held fixed);
* ``random``: fresh noise at every inversion step (the code is fitted on average over
  noise) and fresh noise for every generated member (as the prototype generates);
* ``optimize``: noise maps fitted with the code, then each generated member reuses its
  input member's maps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from gensemble.api.capabilities import LatentAccess
from gensemble.core.errors import UserError
from gensemble.enrichment.latents import Prior

LOG = logging.getLogger(__name__)


class InversionConfig(BaseModel):
    """How members are inverted (defaults: the StyleGAN2 projector's schedule)."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(1000, ge=1)
    lr: float = Field(0.1, gt=0)
    lr_rampup: float = Field(0.05, ge=0, le=1)
    lr_rampdown: float = Field(0.25, gt=0, le=1)
    noise_factor: float = Field(0.05, ge=0, description="initial latent noise x prior std")
    noise_ramp: float = Field(0.75, gt=0, le=1)
    loss: Literal["mae", "mse"] = "mse"
    weights: dict[str, float] = Field(default_factory=dict, description="per variable")
    spectral_weight: float = Field(0.0, ge=0, description="weight of a log-spectrum term")
    noise: Literal["const", "fixed", "random", "optimize"] = "const"
    noise_regularize: float = Field(1e5, ge=0)
    tol: float = Field(1e-4, ge=0, description="early stop: relative gain over `patience`")
    patience: int = Field(50, ge=1)
    batch: int = Field(16, ge=1, description="members inverted together")
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="synthesis under bf16 autocast (auto: on a GPU; the loss, Adam and the "
        "codes stay float32)",
    )


def autocast_for(precision: str, device: torch.device | str) -> Any:
    """The autocast context of an inversion's or a generation's synthesis: bf16 with
    ``bf16``, or ``auto`` on a CUDA device; float32 otherwise."""
    kind = torch.device(device).type
    on = precision == "bf16" or (precision == "auto" and kind == "cuda")
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=on)


@dataclass
class InversionResult:
    ws: torch.Tensor  # (M, S, D)
    noise: list[torch.Tensor] | None  # per noise input (M, 1, h, w); None: zero or random
    loss: torch.Tensor  # (M,) final per-member loss
    steps: int  # steps run (early stop may end sooner)
    history: list[float] = field(default_factory=list)
    #: the inversion's noise mode: generation draws fresh maps per member for ``random``
    noise_mode: str = "const"
    #: the inversion's precision, which generation from it keeps
    precision: str = "auto"


def learning_rate(cfg: InversionConfig, t: float) -> float:
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if cfg.lr_rampup > 0:
        ramp *= min(1.0, t / cfg.lr_rampup)
    return cfg.lr * ramp


def _log_spectrum(x: torch.Tensor) -> torch.Tensor:
    return torch.log1p(torch.fft.rfft2(x).abs())


def member_loss(
    fake: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, cfg: InversionConfig
) -> torch.Tensor:
    """(M,) loss of each member on normalised fields."""
    diff = fake - target
    err = diff.abs() if cfg.loss == "mae" else diff.square()
    loss = (err.mean(dim=(2, 3)) * weights).sum(1) / weights.sum()
    if cfg.spectral_weight > 0:
        spec = (_log_spectrum(fake) - _log_spectrum(target)).abs().mean(dim=(2, 3))
        loss = loss + cfg.spectral_weight * (spec * weights).sum(1) / weights.sum()
    return loss


def _noise_regularisation(maps: list[torch.Tensor]) -> torch.Tensor:
    """(M,) the projector's penalty on spatial autocorrelation of optimised noise, per
    scale, for each member on its own maps (a batch mean would couple the members)."""
    total = maps[0].new_zeros(maps[0].shape[0])
    for m in maps:
        n = m
        while True:
            total = total + (n * n.roll(1, dims=3)).mean(dim=(1, 2, 3)).square()
            total = total + (n * n.roll(1, dims=2)).mean(dim=(1, 2, 3)).square()
            if min(n.shape[2:]) <= 8:
                break
            n = torch.nn.functional.avg_pool2d(n, 2)
    return total


def member_generators(seed: int, first: int, m: int) -> list[torch.Generator]:
    """One random stream per member, from the inversion's seed and the member's index, so
    a member's inversion does not depend on which others share its batch."""
    return [torch.Generator().manual_seed(seed * 1_000_003 + first + i) for i in range(m)]


def _per_member(gens: list[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
    return torch.stack([torch.randn(shape, generator=g) for g in gens])


def _invert_batch(
    model: LatentAccess,
    targets: torch.Tensor,
    weights: torch.Tensor,
    pri: Prior,
    cfg: InversionConfig,
    first: int,
    on_step: Callable[[int], None] | None,
) -> InversionResult:
    """Members ``first``.. of the forecast, optimised together but each on its own: its
    own random streams, its own noise penalty, and its own early stop (a member that has
    converged is held where it is while the others go on), so batched = one by one."""
    m, device = targets.shape[0], targets.device
    s = model.num_styles()
    gens = member_generators(cfg.seed, first, m)
    ws = pri.mean.float().to(device).expand(m, s, -1).clone().requires_grad_(True)
    params = [ws]
    maps: list[torch.Tensor] | None = None
    shapes = model.noise_shapes()
    if cfg.noise == "optimize":
        maps = [_per_member(gens, (1, h, w)).to(device).requires_grad_(True) for h, w in shapes]
        params += maps
    elif cfg.noise == "fixed":  # one seeded draw, the same for every member and batch
        fixed = torch.Generator().manual_seed(cfg.seed + FIXED_NOISE_SEED)
        maps = [
            torch.randn(1, 1, h, w, generator=fixed).to(device).expand(m, -1, -1, -1)
            for h, w in shapes
        ]
    opt = torch.optim.Adam(params, betas=(0.9, 0.999), lr=cfg.lr)
    history: list[float] = []
    losses_seen: list[torch.Tensor] = []  # (M,) per step
    done = torch.zeros(m, dtype=torch.bool)
    steps_run = torch.zeros(m, dtype=torch.long)
    for step in range(cfg.steps):
        t = step / cfg.steps
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, t)
        strength = pri.std * cfg.noise_factor * max(0.0, 1.0 - t / cfg.noise_ramp) ** 2
        jitter = _per_member(gens, (s, ws.shape[-1])).to(device) * strength
        noise: Any = maps if maps is not None else "zero"
        if cfg.noise == "random":  # fitted on average over the noise the generator knows
            noise = [_per_member(gens, (1, h, w)).to(device) for h, w in shapes]
        with autocast_for(cfg.precision, device):
            fake = model.synthesize(ws + jitter, noise)
        losses = member_loss(fake.float(), targets, weights, cfg)
        total = losses
        if cfg.noise == "optimize" and cfg.noise_regularize > 0:
            total = total + cfg.noise_regularize * _noise_regularisation(maps)
        opt.zero_grad(set_to_none=True)
        total.sum().backward()
        held = [p.detach()[done.to(device)].clone() for p in params] if done.any() else None
        opt.step()
        with torch.no_grad():
            if cfg.noise == "optimize":
                for n in maps:
                    n.sub_(n.mean(dim=(2, 3), keepdim=True)).div_(n.std(dim=(2, 3), keepdim=True))
            if held is not None:  # converged members stay where they stopped
                for p, kept in zip(params, held, strict=True):
                    p[done.to(device)] = kept
        per_member = losses.detach().cpu()
        steps_run += ~done
        losses_seen.append(per_member)
        history.append(float(per_member.mean()))
        if on_step:
            on_step(int((~done).sum()))
        if strength == 0 and len(losses_seen) > cfg.patience and cfg.tol > 0:
            before, now = losses_seen[-cfg.patience - 1], losses_seen[-1]
            done |= (before - now) < cfg.tol * before.abs()
            if bool(done.all()):
                break
    with torch.no_grad():  # the loss of the final code, without latent noise
        noise = maps if maps is not None else "zero"
        if cfg.noise == "random":  # a stream of its own: independent of when each stopped
            final = member_generators(cfg.seed + FINAL_NOISE_SEED, first, m)
            noise = [_per_member(final, (1, h, w)).to(device) for h, w in shapes]
        with autocast_for(cfg.precision, device):
            fake = model.synthesize(ws, noise)
        per_member = member_loss(fake.float(), targets, weights, cfg).cpu()
    kept = [n.detach().contiguous() for n in maps] if maps is not None else None
    return InversionResult(ws.detach(), kept, per_member, int(steps_run.max()), history,
                           cfg.noise, cfg.precision)  # fmt: skip


#: offset from the inversion's seed of the fixed noise draw (mode ``fixed``), and of the
#: noise the final (reported) loss of a ``random`` inversion is measured with: streams
#: apart from the members', one offset since no inversion uses both
FIXED_NOISE_SEED = 7919
FINAL_NOISE_SEED = FIXED_NOISE_SEED


def draw_maps(
    model: LatentAccess, m: int, gen: torch.Generator, device: torch.device | str
) -> list[torch.Tensor]:
    """Fresh N(0, 1) noise maps (m, 1, h, w) for every noise input, from a CPU generator
    (the same numbers on every device)."""
    return [torch.randn(m, 1, h, w, generator=gen).to(device) for h, w in model.noise_shapes()]


def invert(
    model: LatentAccess,
    targets: torch.Tensor,
    variables: list[str],
    pri: Prior,
    cfg: InversionConfig,
    on_step: Callable[[int], None] | None = None,
) -> InversionResult:
    """Invert normalised members (M, C, H, W), ``cfg.batch`` at a time (seeded)."""
    unknown = sorted(set(cfg.weights) - set(variables))
    if unknown:
        raise UserError(f"inversion weights name {unknown}, not among {variables}")
    weights = torch.tensor([cfg.weights.get(v, 1.0) for v in variables], device=targets.device)
    module = model  # the generator's own parameters are not optimised
    flags = [p.requires_grad for p in module.parameters()]  # type: ignore[attr-defined]
    module.requires_grad_(False)  # type: ignore[attr-defined]
    try:
        parts = [
            _invert_batch(model, targets[i : i + cfg.batch], weights, pri, cfg, i, on_step)
            for i in range(0, targets.shape[0], cfg.batch)
        ]
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):  # type: ignore[attr-defined]
            p.requires_grad_(flag)
    noise = None
    if parts[0].noise is not None:
        noise = [torch.cat([p.noise[i] for p in parts]) for i in range(len(parts[0].noise))]
    return InversionResult(
        torch.cat([p.ws for p in parts]),
        noise,
        torch.cat([p.loss for p in parts]),
        max(p.steps for p in parts),
        parts[0].history,
        cfg.noise,
        cfg.precision,
    )
