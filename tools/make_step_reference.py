"""Writes tests/fixtures/gan_step/*.safetensors: the parameters after a few training
steps of tiny stylegan2/stylegan3 models with fixed seeds, computed by the per-architecture
train_step the shared GAN step replaced (commit c597a9d and before).  The shared step must
reproduce them bit for bit (tests/unit/test_gan_step.py).  Kept to document how the
fixtures were made; rerunning it on today's code checks nothing new."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from gensemble.core.registry import get_registry
from gensemble.inference.loaded import build_model

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "gan_step"

#: (name, architecture, extra options): the runs the fixtures hold
CASES = [
    ("stylegan2_tiny", "stylegan2", {}),
    ("stylegan2_augment", "stylegan2", {"augment": True, "augment_p": 0.3, "mixing_prob": 0.5}),
    ("stylegan3_tiny", "stylegan3", {}),
]
STEPS = 5
SHAPE = [3, 16, 24]


def run_case(arch: str, extra: dict, step_fn) -> dict[str, torch.Tensor]:  # noqa: ANN001
    """Train ``STEPS`` steps on fixed random "real" batches; ``step_fn(model, real, step)``
    makes one step.  One thread: a matmul's summation order, and so its last bit, depends
    on how many threads share it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        options = dict(get_registry().get("architecture", arch).tiny_options, **extra)
        torch.manual_seed(0)
        model = build_model(arch, options, SHAPE)
        reals = torch.randn(STEPS, 4, *SHAPE, generator=torch.Generator().manual_seed(5))
        for step in range(STEPS):
            step_fn(model, reals[step], step)
        return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    finally:
        torch.set_num_threads(threads)


def legacy_step(model, real, step):  # noqa: ANN001, ANN201
    from gensemble.api.model import BatchRandom, StepContext

    if not hasattr(model, "_opts"):
        model._opts = model.make_optimizers()
        model._rand = BatchRandom(1)
    ctx = StepContext(step=step, rand=model._rand, global_batch=4, sync=lambda m: None)
    model.train_step(real, ctx, model._opts)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, arch, extra in CASES:
        save_file(run_case(arch, extra, legacy_step), str(OUT / f"{name}.safetensors"))
        print("wrote", name, file=sys.stderr)
