"""The training loop: any registered architecture on any domain's store.

Rank 0 tracks (MLflow) and writes checkpoints; every rank trains on its slice of each
global batch.  Losses that turn NaN/inf stop the run before anything is saved, so the last
checkpoint on disk is the last good one.  SIGTERM/SIGINT (SLURM's warning before the
wall-clock limit) and ``training.time_limit_s`` end the run with a checkpoint.
An ``init:`` section starts the run from another run's checkpoint (:mod:`.transfer`), and
a finished run registers its generator in the MLflow model registry (:mod:`.registry`).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gensemble import __version__
from gensemble.core.config import Experiment, flatten
from gensemble.core.errors import UserError, one_line
from gensemble.core.model_api import BatchRandom, GenerativeModel, StepContext
from gensemble.core.registry import get_registry
from gensemble.core.tracking import TAG_ARCH, TAG_DOMAIN, TAG_MODEL, Tracker, warn
from gensemble.data.loader import StoreDataset, ThreadedLoader, check_quality, split_indices
from gensemble.data.store import Store
from gensemble.evaluation.context import EvalContext
from gensemble.evaluation.runner import build_metrics, run_metrics, save_result
from gensemble.training import distributed as dist
from gensemble.training import lineage, registry, transfer
from gensemble.training.checkpoint import (
    link_checkpoint,
    load_checkpoint,
    optimizer_meta,
    optimizer_tensors,
    read_metadata,
    restore_optimizer,
    save_checkpoint,
)
from gensemble.training.models import TAG_RUN_DIR, check_architecture, model_tensors
from gensemble.training.sampler import GlobalBatchSampler
from gensemble.training.samples import sample_figure


@dataclass
class TrainResult:
    run_id: str | None
    run_dir: Path
    step: int
    last_checkpoint: Path | None
    best_checkpoint: Path | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    stopped: str = "finished"


def pick_device(name: str, info: dist.DistInfo) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", info.local_rank)
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"training.device={name} but no CUDA device is available")
    return torch.device(name)


def open_store(exp: Experiment) -> Store:
    if exp.data.store is None:
        raise UserError("data.store is not set: prepare a store with `gensemble data prepare`")
    path = Path(exp.data.store)
    if not path.exists():
        raise UserError(f"data.store {path} does not exist")
    store = Store(path)
    if store.domain != exp.domain.name:
        raise UserError(
            f"data.store {path} holds domain {store.domain!r} but the experiment names "
            f"domain {exp.domain.name!r}"
        )
    domain = get_registry().get("domain", exp.domain.name)(exp.domain.options)
    want_vars, want_shape = [v.name for v in domain.variables()], tuple(domain.grid().shape)
    if store.variable_names != want_vars or tuple(store.shape[1:]) != want_shape:
        have = f"{','.join(store.variable_names)} on {store.shape[1]}x{store.shape[2]}"
        want = f"{','.join(want_vars)} on {want_shape[0]}x{want_shape[1]}"
        raise UserError(
            f"data.store {path} holds {have} but domain {exp.domain.name} with the "
            f"experiment's options gives {want}; set domain.options to the store's "
            f"{store.domain_options} or prepare the store with the same --opt values"
        )
    return store


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
    def __init__(
        self,
        exp: Experiment,
        resume: str | None = None,
    ) -> None:
        self.exp = exp
        self.info = dist.from_env()
        self.device = pick_device(exp.training.device, self.info)
        dist.init(self.info, self.device)
        t = exp.training
        if t.batch_size % self.info.world:
            raise UserError(
                f"training.batch_size={t.batch_size} is not divisible by {self.info.world} ranks"
            )
        self.store = open_store(exp)
        check_quality(self.store, t.allow_masked)
        self.variables = self.store.variable_names
        self.shape = [len(self.variables), *self.store.shape[1:]]
        self.normalizer = self.store.normalizer()
        self.train_idx, self.val_idx = split_indices(
            self.store.n_samples, exp.data.val_fraction, t.seed
        )
        if len(self.train_idx) < t.batch_size:
            raise UserError(
                f"{len(self.train_idx)} training samples in {exp.data.store} are fewer than "
                f"training.batch_size={t.batch_size}"
            )
        self.metrics = build_metrics(exp.metrics)
        self.start_step = 0
        self.images_seen = 0
        self.resume_tensors: dict[str, torch.Tensor] | None = None
        self.resume_meta: dict[str, Any] | None = None
        if resume:
            from gensemble.training.models import resolve_checkpoint

            path = resolve_checkpoint(resume, exp.tracking.uri, exp.tracking.experiment)
            check_architecture(path, exp.architecture.name)
            self.resume_tensors, self.resume_meta = load_checkpoint(path)
            self.resume_path = path
            if self.resume_meta["shape"] != self.shape:
                raise UserError(
                    f"{path}: checkpoint shape {self.resume_meta['shape']} differs from the "
                    f"store's {self.shape}; use init.from to transfer to another domain"
                )
            self.start_step = int(self.resume_meta["step"])
            self.images_seen = int(self.resume_meta.get("images_seen", 0))
            if self.start_step >= t.steps:
                raise UserError(
                    f"{path} is at step {self.start_step}, training.steps={t.steps}: nothing to do"
                )
        torch.manual_seed(t.seed)
        plugin = get_registry().get("architecture", exp.architecture.name)(exp.architecture.options)
        self.model: GenerativeModel = plugin.build(*self.shape)
        self.init_report: dict[str, Any] = {}
        if self.resume_meta is not None:
            self.init_report = self.resume_meta.get("init") or {}
            transfer.reapply_freezing(self.model, self.init_report)
        elif exp.init is not None:
            self.init_report = transfer.initialise(
                self.model,
                exp.init,
                exp.architecture.name,
                exp.architecture.options,
                self.variables,
                self.shape,
                exp.tracking.uri,
                exp.tracking.experiment,
            )
            if self.info.is_main:
                for line in transfer.summary_lines(self.init_report, exp.domain.name):
                    print(line, file=sys.stderr, flush=True)
        self.model.to(self.device)
        self.optimizers = self.model.make_optimizers(t.lr_g, t.lr_d, tuple(t.betas))
        transfer.scale_transferred_lr(self.optimizers, self.model, self.init_report)
        self.rand = BatchRandom(t.seed + 1, self.info.rank, self.info.world, self.device)
        if self.resume_meta is not None:
            self._restore()
        else:
            dist.broadcast_module(self.model, self.info)
        self.run_id: str | None = None
        self.run_dir: Path = Path(exp.output_dir)
        self.tracker: Tracker | None = None
        self.best_value: float | None = None
        self.best_path: Path | None = None
        self.last_path: Path | None = self.resume_path if self.resume_meta is not None else None

    # -- state ------------------------------------------------------------------------------
    def _restore(self) -> None:
        assert self.resume_tensors is not None and self.resume_meta is not None
        tensors = self.resume_tensors
        self.model.load_state_dict(
            {k: v.to(self.device) for k, v in model_tensors(tensors).items()}, strict=True
        )
        for name, opt in self.optimizers.items():
            restore_optimizer(opt, f"optim.{name}", tensors, self.resume_meta["optimizers"][name])
        self.rand.set_state(tensors["rng.batch"])
        self.best_value = self.resume_meta.get("best_value")

    def checkpoint_meta(self, step: int) -> dict[str, Any]:
        e = self.exp
        return {
            "version": __version__,
            "step": step,
            "images_seen": self.images_seen,
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "architecture": {"name": e.architecture.name, "options": e.architecture.options},
            "domain": {"name": e.domain.name, "options": e.domain.options},
            "grid": self.store.grid.to_attrs(),
            "variables": self.variables,
            "units": [v.units for v in self.store.variables],
            "shape": self.shape,
            "normalizer": self.normalizer.state()[1],
            "optimizers": {k: optimizer_meta(o) for k, o in self.optimizers.items()},
            "experiment": e.model_dump(mode="json", by_alias=True),
            "world_size": self.info.world,
            "best_value": self.best_value,
            "init": self.init_report or None,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def save(self, step: int, name: str | None = None) -> Path:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        for opt_name, opt in self.optimizers.items():
            tensors.update(optimizer_tensors(f"optim.{opt_name}", opt))
        tensors.update(self.normalizer.state()[0])
        tensors["rng.batch"] = self.rand.get_state()
        folder = self.run_dir / "checkpoints"
        path = save_checkpoint(
            folder / f"step_{step:07d}.safetensors", tensors, self.checkpoint_meta(step)
        )
        self.last_path = link_checkpoint(path, folder / "last.safetensors")
        if name:
            path = link_checkpoint(path, folder / f"{name}.safetensors")
        self._prune(folder)
        return path

    def _prune(self, folder: Path) -> None:
        steps = sorted(folder.glob("step_*.safetensors"))
        for old in steps[: -self.exp.training.keep_checkpoints]:
            old.unlink(missing_ok=True)

    # -- tracking ---------------------------------------------------------------------------
    def _start_tracking(self) -> None:
        e = self.exp
        if self.resume_meta is not None:
            self.run_id = self.resume_meta.get("run_id")
            self.run_dir = Path(self.resume_meta["run_dir"])
        if not self.info.is_main:
            return
        tracker = Tracker(e.tracking.uri, e.tracking.experiment, journal_dir=None)
        tags = {TAG_DOMAIN: e.domain.name, TAG_ARCH: e.architecture.name}
        tags.update(lineage.tags_for(self.init_report))
        if self.run_id:
            tracker.start(run_id=self.run_id)
            tracker.set_tags({"gensemble.resumed_at_step": str(self.start_step)})
        else:
            self.run_id = tracker.start(e.tracking.run_name, tags)
            self.run_dir = Path(e.output_dir) / self.run_id
            tracker.set_tags({TAG_RUN_DIR: str(self.run_dir.resolve())})
            params = flatten(e.model_dump(mode="json", by_alias=True))
            params.update({"world_size": self.info.world, "data.n_train": len(self.train_idx)})
            tracker.log_params(params)
        tracker.journal = self.run_dir / "metrics.jsonl"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.tracker = tracker
        if self.init_report and self.start_step == 0:
            report = self.run_dir / "transfer.json"
            report.write_text(json.dumps(self.init_report, indent=1))
            tracker.log_artifact(report)

    def _broadcast_run(self) -> None:
        """Every rank needs the run folder (only rank 0 writes into it)."""
        if self.info.world == 1:
            return
        import torch.distributed as tdist

        obj = [self.run_id, str(self.run_dir)]
        tdist.broadcast_object_list(obj, 0)
        self.run_id, self.run_dir = obj[0], Path(obj[1])

    def _register(self) -> None:
        """A finished run's generator becomes a new version in the model registry."""
        assert self.tracker is not None and self.run_id is not None
        e = self.exp
        name = e.tracking.model_name or registry.default_model_name(
            e.domain.name, e.architecture.name
        )
        which = "best" if self.best_path else "last"
        meta = read_metadata(self.best_path or self.last_path)
        try:
            version = registry.register_run(self.tracker.client, self.run_id, name, which, meta)
        except Exception as exc:  # the checkpoints are safe; `gensemble register` redoes this
            warn(
                f"could not register the model {name!r}: {one_line(exc)[:200]}; "
                f"run `gensemble register {self.run_id}` later"
            )
            return
        uri = f"models:/{name}/{version}"
        self.tracker.set_tags({TAG_MODEL: uri})
        print(f"registered {uri}", file=sys.stderr, flush=True)

    # -- evaluation -------------------------------------------------------------------------
    def real_samples(self, n: int) -> torch.Tensor:
        pool = self.val_idx if len(self.val_idx) else self.train_idx
        idx = pool[: min(n, len(pool))]
        x = torch.from_numpy(self.store.read(np.sort(idx)))
        return torch.nan_to_num(x) if self.exp.training.allow_masked else x

    def fake_samples(self, n: int, seed: int = 12345) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        out = []
        for start in range(0, n, 16):
            x = self.model.generate(min(16, n - start), g, 1.0, self.device)
            out.append(self.normalizer.inverse(x.cpu()))
        return torch.cat(out)

    def evaluate(self, step: int) -> dict[str, float]:
        if not self.metrics or not self.info.is_main:
            return {}
        n = self.exp.training.eval_samples
        real, fake = self.real_samples(n), self.fake_samples(n)
        ctx = EvalContext(self.variables, self.store.grid.spacing_m()[0], "cpu", 0, True)
        result, _ = run_metrics(self.metrics, real, fake, ctx)
        values = result.finite_scalars()
        if self.tracker:
            self.tracker.log_metrics({f"eval/{k}": v for k, v in values.items()}, step)
            for f in save_result(result, self.run_dir / "eval" / f"step_{step:07d}"):
                self.tracker.log_artifact(f, f"eval/step_{step:07d}")
        return values

    def sample_figure(self, step: int) -> None:
        if not self.info.is_main or self.tracker is None:
            return
        real, fake = self.real_samples(3), self.fake_samples(3)
        fig = sample_figure(real.numpy(), fake.numpy(), self.variables)
        path = self.run_dir / "samples" / f"step_{step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80)
        import matplotlib.pyplot as plt

        plt.close(fig)
        self.tracker.log_artifact(path, "samples")

    def _keep_best(self, step: int, values: dict[str, float]) -> None:
        key = self.exp.training.keep_best_by
        if not key or not values:
            return
        if key not in values:
            raise UserError(
                f"training.keep_best_by={key!r} is not a computed metric; "
                f"available: {', '.join(sorted(values))}"
            )
        if self.best_value is None or values[key] < self.best_value:
            self.best_value = values[key]
            self.best_path = self.save(step, "best")

    # -- loop -------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        e, t = self.exp, self.exp.training
        self._start_tracking()
        self._broadcast_run()
        dataset = StoreDataset(Path(e.data.store), self.train_idx, self.normalizer, t.allow_masked)
        sampler = GlobalBatchSampler(
            len(self.train_idx),
            t.batch_size,
            self.info.rank,
            self.info.world,
            t.seed,
            self.start_step,
        )
        batches = (
            iter(ThreadedLoader(dataset, sampler, t.num_workers))
            if t.num_workers > 0
            else (dataset.__getitems__(items) for items in sampler)
        )
        step = self.start_step
        t0 = time.time()
        window = (time.time(), step)
        stopped = "finished"
        values: dict[str, float] = {}
        status = "FINISHED"
        progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            disable=not self.info.is_main,
        )
        try:
            with _StopFlag() as flag, progress:
                task = progress.add_task("train", total=t.steps, completed=step, info="")
                if t.eval_every and step == 0:
                    self.evaluate(0)  # where the run starts from (compare transfer/scratch)
                while step < t.steps:
                    real = next(batches).to(self.device, non_blocking=True)
                    ctx = StepContext(
                        step=step,
                        rand=self.rand,
                        global_batch=t.batch_size,
                        sync=lambda m: dist.sync_grads(m, self.info),
                        reduce=lambda x: dist.reduce_sum(x, self.info),
                        amp=t.amp,
                    )
                    logs = self.model.train_step(real, ctx, self.optimizers)
                    bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
                    if bad:
                        last = self.last_path or "none (no checkpoint written yet)"
                        detail = ", ".join(f"{k}={v}" for k, v in bad.items())
                        status = "FAILED"
                        raise UserError(
                            f"training diverged at step {step} ({detail}); the last good "
                            f"checkpoint is {last}; lower the learning rates or raise r1_gamma"
                        )
                    step += 1
                    self.images_seen += t.batch_size
                    progress.update(
                        task,
                        completed=step,
                        info=f"G {logs['loss_G']:.3f} D {logs.get('loss_D', 0):.3f}",
                    )
                    if self.tracker and (step % t.log_every == 0 or step == t.steps):
                        now = time.time()
                        rate = (step - window[1]) * t.batch_size / max(now - window[0], 1e-9)
                        window = (now, step)
                        logs.update(
                            {
                                "images_per_s": rate,
                                "lr_G": self.optimizers["G"].param_groups[0]["lr"],
                                "lr_D": self.optimizers["D"].param_groups[0]["lr"],
                                "kimg": self.images_seen / 1000,
                            }
                        )
                        self.tracker.log_metrics(logs, step)
                    if t.sample_every and step % t.sample_every == 0:
                        self.sample_figure(step)
                    if t.eval_every and step % t.eval_every == 0 and step < t.steps:
                        values = self.evaluate(step)
                        self._keep_best(step, values)
                    if self.info.is_main and step % t.checkpoint_every == 0 and step < t.steps:
                        self.save(step)
                    if flag.reason or (t.time_limit_s and time.time() - t0 > t.time_limit_s):
                        stopped = flag.reason or "time limit"
                        break
            if self.info.is_main:
                self.save(step)
                if step == t.steps or stopped != "finished":
                    self.sample_figure(step)
                if self.metrics and step == t.steps:
                    values = self.evaluate(step)
                    self._keep_best(step, values)
                if self.tracker:
                    self.tracker.log_artifact(self.last_path, "checkpoints")
                    if self.best_path:
                        self.tracker.log_artifact(self.best_path, "checkpoints")
                    if stopped != "finished":
                        self.tracker.set_tags({"gensemble.stopped": stopped})
                        status = "KILLED"
                    elif e.tracking.register_model:
                        self._register()
        except BaseException:
            if status == "FINISHED":
                status = "FAILED"
            raise
        finally:
            if self.tracker:
                self.tracker.end(status)
            dist.barrier(self.info) if status == "FINISHED" else None
            dist.shutdown(self.info)
        if stopped != "finished" and self.info.is_main:
            warn(
                f"stopped at step {step} ({stopped}); "
                f"resume with --resume {self.run_id or self.last_path}"
            )
        return TrainResult(
            self.run_id, self.run_dir, step, self.last_path, self.best_path, values, stopped
        )


def train(exp: Experiment, resume: str | None = None) -> TrainResult:
    return Trainer(exp, resume).run()


__all__ = ["train", "Trainer", "TrainResult"]
