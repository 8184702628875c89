"""Scoring one event: 24 lead times, 16 raw and 120 enriched members, 256x256 points.

Times gensemble's scores (``gensemble.evaluation.ensemble_scores``, the one implementation
the metric plugins, events and enrichment share: fair CRPS from sorted members,
exceedance probabilities, Brier, ROC area by mid-ranks, rank histogram, FSS) against the
same scores computed the plain numpy way the field's verification scripts use (CRPS from
all member pairs, ROC from a sweep of probability thresholds), on the same synthetic
fields, as medians over --repeats; prints both and the ratio.  The scores agree.  Then
the 95 % intervals: sufficient statistics plus --bootstrap replicates
(``gensemble.events.resampling``) against recomputing the scores on every resampled set.

    python benchmarks/events.py [--cases 24] [--raw 16] [--enriched 120] [--size 256]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _timing import median_time  # noqa: E402

from gensemble.evaluation import ensemble_scores as sc  # noqa: E402
from gensemble.events import resampling as rs  # noqa: E402


def ours(ens: np.ndarray, obs: np.ndarray, t: float, rng: np.random.Generator) -> dict:
    p, o = sc.exceedance(ens, obs, t)
    return {
        "crps": float(sc.fair_crps(ens, obs).mean()),
        "brier": float(sc.brier(p, o).mean()),
        "roc": sc.roc_area(p, o),
        "ranks": sc.rank_histogram(ens, obs, 0),
    }


def plain(ens: np.ndarray, obs: np.ndarray, t: float, rng: np.random.Generator) -> dict:
    """Case by case, member pairs, threshold sweeps."""
    k, n, _ = ens.shape
    crps = []
    for i in range(k):
        e, y = ens[i], obs[i]
        skill = np.abs(e - y).mean(axis=0)
        pairs = np.zeros_like(y)
        for a in range(n):
            pairs += np.abs(e[a] - e).sum(axis=0)
        crps.append((skill - pairs / (2 * n * (n - 1))).mean())
    p = (ens > t).mean(axis=1)
    o = (obs > t).astype(float)
    hits, fars = [], []
    for level in np.linspace(0, 1, n + 1)[::-1]:
        yes = p >= level - 1e-9
        hits.append((yes & (o > 0)).sum() / max((o > 0).sum(), 1))
        fars.append((yes & (o == 0)).sum() / max((o == 0).sum(), 1))
    ranks = np.zeros(n + 1, int)
    for i in range(k):
        r = (ens[i] < obs[i]).sum(axis=0)
        ranks += np.bincount(r.ravel(), minlength=n + 1)
    return {
        "crps": float(np.mean(crps)),
        "brier": float(((p - o) ** 2).mean()),
        "roc": float(np.trapezoid(hits, fars)),
        "ranks": ranks,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--raw", type=int, default=16)
    ap.add_argument("--enriched", type=int, default=120)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bootstrap", type=int, default=200, help="replicates of the intervals")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    p = args.size * args.size
    centre = rng.gamma(0.6, 3.0, size=(args.cases, 1, p)).astype(np.float32)
    obs = (centre[:, 0] * rng.lognormal(0, 0.4, (args.cases, p))).astype(np.float32)
    print(f"{args.cases} cases x {args.size}x{args.size} points, threshold 5 mm/h")
    for label, n in (("raw", args.raw), ("enriched", args.enriched)):
        ens = (centre * rng.lognormal(0, 0.4, (args.cases, n, p))).astype(np.float32)
        a, b = ours(ens, obs, 5.0, rng), plain(ens, obs, 5.0, rng)
        assert abs(a["crps"] - b["crps"]) < 1e-3 * abs(b["crps"])
        assert abs(a["brier"] - b["brier"]) < 1e-6 + 1e-4 * b["brier"]
        t_ours = median_time(lambda e=ens: ours(e, obs, 5.0, rng), args.repeats, 0)
        t_plain = median_time(lambda e=ens: plain(e, obs, 5.0, rng), args.repeats, 0)
        print(
            f"{label:9s} ({n:3d} members): gensemble {t_ours:6.2f} s, plain numpy {t_plain:7.2f} s"
            f" -> {t_plain / t_ours:5.1f}x   (CRPS {a['crps']:.4f}, ROC {a['roc']:.3f} "
            f"vs swept {b['roc']:.3f})"
        )
        # intervals: per-case sums once, then cheap replicates over blocks of cases, against
        # the usual recomputation of every score on resampled cases (timed on 2
        # replicates, the total for --bootstrap replicates extrapolated from them)
        blocks = np.arange(args.cases) // 6

        def intervals(e=ens, blocks=blocks) -> None:
            s = rs.sufficient(e, obs, 5.0)
            rs.bootstrap_scores({"x": s}, blocks, "x", args.bootstrap, rng)

        def one_plain_replicate(e=ens, n=n) -> None:
            cases = rng.integers(0, args.cases, args.cases)
            plain(e[cases], obs[cases], 5.0, rng)

        t_int = median_time(intervals, 1, 0)
        t_rep = median_time(one_plain_replicate, 2, 0)
        total = t_rep * args.bootstrap
        print(
            f"{'':9s} {args.bootstrap} bootstrap replicates: gensemble {t_int:6.2f} s, plain "
            f"{t_rep:6.2f} s/replicate = {total:8.1f} s -> {total / t_int:6.1f}x"
        )


if __name__ == "__main__":
    main()
