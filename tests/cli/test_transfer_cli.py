"""Transfer learning from the CLI: se_france -> nordic, lineage, the model registry,
freezing strategies across resume, refusals, and run comparison."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import torch
import yaml
from safetensors.torch import load_file

from gensemble.data.store import Store
from gensemble.inference.checkpoint_io import load_checkpoint, read_metadata, save_checkpoint
from tests.conftest import TINY_ARCH, assert_user_error, run_cli, synth_store

# -- from the command line ----------------------------------------------------------------------
ARCH = {"name": "stylegan2", "options": TINY_ARCH}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """se_france 32x32 with rr, u10, v10, t2m; nordic 24x40 without rr (same synthetic
    physics, so the two domains share structure)."""
    d = tmp_path_factory.mktemp("stores")
    out = {}
    for name, domain, opts in (
        ("se", "se_france", ["ny=32", "nx=32"]),
        ("no", "nordic", ["ny=24", "nx=40", "variables=[u10,v10,t2m]"]),
    ):
        out[name] = synth_store(d, name, domain, opts, 48)[1]
    return out


def write_config(tmp: Path, name: str, domain: dict, store: Path, **training) -> Path:
    cfg = {
        "domain": domain,
        "architecture": ARCH,
        "training": {
            "batch_size": 8,
            "checkpoint_every": 100,
            "log_every": 5,
            "eval_every": 10,
            "eval_samples": 32,
            **training,
        },
        "metrics": ["swd"],
        "data": {"store": str(store)},
        "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db", "experiment": "transfer-test"},
        "output_dir": str(tmp / "runs"),
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_id_of(proc) -> str:  # noqa: ANN001
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("run ")][-1]
    return line.split()[1].rstrip(":")


@pytest.mark.slow
def test_transfer_se_france_to_nordic_from_the_cli(tmp_path: Path, stores: dict[str, Path]) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    se = {"name": "se_france", "options": {"ny": 32, "nx": 32}}
    no = {"name": "nordic", "options": {"ny": 24, "nx": 40, "variables": ["u10", "v10", "t2m"]}}
    src_cfg = write_config(tmp_path, "src", se, stores["se"], steps=40, eval_every=20)
    proc = run_cli("train", src_cfg)
    assert proc.returncode == 0, proc.stderr
    assert "registered models:/se_france-stylegan2/1" in proc.stderr
    src = run_id_of(proc)

    tgt_cfg = write_config(tmp_path, "tgt", no, stores["no"], steps=10)
    scratch = run_cli("train", tgt_cfg)
    assert scratch.returncode == 0, scratch.stderr
    scratch_id = run_id_of(scratch)
    proc = run_cli("transfer", tgt_cfg, "--from", src)
    assert proc.returncode == 0, proc.stderr
    assert "dropped rr" in proc.stderr and "re-created G.const (16, 4, 4)->(16, 6, 10)" in (
        proc.stderr
    )
    moved = run_id_of(proc)

    # the transferred run starts (step 0, before any update) much closer to the data
    def swd(run: str, step: int) -> float:
        hist = client.get_metric_history(run, "eval/swd/mean")
        return next(m.value for m in hist if m.step == step)

    assert swd(moved, 0) < 0.8 * swd(scratch_id, 0), (swd(moved, 0), swd(scratch_id, 0))

    # lineage tags, report, normalisation from the target store
    tags = client.get_run(moved).data.tags
    assert tags["gensemble.parent_run_id"] == src
    assert tags["gensemble.source_domain"] == "se_france"
    assert tags["gensemble.source_step"] == "40" and tags["gensemble.init_strategy"] == (
        "finetune_all"
    )
    ckpt = tmp_path / "runs" / moved / "checkpoints" / "last.safetensors"
    meta = read_metadata(ckpt)
    assert meta.init["variables"] == {
        "kept": ["u10", "v10", "t2m"],
        "new": [],
        "dropped": ["rr"],
    }
    assert meta.domain.name == "nordic" and meta.shape == [3, 24, 40]
    tensors = load_file(str(ckpt))
    target_norm = Store(stores["no"]).normalizer().state()[0]
    for key, value in target_norm.items():
        torch.testing.assert_close(tensors[key], value)
    report = json.loads((tmp_path / "runs" / moved / "transfer.json").read_text())
    assert report["source_run_id"] == src
    assert "transfer.json" in {a.path for a in client.list_artifacts(moved)}

    proc = run_cli("lineage", moved, "--uri", uri)
    assert proc.returncode == 0, proc.stderr
    body = proc.stdout.split("\n", 1)[1]  # below the title, which names the run
    assert src in body and moved in body and body.index(src) < body.index(moved)
    assert "se_france" in proc.stdout and "nordic" in proc.stdout

    out = tmp_path / "cmp.png"
    proc = run_cli(
        "compare", scratch_id, moved, "--uri", uri, "--out", out, "--metrics", "swd/mean"
    )
    assert proc.returncode == 0, proc.stderr
    assert "eval/swd/mean" in proc.stdout and "scratch" in proc.stdout
    assert out.is_file() and out.with_suffix(".csv").is_file()
    rows = out.with_suffix(".csv").read_text().splitlines()
    assert rows[1].startswith("eval/swd/mean,0,") and rows[2].startswith("eval/swd/mean,10,")
    assert "compare" in {a.path for a in client.list_artifacts(moved)}
    assert_user_error(
        run_cli("compare", scratch_id, moved, "--uri", uri, "--metrics", "nope"), "nope"
    )


@pytest.mark.slow
def test_registry_init_freezing_resume_and_refusals(
    tmp_path: Path, stores: dict[str, Path]
) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    se = {"name": "se_france", "options": {"ny": 32, "nx": 32}}
    src_cfg = write_config(tmp_path, "src", se, stores["se"], steps=2, eval_every=0)
    proc = run_cli("train", src_cfg)
    assert proc.returncode == 0, proc.stderr
    src = run_id_of(proc)
    version = client.get_model_version("se_france-stylegan2", "1")
    assert version.run_id == src and version.tags["gensemble.domain"] == "se_france"
    proc = run_cli("register", src, "--uri", uri, "--name", "partner model")
    assert proc.returncode == 0 and "registered models:/partner model/1" in proc.stdout
    assert client.get_model_version("partner model", "1").tags["gensemble.step"] == "2"

    # `init:` in the experiment file, through the model registry, with a freezing strategy
    cfg = yaml.safe_load(
        write_config(
            tmp_path,
            "tgt",
            {"name": "nordic", "options": {"ny": 24, "nx": 40, "variables": ["u10", "v10", "t2m"]}},
            stores["no"],
            steps=2,
            eval_every=0,
        ).read_text()
    )
    cfg["init"] = {
        "from": "models:/se_france-stylegan2/latest",
        "freeze": ["mapping", "d_block:1"],
        "lr_scale_transferred": 0.5,
    }
    tgt_cfg = tmp_path / "tgt_init.yaml"
    tgt_cfg.write_text(yaml.safe_dump(cfg))
    proc = run_cli("train", tgt_cfg)
    assert proc.returncode == 0, proc.stderr
    moved = run_id_of(proc)
    tags = client.get_run(moved).data.tags
    assert tags["gensemble.parent_run_id"] == src
    assert tags["gensemble.source"] == "models:/se_france-stylegan2/latest"
    assert tags["gensemble.init_strategy"] == "freeze=mapping,d_block:1+lr_scale_transferred=0.5"

    source = load_file(str(tmp_path / "runs" / src / "checkpoints" / "last.safetensors"))
    ckpt = tmp_path / "runs" / moved / "checkpoints" / "last.safetensors"
    # a resumed transfer run freezes and scales the same parameters
    proc = run_cli("train", tgt_cfg, "--set", "training.steps=4", "--resume", moved)
    assert proc.returncode == 0, proc.stderr
    tensors, meta = load_checkpoint(ckpt)
    assert meta.step == 4 and len(meta.optimizers["G"]) == 2
    mapping = [k for k in tensors if k.startswith("model.G.mapping.layers.")]
    assert mapping
    for key in mapping:
        torch.testing.assert_close(tensors[key], source[key], atol=0, rtol=0)
    assert not torch.equal(
        tensors["model.G.blocks.1.conv1.conv.weight"], source["model.G.blocks.1.conv1.conv.weight"]
    )

    proc = run_cli("lineage", moved, "--uri", uri)
    # the run's tag names its latest registration (`gensemble register` above)
    assert proc.returncode == 0 and "models:/partner model/1" in proc.stdout

    # without the run's local folder (another machine), the checkpoint comes from MLflow
    from gensemble.inference.resolve import resolve_checkpoint

    (tmp_path / "runs" / src).rename(tmp_path / "elsewhere")
    got = resolve_checkpoint("models:/se_france-stylegan2/1", uri)
    assert got.is_file() and "runs" not in got.parts
    assert read_metadata(got).run_id == src
    stamp = got.stat().st_mtime_ns  # a second resolution reuses the cached download
    assert resolve_checkpoint(src, uri) == got and got.stat().st_mtime_ns == stamp
    (tmp_path / "elsewhere").rename(tmp_path / "runs" / src)

    # refusals: another architecture, shape-changing options, unknown sources
    src_ckpt = tmp_path / "runs" / src / "checkpoints" / "last.safetensors"
    t, m = load_checkpoint(src_ckpt)
    m.architecture.name = "stylegan3"
    foreign = save_checkpoint(tmp_path / "foreign.safetensors", t, m)
    assert_user_error(
        run_cli("transfer", src_cfg, "--from", foreign, "--set", "training.steps=1"),
        "stylegan3",
        "stylegan2",
    )
    assert_user_error(
        run_cli("transfer", src_cfg, "--from", src, "--set", "architecture.options.channel_max=8"),
        "channel_max=16 vs 8",
    )
    assert_user_error(run_cli("transfer", src_cfg, "--from", "models:/nope/1"), "models:/nope/1")
    assert_user_error(run_cli("transfer", src_cfg, "--from", "0123abcd"), "0123abcd")
    assert_user_error(run_cli("lineage", "0123abcd", "--uri", uri), "0123abcd")
