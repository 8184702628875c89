"""Importing the Météo-France prototype's StyleGAN2 checkpoints: exact to its outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gensemble.core.errors import UserError
from gensemble.plugins.architectures.gan.layers import fir_2d
from gensemble.plugins.architectures.stylegan2 import prototype
from gensemble.plugins.architectures.stylegan2.layers import upsample2x, upsample_fir
from gensemble.plugins.architectures.stylegan2.plugin import StyleGAN2
from tests import rosinality_reference as ref


def _rel(a: torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    b = torch.as_tensor(b)
    return float((a.float() - b.float()).abs().max() / b.abs().max())


def _imported(path):  # noqa: ANN001, ANN202
    return StyleGAN2.import_weights(prototype.FORMAT, path, {"lr_mlp": 0.01})


@pytest.fixture(scope="module")
def fixture_pair():  # noqa: ANN201
    from tests.conftest import SHARED

    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    weights = _imported(SHARED / "prototype-stylegan2-32px.pt")
    return weights, np.load(SHARED / "prototype-stylegan2-32px.npz")


def test_layout_is_inferred_from_shapes(fixture_pair) -> None:  # noqa: ANN001
    weights, _ = fixture_pair
    o = weights.options
    assert weights.shape == [4, 32, 32]
    assert (o["z_dim"], o["w_dim"], o["mapping_layers"]) == (64, 64, 3)
    assert o["channel_table"] == [32, 32, 24, 16]
    assert weights.provenance["sha256"] and weights.provenance["file"].endswith(".pt")


@torch.no_grad()
def test_generator_reproduces_every_recorded_output(fixture_pair) -> None:  # noqa: ANN001
    weights, f = fixture_pair
    m = weights.model.eval()
    t = {k: torch.from_numpy(f[k]) for k in f.files}
    ws = m.map_z(t["z"])
    assert _rel(ws, f["z_wplus"]) < 1e-5
    assert _rel(m.synthesize(ws, "const"), f["z_fields"]) < 1e-5
    assert _rel(m.synthesize(t["wplus"], "const"), f["wplus_fields"]) < 1e-5
    centre = t["trunc_w_avg"][0]
    w = m.map_z(t["trunc_z"])
    assert _rel(m.synthesize(centre + 0.7 * (w - centre), "const"), f["trunc_fields"]) < 1e-5
    k = int(f["mix_inject_index"])
    mixed = torch.cat([m.map_z(t["mix_z1"])[:, :k], m.map_z(t["mix_z2"])[:, k:]], 1)
    assert _rel(m.synthesize(mixed, "const"), f["mix_fields"]) < 1e-5
    # channels-first and channels-last layouts compute the same
    m.G_ema.channels_last = False
    assert _rel(m.synthesize(t["wplus"], "const"), f["wplus_fields"]) < 1e-5


@torch.no_grad()
def test_discriminator_reproduces_recorded_logits(fixture_pair) -> None:  # noqa: ANN001
    weights, f = fixture_pair
    d = weights.model.D.eval()
    assert _rel(d(torch.from_numpy(f["d_input"])), f["d_output"]) < 1e-5


@torch.no_grad()
def test_reference_itself_reproduces_the_fixture(shared_data) -> None:  # noqa: ANN001
    """The test-side reference is checked against the prototype's own outputs first."""
    ck = torch.load(shared_data / "prototype-stylegan2-32px.pt", weights_only=True)
    f = np.load(shared_data / "prototype-stylegan2-32px.npz")
    assert _rel(ref.generate(ck["g_ema"], torch.from_numpy(f["wplus"])), f["wplus_fields"]) < 1e-5
    assert _rel(ref.discriminate(ck["d"], torch.from_numpy(f["d_input"])), f["d_output"]) < 1e-5


@pytest.mark.parametrize(
    "size,style_dim,n_mlp,channels,nb_var,batch",
    [
        (16, 32, 2, {4: 16, 8: 12, 16: 8}, 3, 4),
        (64, 24, 5, {4: 16, 8: 16, 16: 12, 32: 8, 64: 8}, 5, 8),
        (8, 8, 1, {4: 8, 8: 8}, 1, 2),
    ],
)
@torch.no_grad()
def test_other_layouts_match_the_reference(
    tmp_path, size, style_dim, n_mlp, channels, nb_var, batch
) -> None:  # noqa: ANN001
    ck = ref.random_checkpoint(size, style_dim, n_mlp, channels, nb_var, seed=size)
    path = tmp_path / "proto.pt"
    torch.save(ck, path)
    weights = _imported(path)
    assert weights.shape == [nb_var, size, size]
    assert weights.options["mapping_layers"] == n_mlp
    m = weights.model.eval()
    z = torch.randn(batch, style_dim, generator=torch.Generator().manual_seed(1))
    wplus = ref.mapping(ck["g_ema"], z)[:, None].expand(-1, m.num_styles(), -1)
    assert _rel(m.map_z(z), wplus) < 1e-5
    assert _rel(m.synthesize(wplus, "const"), ref.generate(ck["g_ema"], wplus)) < 1e-5
    img = torch.randn(batch, nb_var, size, size, generator=torch.Generator().manual_seed(2))
    assert _rel(m.D(img), ref.discriminate(ck["d"], img)) < 1e-5
    # the training generator comes from "g", not "g_ema"
    got = m.G.synthesis(wplus, m.G.const_noise())
    assert _rel(got, ref.generate(ck["g"], wplus)) < 1e-5


def test_stored_standard_kernel_equals_the_zero_edge_fast_path() -> None:
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    fast = upsample2x(x, "zero")
    stored = upsample_fir(x, fir_2d(4.0).double())
    assert torch.allclose(fast, stored, atol=1e-12)
    assert not torch.allclose(upsample2x(x, "replicate"), stored)


def test_pickled_objects_are_refused(tmp_path) -> None:  # noqa: ANN001
    import argparse

    path = tmp_path / "evil.pt"  # the trainer's args object, as some scripts save it
    torch.save({"g_ema": {}, "d": {}, "args": argparse.Namespace(lr=0.002)}, path)
    with pytest.raises(UserError, match="pickled objects"):
        prototype.read_prototype(path)


def test_missing_keys_and_bad_shapes_are_named(tmp_path) -> None:  # noqa: ANN001
    ck = ref.random_checkpoint(16, 8, 2, {4: 8, 8: 8, 16: 8}, 2)
    path = tmp_path / "p.pt"
    torch.save({k: v for k, v in ck.items() if k != "d"}, path)
    with pytest.raises(UserError, match="no 'd' state dict"):
        _imported(path)
    broken = {**ck, "g_ema": {k: v for k, v in ck["g_ema"].items() if k != "convs.1.conv.weight"}}
    torch.save(broken, path)
    with pytest.raises(UserError, match="convs.1.conv.weight"):
        _imported(path)
    bad = dict(ck["d"])
    bad["final_linear.0.weight"] = torch.randn(8, 100)
    torch.save({**ck, "d": bad}, path)
    with pytest.raises(UserError, match="D.fc.weight has shape"):
        _imported(path)
    odd = dict(ck["g_ema"])
    odd["input.input"] = torch.randn(1, 8, 5, 5)
    torch.save({**ck, "g_ema": odd}, path)
    with pytest.raises(UserError, match="fits no StyleGAN2 layout"):
        _imported(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="not a readable torch checkpoint"):
        _imported(path)
