"""The study's generator: trained on the train dates' members only, and its quality
measured against the noise floor.

Quality is SWD, W1 and the log spectral distance of generated fields against real ones,
beside the same metrics between two independent real samples of the same size (the
calibration dates' members against the test dates' members): a generator is as good as
these metrics can tell when its figures reach that floor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)

QUALITY_METRICS = ("swd", "w1", "spectrum")


def train_generator(
    spec: Any, store: Path, domain: Any, folder: Path, tracking: dict[str, Any], seed: int
) -> tuple[Path, str | None]:
    """Train the configured architecture on ``store``; its last checkpoint and run id."""
    from gensemble.core.config import build_experiment
    from gensemble.training.loop import train

    training = {"seed": seed, **spec.training}
    data = {
        "domain": {"name": domain.name, "options": domain.options.model_dump(mode="json")},
        "architecture": spec.architecture,
        "training": training,
        "data": {"store": str(store), "val_fraction": 0.0},
        "tracking": {"register_model": False, "run_name": "study generator", **tracking},
        "output_dir": str(folder),
    }
    exp = build_experiment(data, "<study model>")
    result = train(exp)
    if result.last_checkpoint is None:
        raise UserError("the study's generator training left no checkpoint")
    return Path(result.last_checkpoint), result.run_id


@dataclass
class GeneratorQuality:
    """metric key -> (fake vs real, real vs real) and the sample size of each set."""

    values: dict[str, tuple[float, float]]
    samples: int

    def to_json(self) -> dict[str, Any]:
        metrics = {k: {"fake_vs_real": a, "real_vs_real": b} for k, (a, b) in self.values.items()}
        return {"samples": self.samples, "metrics": metrics}


def quality(
    loaded: Any, real_a: np.ndarray, real_b: np.ndarray, variables: list[str], dx_m: float,
    seed: int, limit: int = 512,
) -> GeneratorQuality:  # fmt: skip
    """Fake vs real_a beside real_b vs real_a, on equal sample sizes (physical units)."""
    from gensemble.api.metric_context import EvalContext
    from gensemble.evaluation.runner import build_metrics, run_metrics

    s = min(len(real_a), len(real_b), limit)
    if s < 2:
        raise UserError("too few real fields to measure the generator's quality")
    a = torch.from_numpy(np.ascontiguousarray(real_a[:s], dtype=np.float32))
    b = torch.from_numpy(np.ascontiguousarray(real_b[:s], dtype=np.float32))
    fake = loaded.generate_physical(s, torch.Generator().manual_seed(seed)).float()
    metrics = build_metrics(list(QUALITY_METRICS))
    ctx = EvalContext(list(variables), dx_m, "cpu", seed, figures=False)
    fake_res, _ = run_metrics(metrics, a, fake, ctx)
    ctx = EvalContext(list(variables), dx_m, "cpu", seed, figures=False)
    real_res, _ = run_metrics(metrics, a, b, ctx)
    keys = sorted(
        k for k in fake_res.scalars
        if k in real_res.scalars and k not in fake_res.undefined
        and (k == "swd/mean" or k.startswith("w1_mean/") or "_lsd/" in k)
    )  # fmt: skip
    values = {k: (float(fake_res.scalars[k]), float(real_res.scalars[k])) for k in keys}
    return GeneratorQuality(values, s)
