"""Transfer learning: channel mapping by variable name, grid-size changes, strategies,
lineage, the model registry and run comparison, in-process and from the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import pytest
import torch
import yaml
from safetensors.torch import load_file

from gensemble.core.config import InitConfig
from gensemble.core.errors import UserError
from gensemble.core.model_api import BatchRandom, StepContext
from gensemble.data.store import Store
from gensemble.plugins.architectures.stylegan2.plugin import StyleGAN2Options
from gensemble.training import transfer
from gensemble.training.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from gensemble.training.models import build_model
from tests.conftest import assert_user_error, run_cli
from tests.test_training import TINY_ARCH

OPTS = StyleGAN2Options.model_validate(TINY_ARCH).model_dump(mode="json")
SRC_VARS = ["rr", "u10", "v10", "t2m"]


def model(shape: list[int], seed: int):  # noqa: ANN201
    torch.manual_seed(seed)
    return build_model("stylegan2", OPTS, shape)


def meta_of(shape: list[int], variables: list[str], options: dict | None = None) -> dict:
    return {
        "architecture": {"name": "stylegan2", "options": options or OPTS},
        "shape": shape,
        "variables": variables,
    }


def state(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in m.state_dict().items()}


# -- in-process -------------------------------------------------------------------------------
def test_dropping_a_variable_keeps_the_generator_and_discriminator_exact() -> None:
    src = model([4, 32, 32], 0)
    tgt = model([3, 32, 32], 1)
    done = transfer.adapt_state(
        tgt, ["u10", "v10", "t2m"], state(src), meta_of([4, 32, 32], SRC_VARS)
    )
    assert not done.recreated and not done.new and not done.dropped
    a = src.generate(3, torch.Generator().manual_seed(5))
    b = tgt.generate(3, torch.Generator().manual_seed(5))
    torch.testing.assert_close(b, a[:, 1:], atol=0, rtol=0)
    # D's input layer is rescaled for its new fan-in: without rr, D sees what it saw
    # with rr = 0
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        d_src = src.D(torch.cat([torch.zeros(4, 1, 32, 32), x], dim=1))
        d_tgt = tgt.D(x)
    torch.testing.assert_close(d_tgt, d_src, atol=1e-5, rtol=1e-5)


def test_variables_are_mapped_by_name_and_new_ones_start_fresh() -> None:
    src = model([4, 32, 32], 0)
    tgt = model([3, 32, 32], 1)
    fresh = state(tgt)
    variables = ["t2m", "orog", "u10"]
    transfer.adapt_state(tgt, variables, state(src), meta_of([4, 32, 32], SRC_VARS))
    s, t = src.state_dict(), tgt.state_dict()
    for name in ("G.blocks.2.to_fields.conv.weight", "G_ema.blocks.0.to_fields.bias"):
        torch.testing.assert_close(t[name][0], s[name][3])  # t2m
        torch.testing.assert_close(t[name][2], s[name][1])  # u10
        torch.testing.assert_close(t[name][1], fresh[name][1])  # orog: fresh
    w = "D.from_fields.weight"
    torch.testing.assert_close(t[w][:, 0], s[w][:, 3] * math.sqrt(3 / 4))
    torch.testing.assert_close(t[w][:, 1], fresh[w][:, 1])


def test_grid_change_reuses_every_level_and_recreates_only_size_dependent_layers() -> None:
    src = model([4, 32, 32], 0)  # 4 levels: 4x4 .. 32x32
    tgt = model([3, 24, 40], 1)  # 3 levels: 6x10 .. 24x40
    before = state(tgt)
    done = transfer.adapt_state(
        tgt, ["u10", "v10", "t2m"], state(src), meta_of([4, 32, 32], SRC_VARS)
    )
    recreated = {r.split()[0] for r in done.recreated}
    assert recreated == {
        "G.const",
        "G_ema.const",
        "D.fc.weight",
        "D.from_fields.weight",
        "D.from_fields.bias",
    }
    s, t = src.state_dict(), tgt.state_dict()
    for name in recreated:
        torch.testing.assert_close(t[name], before[name])
    # discriminator blocks are matched by the level they read, not by index
    torch.testing.assert_close(t["D.blocks.0.conv0.weight"], s["D.blocks.1.conv0.weight"])
    torch.testing.assert_close(t["D.blocks.1.skip.weight"], s["D.blocks.2.skip.weight"])
    torch.testing.assert_close(t["G.blocks.2.conv1.conv.weight"], s["G.blocks.2.conv1.conv.weight"])
    torch.testing.assert_close(t["G.mapping.w_avg"], s["G.mapping.w_avg"])
    assert any(d.startswith("G.blocks.3.") for d in done.dropped)
    assert any(d.startswith("D.blocks.0.") for d in done.dropped)
    assert "D.conv.weight" in done.transferred and "G.const" not in done.transferred


def test_incompatible_architectures_are_refused() -> None:
    tgt = model([3, 24, 40], 1)
    with pytest.raises(UserError, match="'stylegan3' cannot initialise 'stylegan2'"):
        bad = meta_of([4, 32, 32], SRC_VARS) | {"architecture": {"name": "stylegan3"}}
        transfer.check_compatible(Path("x"), bad, "stylegan2", OPTS, tgt, [3, 24, 40])
    other = dict(OPTS, channel_max=8)
    with pytest.raises(UserError, match="channel_max=8 vs 16"):
        transfer.check_compatible(
            Path("x"), meta_of([4, 32, 32], SRC_VARS, other), "stylegan2", OPTS, tgt, [3, 24, 40]
        )
    # options that do not change shapes are fine (e.g. the R1 weight)
    same = dict(OPTS, r1_gamma=1.0)
    transfer.check_compatible(
        Path("x"), meta_of([4, 32, 32], SRC_VARS, same), "stylegan2", OPTS, tgt, [3, 24, 40]
    )


def test_frozen_layers_do_not_move_and_transferred_lr_is_scaled() -> None:
    src = model([4, 32, 32], 0)
    tgt = model([3, 24, 40], 1)
    done = transfer.adapt_state(
        tgt, ["u10", "v10", "t2m"], state(src), meta_of([4, 32, 32], SRC_VARS)
    )
    init = InitConfig.model_validate(
        {"from": "x", "freeze_mapping": True, "freeze_g_blocks": 1, "freeze_d_blocks": 2}
    )
    frozen, trainable = transfer.frozen_parameters(tgt, init, done.transferred)
    assert "G.mapping.layers.0.weight" in frozen and "G.blocks.0.conv1.conv.weight" in frozen
    assert "D.blocks.0.conv0.weight" in frozen and "D.blocks.1.conv0.weight" not in frozen
    # re-created layers inside frozen groups keep training
    assert {"G.const", "D.from_fields.weight"} <= set(trainable)
    tgt.set_trainable(set(frozen))
    opts = tgt.make_optimizers(0.01, 0.01, (0.0, 0.99))
    report = {"lr_scale_transferred": 0.1, "transferred": done.transferred}
    transfer.scale_transferred_lr(opts, tgt, report)
    lrs = sorted({g["lr"] for g in opts["G"].param_groups})
    assert len(opts["G"].param_groups) == 2 and lrs[0] == pytest.approx(lrs[1] * 0.1)
    before = state(tgt)
    ctx = StepContext(step=0, rand=BatchRandom(0), global_batch=4, sync=lambda m: None)
    tgt.train_step(torch.randn(4, 3, 24, 40), ctx, opts)
    after = tgt.state_dict()
    for name in frozen:
        torch.testing.assert_close(after[name], before[name], atol=0, rtol=0, msg=name)
    for name in ("G.const", "D.from_fields.weight", "D.blocks.1.conv0.weight"):
        assert not torch.equal(after[name], before[name]), name

    too_many = InitConfig.model_validate({"from": "x", "freeze_g_blocks": 9})
    with pytest.raises(UserError, match="freeze_g_blocks=9 but the model on this grid has 3 gen"):
        transfer.frozen_parameters(tgt, too_many, done.transferred)


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
        o = [a for x in opts for a in ("--opt", x)]
        raw, store = d / f"{name}.nc", d / f"{name}.zarr"
        for args in (
            ("data", "synth", "--domain", domain, "-n", "48", "--members", "4", "--out", raw, *o),
            ("data", "prepare", raw, "--domain", domain, "--out", store, *o),
        ):
            proc = run_cli(*args)
            assert proc.returncode == 0, proc.stderr
        out[name] = store
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
    assert meta["init"]["variables"] == {
        "kept": ["u10", "v10", "t2m"],
        "new": [],
        "dropped": ["rr"],
    }
    assert meta["domain"]["name"] == "nordic" and meta["shape"] == [3, 24, 40]
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
        "freeze_mapping": True,
        "freeze_d_blocks": 1,
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
    assert tags["gensemble.init_strategy"] == "freeze_mapping+freezeD=1+lr_scale_transferred=0.5"

    source = load_file(str(tmp_path / "runs" / src / "checkpoints" / "last.safetensors"))
    ckpt = tmp_path / "runs" / moved / "checkpoints" / "last.safetensors"
    # a resumed transfer run freezes and scales the same parameters
    proc = run_cli("train", tgt_cfg, "--set", "training.steps=4", "--resume", moved)
    assert proc.returncode == 0, proc.stderr
    tensors, meta = load_checkpoint(ckpt)
    assert meta["step"] == 4 and len(meta["optimizers"]["G"]) == 2
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
    from gensemble.training.models import resolve_checkpoint

    (tmp_path / "runs" / src).rename(tmp_path / "elsewhere")
    got = resolve_checkpoint("models:/se_france-stylegan2/1", uri)
    assert got.is_file() and "runs" not in got.parts
    assert read_metadata(got)["run_id"] == src
    stamp = got.stat().st_mtime_ns  # a second resolution reuses the cached download
    assert resolve_checkpoint(src, uri) == got and got.stat().st_mtime_ns == stamp
    (tmp_path / "elsewhere").rename(tmp_path / "runs" / src)

    # refusals: another architecture, shape-changing options, unknown sources
    src_ckpt = tmp_path / "runs" / src / "checkpoints" / "last.safetensors"
    t, m = load_checkpoint(src_ckpt)
    m["architecture"]["name"] = "stylegan3"
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


def test_transfer_short_form_builds_the_experiment(tmp_path: Path) -> None:
    from gensemble.commands.transfer_cmd import transfer_config

    ckpt = save_checkpoint(
        tmp_path / "c.safetensors",
        {"model.x": torch.zeros(1)},
        {"architecture": {"name": "stylegan2", "options": OPTS}},
    )
    raw = {"domain": {"name": "nordic", "options": {"ny": 64}}, "training": {"steps": 5}}
    data = transfer_config(raw, str(ckpt), "nordic", ["nx=96"], tmp_path / "s.zarr", {}, [])
    # same domain: the file's options are kept and --opt added; no architecture in the
    # file: the checkpoint's
    assert data["domain"] == {"name": "nordic", "options": {"ny": 64, "nx": 96}}
    assert data["architecture"] == {"name": "stylegan2", "options": OPTS}
    assert data["init"] == {"from": str(ckpt)} and data["data"]["store"] == str(tmp_path / "s.zarr")
    data = transfer_config(
        raw | {"architecture": ARCH},
        "x",
        "se_france",
        [],
        None,
        {"freeze_d_blocks": 2},
        ["training.steps=7"],
    )
    assert data["domain"] == {"name": "se_france", "options": {}}
    assert data["architecture"] == ARCH and data["init"]["freeze_d_blocks"] == 2
    assert data["training"]["steps"] == 7
