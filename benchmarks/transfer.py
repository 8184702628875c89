"""Transfer learning benchmark: se_france -> nordic against training from scratch.

1. Synthetic stores (same physics, so the domains share structure): se_france with
   rr, u10, v10, t2m; nordic on another grid size without rr.
2. One source run on se_france, then for each seed a scratch run and a transfer run on
   nordic with the same step budget, evaluated at the same steps (step 0 included).
3. Prints medians over seeds of the evaluation metrics, and transfer / scratch ratios.
4. Times the adaptation of a full-size (default options, 256x256x4) checkpoint to a
   128x192x3 grid against building that model (the reference).

    python benchmarks/transfer.py [--source 64x64] [--target 48x80] [--source-steps 150]
                                  [--steps 60] [--seeds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from _timing import median_time  # noqa: E402

from gensemble.core.config import build_experiment  # noqa: E402
from gensemble.inference.loaded import build_model  # noqa: E402
from gensemble.inference.metadata import CheckpointMeta, PluginSpec  # noqa: E402
from gensemble.training import transfer  # noqa: E402
from gensemble.training.loop import Trainer  # noqa: E402

ARCH = {
    "z_dim": 32,
    "w_dim": 32,
    "mapping_layers": 2,
    "channel_base": 512,
    "channel_max": 32,
    "r1_interval": 4,
    "pl_interval": 4,
}
METRICS = ["eval/swd/mean", "eval/w1_mean/u10", "eval/w1_mean/v10", "eval/w1_mean/t2m"]


def cli(*args: object) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gensemble", *map(str, args)], capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(done.stderr)


def make_store(d: Path, domain: str, opts: list[str]) -> Path:
    o = [a for x in opts for a in ("--opt", x)]
    raw, store = d / f"{domain}.nc", d / f"{domain}.zarr"
    cli("data", "synth", "--domain", domain, "-n", "96", "--members", "8", "--out", raw, *o)
    cli("data", "prepare", raw, "--domain", domain, "--out", store, *o)
    return store


def experiment(d: Path, domain: dict, store: Path, steps: int, seed: int, init: dict | None):
    cfg = {
        "domain": domain,
        "architecture": {"name": "stylegan2", "options": ARCH},
        "training": {
            "steps": steps,
            "batch_size": 8,
            "seed": seed,
            "checkpoint_every": 10_000,
            "log_every": 10,
            "eval_every": max(steps // 3, 1),
            "eval_samples": 64,
        },
        "metrics": ["swd", "w1"],
        "data": {"store": str(store)},
        "tracking": {"uri": f"sqlite:///{d}/mlflow.db", "experiment": "bench-transfer"},
        "output_dir": str(d / "runs"),
    }
    if init:
        cfg["init"] = init
    return build_experiment(cfg, "<benchmark>")


def curves(d: Path, run_id: str) -> dict[str, dict[int, float]]:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{d}/mlflow.db")
    return {k: {m.step: m.value for m in client.get_metric_history(run_id, k)} for k in METRICS}


def adaptation_timing(repeats: int) -> None:
    torch.manual_seed(0)
    src = build_model("stylegan2", {}, [4, 256, 256])
    meta = CheckpointMeta.model_construct(
        architecture=PluginSpec(name="stylegan2", options={}),
        shape=[4, 256, 256],
        variables=["rr", "u10", "v10", "t2m"],
    )
    state = {k: v.clone() for k, v in src.state_dict().items()}
    n = sum(v.numel() for v in state.values())

    def build() -> object:
        return build_model("stylegan2", {}, [3, 128, 192])

    t_build = median_time(build, repeats, 1)
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        target = build()
        t0 = time.perf_counter()
        transfer.adapt_state(target, ["u10", "v10", "t2m"], state, meta)
        times.append(time.perf_counter() - t0)
    t_adapt = statistics.median(times[1:])
    print(
        f"adapting a default stylegan2 checkpoint ({n / 1e6:.1f} M values, 4x256x256 -> "
        f"3x128x192): {t_adapt * 1e3:.0f} ms; building that model (reference): "
        f"{t_build * 1e3:.0f} ms; ratio {t_adapt / t_build:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default="64x64")
    ap.add_argument("--target", default="48x80")
    ap.add_argument("--source-steps", type=int, default=150)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--adapt-only", action="store_true", help="only time the adaptation")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sy, sx = (int(v) for v in args.source.split("x"))
    ty, tx = (int(v) for v in args.target.split("x"))
    adaptation_timing(args.repeats)
    if args.adapt_only:
        return
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        se = {"name": "se_france", "options": {"ny": sy, "nx": sx}}
        no = {"name": "nordic", "options": {"ny": ty, "nx": tx, "variables": ["u10", "v10", "t2m"]}}
        se_store = make_store(d, "se_france", [f"ny={sy}", f"nx={sx}"])
        no_store = make_store(d, "nordic", [f"ny={ty}", f"nx={tx}", "variables=[u10,v10,t2m]"])
        t0 = time.perf_counter()
        source = Trainer(experiment(d, se, se_store, args.source_steps, 0, None)).run()
        print(
            f"source: se_france {sy}x{sx} x4 variables, {args.source_steps} steps "
            f"in {time.perf_counter() - t0:.0f} s"
        )
        results: dict[str, list[dict[str, dict[int, float]]]] = {"scratch": [], "transfer": []}
        seconds: dict[str, list[float]] = {"scratch": [], "transfer": []}
        for seed in range(args.seeds):
            for kind, init in (("scratch", None), ("transfer", {"from": source.run_id})):
                t0 = time.perf_counter()
                run = Trainer(experiment(d, no, no_store, args.steps, seed + 1, init)).run()
                seconds[kind].append(time.perf_counter() - t0)
                results[kind].append(curves(d, run.run_id))
    print(
        f"target: nordic {ty}x{tx} x3 variables (no rr), {args.steps} steps, "
        f"medians over {args.seeds} seeds"
    )
    print(
        f"wall time per run: scratch {statistics.median(seconds['scratch']):.1f} s, "
        f"transfer {statistics.median(seconds['transfer']):.1f} s"
    )
    print(f"{'metric':20s} {'step':>5s} {'scratch':>10s} {'transfer':>10s} {'ratio':>7s}")
    for key in METRICS:
        steps = sorted(results["scratch"][0][key])
        for step in steps:
            a = statistics.median(c[key][step] for c in results["scratch"])
            b = statistics.median(c[key][step] for c in results["transfer"])
            print(f"{key[5:]:20s} {step:5d} {a:10.4g} {b:10.4g} {b / a:7.3f}")


if __name__ == "__main__":
    main()
