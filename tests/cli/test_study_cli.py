"""``gensemble study`` end to end: on a synthetic system with its own (tiny) generator,
tracked in MLflow as a parent run with a child per ensemble; on a real-layout store with
a held-out member as truth; and user mistakes in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, assert_user_error, run_cli, synth_store

CKPT = ROOT / "tests" / "fixtures" / "checkpoints" / "stylegan2-format2.safetensors"
TINY_ARCH = {
    "name": "stylegan2",
    "options": {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64, "channel_max": 8},
}


def _write(tmp: Path, cfg: dict) -> Path:
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_study_on_a_system_trains_scores_reports_and_tracks(tmp_path: Path) -> None:
    cfg = {
        "name": "tiny",
        "system": {"size": 16, "dates": 14, "members": 5, "seed": 1},
        "splits": {"train": 6, "calibrate": 2, "test": 6},
        "inputs": 4,
        "n": 12,
        "methods": [
            {"name": "enriched"},
            {"name": "const", "noise": "const", "hybrid": False},
            {"name": "cond", "kind": "conditional"},
            {"name": "post", "kind": "conditional", "truth_fraction": 1.0, "hybrid": False},
        ],
        "model": {"architecture": TINY_ARCH, "training": {"steps": 6, "batch_size": 4}},
        "conditional_model": {
            "architecture": {
                "name": "stylegan2_cond",
                "options": {**TINY_ARCH["options"], "condition_channels": 8},
            },
            "training": {"steps": 4, "batch_size": 4},
        },  # fmt: skip
        "inversion": {"steps": 6},
        "calibration": {"n": 8, "evals": 4},
        "bootstrap": 50,
        "quality_samples": 32,
        "output": str(tmp_path / "out"),
        "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "studies"},
    }
    proc = run_cli("study", _write(tmp_path, cfg))
    assert proc.returncode == 0, proc.stderr
    assert "enriched vs resample:" in proc.stdout and "share of the raw-to-oracle" in proc.stdout
    record = json.loads((tmp_path / "out" / "study.json").read_text())
    assert record["reference"] == "raw-4" and record["oracle"] == "oracle-12"
    assert record["generator_run"] and not record["notes"]
    # conditional methods: their own generators, nothing calibrated, N members from seeds
    assert {"cond", "cond:hybrid", "post"} <= set(record["ensembles"])
    assert record["ensembles"]["cond"] == 12 and record["ensembles"]["cond:hybrid"] == 12
    gens = record["conditional_generators"]
    assert set(gens) == {"cond", "post"} and gens["post"]["truth_fraction"] == 1.0
    assert {c["name"]: c["objective"] for c in record["calibration"]}["post"] == (
        "none (conditional)"
    )
    assert "cond vs resample:" in proc.stdout
    # the generator saw the 6 train dates' members only
    train = (tmp_path / "out" / "train.zarr").resolve()
    from gensemble.data.store import Store

    assert Store(train).n_samples == 6 * 5
    html = (tmp_path / "out" / "study.html").read_text()
    assert "Synthetic system mesoscale" in html and "data:image/png;base64" in html

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    exp = client.get_experiment_by_name("studies")
    runs = client.search_runs([exp.experiment_id])
    parent = [r for r in runs if r.data.tags.get("gensemble.kind") == "study"]
    assert len(parent) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent[0].info.run_id]
    assert {r.data.params["ensemble"] for r in children} == set(record["ensembles"])
    enriched = next(r for r in children if r.data.params["ensemble"] == "enriched")
    assert "rr/crps" in enriched.data.metrics and "diff/t2m/brier_q99" in enriched.data.metrics
    assert "study/study.html" in [
        f.path for f in client.list_artifacts(parent[0].info.run_id, "study")
    ]


def test_study_on_a_store_holds_a_member_out_as_truth(tmp_path: Path) -> None:
    opts = ["ny=16", "nx=24"]
    _, store = synth_store(tmp_path, "arch", "se_france", opts, n=5 * 12, members=5)
    cfg = {
        "store": {"path": str(store)},
        "splits": {"train": 4, "calibrate": 2, "test": 6},
        "inputs": 4,
        "n": 8,
        "methods": [{"name": "enriched", "hybrid": False}],
        "model": {"ref": str(CKPT)},
        "inversion": {"steps": 4},
        "calibration": {"n": 8, "evals": 3},
        "bootstrap": 30,
        "quality_samples": 16,
        "output": str(tmp_path / "out"),
    }
    proc = run_cli("study", _write(tmp_path, cfg), "--no-tracking")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "out" / "study.json").read_text())
    assert record["oracle"] is None and "oracle-8" not in record["ensembles"]
    assert record["source"]["truth"] == "held-out member"
    assert any("reliable by construction" in n for n in record["notes"])
    # too few members for the inputs and a truth: refused in one line
    proc = run_cli("study", _write(tmp_path, cfg | {"inputs": 5, "n": 9}), "--no-tracking")
    assert_user_error(proc, "fewer than 6 members")


def test_study_mistakes_are_one_line(tmp_path: Path) -> None:
    proc = run_cli("study", "--set", "bogus=1", "--no-tracking")
    assert_user_error(proc, "bogus")
    days = ["2021-01-01", "2021-01-02", "2021-01-03"]
    cfg = {
        "system": {"size": 16, "dates": 6, "members": 3},
        "splits": {"train": days[:2], "calibrate": days[2:], "test": days[1:]},
        "inputs": 2,
        "n": 4,
        "model": {"ref": str(CKPT)},
        "output": str(tmp_path / "out"),
    }
    assert_user_error(run_cli("study", _write(tmp_path, cfg), "--no-tracking"), "leak")
    # a conditional method needs a conditional architecture: refused before any training
    ok_splits = {"train": 2, "calibrate": 1, "test": 3}
    cond = cfg | {"splits": ok_splits, "methods": [{"name": "c", "kind": "conditional"}],
                  "conditional_model": {"architecture": TINY_ARCH}}  # fmt: skip
    proc = run_cli("study", _write(tmp_path, cond), "--no-tracking")
    assert_user_error(proc, "does not support conditional sampling", "'c'")
    assert not (tmp_path / "out" / "runs").exists()
    bad = cfg | {"splits": ok_splits, "methods": [{"name": "e", "truth_fraction": 0.5}]}
    assert_user_error(run_cli("study", _write(tmp_path, bad), "--no-tracking"), "truth_fraction")
