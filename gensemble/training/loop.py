"""The training loop: any registered architecture on any domain's store.

The loop only steps the model and hands each step to its callbacks (:mod:`.callbacks`:
logging, figures, evaluation, checkpoints, registration).  Rank 0 tracks (MLflow) and
writes checkpoints; every rank trains on its slice of each global batch.  A step's
statistics stay on the device (:mod:`.step_stats`) and are read when a callback needs
them - every log interval, and before anything is saved or evaluated - so values that
turn NaN/inf stop the run before anything is saved: the last checkpoint on disk is the
last good one.  Ranks are checked to hold identical parameters at the start and at every
checkpoint.  SIGTERM/SIGINT (SLURM's warning before the wall-clock limit) and
``training.time_limit_s`` end the run with a checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gensemble.api.model import StepContext
from gensemble.core.config import Experiment
from gensemble.core.errors import UserError
from gensemble.core.tracking import Tracker
from gensemble.data.loader import StoreDataset, ThreadedLoader, check_quality, split_indices
from gensemble.evaluation.runner import build_metrics
from gensemble.training import callbacks as cb
from gensemble.training import distributed as dist
from gensemble.training.batch_sampler import GlobalBatchSampler
from gensemble.training.checkpointing import Checkpointer
from gensemble.training.conditional_data import conditional_split, forecast_batches
from gensemble.training.optim import apply_schedule
from gensemble.training.run_tracking import leave_for_sync, start_run
from gensemble.training.setup import build_state, open_store, pick_device
from gensemble.training.step_stats import StatsAccumulator, non_finite

LOG = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_id: str | None
    run_dir: Path
    step: int
    last_checkpoint: Path | None
    best_checkpoint: Path | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    stopped: str = "finished"


class _StopFlag:
    """Turns SIGTERM/SIGINT into a clean stop after the current step."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.reason = signal.Signals(signum).name

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer:
    """One training run: its store, state, checkpointer, tracker and callbacks."""

    def __init__(self, exp: Experiment, resume: str | None = None) -> None:
        self.exp = exp
        t = exp.training
        self.info = dist.from_env()
        self.device = pick_device(t.device, self.info)
        dist.init(self.info, self.device)
        if t.batch_size % self.info.world:
            raise UserError(
                f"training.batch_size={t.batch_size} is not divisible by {self.info.world} ranks"
            )
        if t.keep_best_by and not exp.metrics:
            raise UserError(f"training.keep_best_by={t.keep_best_by!r} but no metrics are set")
        self.store = open_store(exp)
        check_quality(self.store, t.allow_masked)
        self.variables = self.store.variable_names
        self.shape = [len(self.variables), *self.store.shape[1:]]
        self.normalizer = self.store.normalizer()
        metrics = build_metrics(exp.metrics)
        self.state = build_state(
            exp, self.variables, self.shape, self.info, self.device, resume, self.store.static
        )
        self.forecasts = conditional_split(self.state.model, self.store, exp)
        if self.forecasts is not None:  # forecasts never split across train and validation
            self.train_idx, self.val_idx = (f.samples() for f in self.forecasts)
        else:
            self.train_idx, self.val_idx = split_indices(
                self.store.n_samples, exp.data.val_fraction, t.seed
            )
            if len(self.train_idx) < t.batch_size:
                raise UserError(
                    f"{len(self.train_idx)} training samples in {exp.data.store} are fewer "
                    f"than training.batch_size={t.batch_size}"
                )
        self.ckpt = Checkpointer(
            exp, self.store, self.normalizer, self.shape, self.info.world, t.keep_checkpoints
        )
        dist.check_consistency(self.state.model, self.info, "at the start")
        self.stats = StatsAccumulator()
        self.amp_dtype = torch.bfloat16 if t.amp and self.device.type == "cuda" else None
        self.tracker: Tracker | None = None
        self.last_eval: dict[str, float] = {}
        self.callbacks: list[cb.Callback] = [
            cb.MetricLogger(t.log_every, t.steps),
            cb.SampleFigures(t.sample_every, t.steps),
            cb.Evaluation(metrics, t.eval_every, t.steps, t.keep_best_by),
            cb.PeriodicCheckpoint(t.checkpoint_every, t.steps),
            cb.UploadCheckpoints(),
            cb.RegisterModel(),
        ]

    def _batches(self) -> Any:
        t = self.exp.training
        if self.forecasts is not None:
            return forecast_batches(self, self.forecasts[0])
        dataset = StoreDataset(
            Path(self.exp.data.store), self.train_idx, self.normalizer, t.allow_masked
        )
        sampler = GlobalBatchSampler(
            len(self.train_idx),
            t.batch_size,
            self.info.rank,
            self.info.world,
            t.seed,
            self.state.step,
        )
        if t.num_workers > 0:
            # page-locked batches let the copy to the GPU overlap the step
            pin = self.device.type == "cuda"
            return iter(ThreadedLoader(dataset, sampler, t.num_workers, pin_memory=pin))
        return (dataset.__getitems__(items) for items in sampler)

    def _progress(self) -> Any:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        return Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            disable=not self.info.is_main,
        )

    def _step(self, real: Any, step: int) -> None:
        t = self.exp.training
        ctx = StepContext(
            step=step,
            rand=self.state.rand,
            global_batch=t.batch_size,
            sync=lambda m: dist.sync_grads(m, self.info),
            reduce=lambda x: dist.reduce_sum(x, self.info),
            amp_dtype=self.amp_dtype,
            grad_clip=t.optimizer.grad_clip,
        )
        apply_schedule(self.state.optimizers, t.optimizer, step, t.steps)
        self.stats.add(self.state.model.train_step(real, ctx, self.state.optimizers), step)

    def read_stats(self, step: int) -> dict[str, float]:
        """The means of the statistics since the last read (one host synchronisation);
        refuses to go on when one of them is NaN/inf, before anything is saved."""
        first = self.stats.first_step
        logs = self.stats.read()
        bad = non_finite(logs)
        if bad:
            last = self.ckpt.last_path or "none (no checkpoint written yet)"
            detail = ", ".join(f"{k}={v}" for k, v in bad.items())
            span = f"step {step}" if first in (None, step - 1) else f"steps {first + 1}-{step}"
            raise UserError(
                f"training diverged in {span} ({detail}); the last good checkpoint is "
                f"{last}; {self.state.model.divergence_hint()}"
            )
        for name, opt in self.state.optimizers.items():
            logs[f"lr_{name}"] = opt.param_groups[0]["lr"]
        return logs

    def _show(self, logs: dict[str, float]) -> str:
        keys = self.state.model.progress_keys() or tuple(logs)[:2]
        return " ".join(f"{k} {logs[k]:.3f}" for k in keys if k in logs)

    def run(self) -> TrainResult:
        t, state = self.exp.training, self.state
        status, stopped = "FAILED", "finished"
        try:
            self.tracker = start_run(self.exp, state, self.info, self.ckpt, len(self.train_idx))
            batches, t0 = self._batches(), time.time()
            with _StopFlag() as flag, self._progress() as bar:
                task = bar.add_task("train", total=t.steps, completed=state.step, info="")
                for c in self.callbacks:
                    c.on_start(self)
                while state.step < t.steps:
                    self._step(next(batches).to(self.device, non_blocking=True), state.step)
                    state.step += 1
                    state.images_seen += t.batch_size
                    stopping = flag.reason or (t.time_limit_s and time.time() - t0 > t.time_limit_s)
                    logs: dict[str, float] = {}
                    if stopping or any(c.needs_stats(self, state.step) for c in self.callbacks):
                        logs = self.read_stats(state.step)
                        bar.update(task, info=self._show(logs))
                    bar.update(task, completed=state.step)
                    for c in self.callbacks:
                        c.on_step(self, state.step, logs)
                    if stopping:
                        stopped = flag.reason or "time limit"
                        break
            if self.stats.pending:  # nothing unchecked is saved
                self.read_stats(state.step)
            dist.check_consistency(state.model, self.info, f"at step {state.step}")
            if self.info.is_main:
                self.ckpt.save(state.step, state)
                if self.tracker:  # an outage: give the server a chance before the end
                    self.tracker.settle(self.exp.tracking.end_wait_s)
                for c in self.callbacks:
                    c.on_end(self, state.step, stopped)
                if stopped != "finished" and self.tracker:
                    self.tracker.set_tags({"gensemble.stopped": stopped})
            status = "FINISHED" if stopped == "finished" else "KILLED"
        finally:
            if self.tracker:
                self.tracker.end(status)
                if self.tracker.is_down:
                    leave_for_sync(self.exp, self.ckpt, status, stopped)
            if status == "FINISHED":
                dist.barrier(self.info)
            dist.shutdown(self.info)
        if stopped != "finished" and self.info.is_main:
            LOG.warning(
                f"stopped at step {state.step} ({stopped}); "
                f"resume from {self.ckpt.run_id or self.ckpt.last_path}"
            )
        return TrainResult(
            self.ckpt.run_id,
            self.ckpt.run_dir,
            state.step,
            self.ckpt.last_path,
            self.ckpt.best_path,
            self.last_eval,
            stopped,
        )


def train(exp: Experiment, resume: str | None = None) -> TrainResult:
    return Trainer(exp, resume).run()


__all__ = ["TrainResult", "Trainer", "train"]
