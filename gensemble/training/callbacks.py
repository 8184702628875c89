"""What happens around the training steps, one job per callback.

The loop (:mod:`.loop`) calls ``on_start`` once, ``on_step`` after every optimisation
step and ``on_end`` once (in list order), handing each callback the trainer.  The step's
statistics stay on the device unless a callback says it ``needs_stats`` at that step
(to log them, or to save or evaluate only what is known to be finite); ``on_step`` then
gets their means since the last read, and an empty dict otherwise.  Logging,
sample figures, evaluation with the best checkpoint, periodic checkpoints, uploading the
final checkpoints and registering the model are separate callbacks, so a new job (an
early stop, an extra figure) is a new class rather than a longer loop.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import torch

from gensemble.api.metric_context import EvalContext
from gensemble.api.metric_result import MetricResult
from gensemble.core.errors import UserError, one_line
from gensemble.core.tracking import TAG_MODEL
from gensemble.evaluation.runner import run_metrics, save_result
from gensemble.inference import model_registry
from gensemble.inference.checkpoint_io import read_metadata
from gensemble.inference.loaded import sample_physical
from gensemble.training import distributed as dist
from gensemble.training.sample_figures import sample_figure

LOG = logging.getLogger(__name__)

if TYPE_CHECKING:
    from gensemble.training.loop import Trainer


class Callback:
    """Base: every hook does nothing."""

    def on_start(self, tr: Trainer) -> None:
        pass

    def needs_stats(self, tr: Trainer, step: int) -> bool:
        """Whether ``on_step`` at ``step`` needs the statistics read (and checked)."""
        return False

    def on_step(self, tr: Trainer, step: int, logs: dict[str, float]) -> None:
        pass

    def on_end(self, tr: Trainer, step: int, stopped: str) -> None:
        pass


def real_samples(tr: Trainer, n: int) -> torch.Tensor:
    """Held-out fields (physical units), the training ones when there is no split."""
    pool = tr.val_idx if len(tr.val_idx) else tr.train_idx
    x = torch.from_numpy(tr.store.read(np.sort(pool[: min(n, len(pool))])))
    return torch.nan_to_num(x) if tr.exp.training.allow_masked else x


def fake_samples(tr: Trainer, n: int, seed: int = 12345) -> torch.Tensor:
    """Generated fields (physical units), the same latent draws at every evaluation."""
    g = torch.Generator().manual_seed(seed)
    return sample_physical(tr.state.model, tr.normalizer, n, g, tr.device)


class MetricLogger(Callback):
    """Step values, throughput, learning rates and kimg to MLflow every ``log_every``."""

    def __init__(self, log_every: int, steps: int) -> None:
        self.every, self.steps = log_every, steps

    def on_start(self, tr: Trainer) -> None:
        self.window = (time.time(), tr.state.step)

    def needs_stats(self, tr: Trainer, step: int) -> bool:
        return step % self.every == 0 or step == self.steps

    def on_step(self, tr: Trainer, step: int, logs: dict[str, float]) -> None:
        if tr.tracker is None or not logs or not self.needs_stats(tr, step):
            return
        now = time.time()
        batch = tr.exp.training.batch_size
        rate = (step - self.window[1]) * batch / max(now - self.window[0], 1e-9)
        self.window = (now, step)
        values = dict(logs, images_per_s=rate, kimg=tr.state.images_seen / 1000)
        tr.tracker.log_metrics(values, step)


class SampleFigures(Callback):
    """Real vs generated fields, side by side, every ``every`` steps and at the end."""

    def __init__(self, every: int, steps: int) -> None:
        self.every, self.steps = every, steps

    def _figure(self, tr: Trainer, step: int) -> None:
        if tr.tracker is None:
            return
        import matplotlib.pyplot as plt

        fig = sample_figure(real_samples(tr, 3).numpy(), fake_samples(tr, 3).numpy(), tr.variables)
        path = tr.ckpt.run_dir / "samples" / f"step_{step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80)
        plt.close(fig)
        tr.tracker.log_artifact(path, "samples")

    def on_step(self, tr: Trainer, step: int, logs: dict[str, float]) -> None:
        if self.every and step % self.every == 0:
            self._figure(tr, step)

    def on_end(self, tr: Trainer, step: int, stopped: str) -> None:
        if step == self.steps or stopped != "finished":
            self._figure(tr, step)


class Evaluation(Callback):
    """Metric plugins on held-out vs generated fields; keeps ``best`` by one key.

    The key is checked before the first step (on a dry run of the metrics on real fields)
    so a typo does not surface hours later at the first evaluation.
    """

    def __init__(self, metrics: list, every: int, steps: int, keep_best_by: str | None) -> None:
        self.metrics, self.every, self.steps, self.key = metrics, every, steps, keep_best_by

    def evaluate(self, tr: Trainer, fake: torch.Tensor | None = None) -> MetricResult:
        n = tr.exp.training.eval_samples
        figures = fake is None  # a dry run needs numbers only
        real = real_samples(tr, n)
        fake = fake_samples(tr, n) if fake is None else fake
        # the metrics run on the training device (batched torch kernels)
        ctx = EvalContext(tr.variables, tr.store.grid.spacing_m()[0], tr.device, 0, figures)
        ctx.model = tr.state.model
        result, _ = run_metrics(self.metrics, real, fake, ctx)
        return result

    def on_start(self, tr: Trainer) -> None:
        if not tr.info.is_main or not self.metrics:
            return
        if self.key:
            real = real_samples(tr, min(8, tr.exp.training.eval_samples))
            keys = self.evaluate(tr, real.flip(0)).scalars
            if self.key not in keys:
                raise UserError(
                    f"training.keep_best_by={self.key!r} is not a key the configured metrics "
                    f"compute; available: {', '.join(sorted(keys))}"
                )
        if self.every and tr.state.step == 0:
            self._log(tr, 0)  # where the run starts from (compare transfer/scratch)

    def _log(self, tr: Trainer, step: int) -> dict[str, float]:
        result = self.evaluate(tr)
        values = result.finite_scalars()
        if tr.tracker:
            tr.tracker.log_metrics(result.tracked_scalars(), step)
            for f in save_result(result, tr.ckpt.run_dir / "eval" / f"step_{step:07d}"):
                tr.tracker.log_artifact(f, f"eval/step_{step:07d}")
        tr.last_eval = values
        return values

    def _keep_best(self, tr: Trainer, step: int, values: dict[str, float]) -> None:
        if not self.key or self.key not in values:
            return
        if tr.state.best_value is None or values[self.key] < tr.state.best_value:
            tr.state.best_value = values[self.key]
            tr.ckpt.save(step, tr.state, "best")

    def needs_stats(self, tr: Trainer, step: int) -> bool:
        return bool(self.metrics and self.every and step % self.every == 0 and step < self.steps)

    def on_step(self, tr: Trainer, step: int, logs: dict[str, float]) -> None:
        if tr.info.is_main and self.needs_stats(tr, step):
            self._keep_best(tr, step, self._log(tr, step))

    def on_end(self, tr: Trainer, step: int, stopped: str) -> None:
        if tr.info.is_main and self.metrics and step == self.steps:
            self._keep_best(tr, step, self._log(tr, step))


class PeriodicCheckpoint(Callback):
    """A step checkpoint every ``every`` steps (the final one is the loop's own)."""

    def __init__(self, every: int, steps: int) -> None:
        self.every, self.steps = every, steps

    def needs_stats(self, tr: Trainer, step: int) -> bool:
        return step % self.every == 0 and step < self.steps

    def on_step(self, tr: Trainer, step: int, logs: dict[str, float]) -> None:
        if not self.needs_stats(tr, step):
            return
        dist.check_consistency(tr.state.model, tr.info, f"at step {step}")  # every rank
        if tr.info.is_main:
            tr.ckpt.save(step, tr.state)


class UploadCheckpoints(Callback):
    """The last and best checkpoints become run artifacts (so other machines fetch them)."""

    def on_end(self, tr: Trainer, step: int, stopped: str) -> None:
        if tr.tracker is None:
            return
        tr.tracker.log_artifact(tr.ckpt.last_path, "checkpoints")
        if tr.ckpt.best_path:
            tr.tracker.log_artifact(tr.ckpt.best_path, "checkpoints")


class RegisterModel(Callback):
    """A finished run's generator becomes a new version in the model registry; a failure
    only warns (the checkpoints are safe; ``gensemble register`` redoes it)."""

    def on_end(self, tr: Trainer, step: int, stopped: str) -> None:
        e = tr.exp
        if tr.tracker is None or stopped != "finished" or not e.tracking.register_model:
            return
        name = e.tracking.model_name or model_registry.default_model_name(
            e.domain.name, e.architecture.name
        )
        which = "best" if tr.ckpt.best_path else "last"
        meta = read_metadata(tr.ckpt.best_path or tr.ckpt.last_path)
        run_id = tr.ckpt.run_id
        try:
            version = model_registry.register_run(tr.tracker.client, run_id, name, which, meta)
        except Exception as exc:
            LOG.warning(
                f"could not register the model {name!r}: {one_line(exc)[:200]}; "
                f"run `gensemble register {run_id}` later"
            )
            return
        uri = f"models:/{name}/{version}"
        tr.tracker.set_tags({TAG_MODEL: uri})
        LOG.info("registered %s", uri)
