"""Transfer learning in-process: channel mapping by variable name, grid-size changes,
refusals, freezing and learning-rate strategies."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from gensemble.api.model import BatchRandom, StepContext
from gensemble.core.config import InitConfig
from gensemble.core.errors import UserError
from gensemble.inference.checkpoint_io import save_checkpoint
from gensemble.inference.loaded import build_model
from gensemble.inference.metadata import CheckpointMeta, PluginSpec
from gensemble.inference.transfer_report import TransferReport
from gensemble.plugins.architectures.stylegan2.plugin import StyleGAN2Options
from gensemble.training import transfer
from tests.conftest import TINY_ARCH, make_meta

OPTS = StyleGAN2Options.model_validate(TINY_ARCH).model_dump(mode="json")
SRC_VARS = ["rr", "u10", "v10", "t2m"]


def model(shape: list[int], seed: int):  # noqa: ANN201
    torch.manual_seed(seed)
    return build_model("stylegan2", OPTS, shape)


def meta_of(shape: list[int], variables: list[str], options: dict | None = None):  # noqa: ANN201
    return CheckpointMeta.model_construct(
        architecture=PluginSpec(name="stylegan2", options=options or OPTS),
        shape=shape,
        variables=variables,
    )


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
    a = src.sample(3, torch.Generator().manual_seed(5))
    b = tgt.sample(3, torch.Generator().manual_seed(5))
    # equal up to the rounding of the output layer's matmul, whose blocking (and so its
    # summation order) depends on the channel count and the thread count
    torch.testing.assert_close(b, a[:, 1:], atol=2e-6, rtol=0)
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
        bad = meta_of([4, 32, 32], SRC_VARS)
        bad.architecture = PluginSpec(name="stylegan3")
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
    init = InitConfig.model_validate({"from": "x", "freeze": ["mapping", "g_block:1", "d_block:2"]})
    frozen, trainable = transfer.frozen_parameters(tgt, init, done.transferred)
    assert "G.mapping.layers.0.weight" in frozen and "G.blocks.0.conv1.conv.weight" in frozen
    assert "D.blocks.0.conv0.weight" in frozen and "D.blocks.1.conv0.weight" not in frozen
    # re-created layers inside frozen groups keep training
    assert {"G.const", "D.from_fields.weight"} <= set(trainable)
    tgt.set_trainable(set(frozen))
    opts = tgt.make_optimizers()
    report = TransferReport(lr_scale_transferred=0.1, transferred=done.transferred)
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

    too_many = InitConfig.model_validate({"from": "x", "freeze": ["g_block:9"]})
    with pytest.raises(UserError, match="g_block:9: the model on this grid has 3 g_block groups"):
        transfer.frozen_parameters(tgt, too_many, done.transferred)
    unknown = InitConfig.model_validate({"from": "x", "freeze": ["mappnig"]})
    with pytest.raises(UserError, match="no such layer group.*mapping"):
        transfer.frozen_parameters(tgt, unknown, done.transferred)


def test_transfer_short_form_builds_the_experiment(tmp_path: Path) -> None:
    from gensemble.commands.transfer_cmd import transfer_config

    meta = make_meta(architecture=PluginSpec(name="stylegan2", options=OPTS))
    ckpt = save_checkpoint(tmp_path / "c.safetensors", {"model.x": torch.zeros(1)}, meta)
    raw = {"domain": {"name": "nordic", "options": {"ny": 64}}, "training": {"steps": 5}}
    data = transfer_config(raw, str(ckpt), "nordic", ["nx=96"], tmp_path / "s.zarr", {}, [])
    # same domain: the file's options are kept and --opt added; no architecture in the
    # file: the checkpoint's
    assert data["domain"] == {"name": "nordic", "options": {"ny": 64, "nx": 96}}
    assert data["architecture"] == {"name": "stylegan2", "options": OPTS}
    assert data["init"] == {"from": str(ckpt)} and data["data"]["store"] == str(tmp_path / "s.zarr")
    data = transfer_config(
        raw | {"architecture": {"name": "stylegan2", "options": TINY_ARCH}},
        "x",
        "se_france",
        [],
        None,
        {"freeze": ["d_block:2"]},
        ["training.steps=7"],
    )
    assert data["domain"] == {"name": "se_france", "options": {}}
    assert data["architecture"]["options"] == TINY_ARCH and data["init"]["freeze"] == ["d_block:2"]
    assert data["training"]["steps"] == 7
