"""The model contract, run on every registered architecture (a new one gets it for free).

Each architecture is built with its ``tiny_options`` and taken through the whole life of
a model in the generic loop: train a step, checkpoint, resume exactly, load and generate
in physical units, and - when it declares the capability - transfer to a domain with
other variables and another grid size, and latent access (W+ synthesis consistent with
sampling).  Freezing must hold whatever the architecture's step does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import xarray as xr

from gensemble.api.capabilities import LatentAccess, Transferable, require
from gensemble.api.conditional import ConditionalSampling, ForecastBatch
from gensemble.api.model import BatchRandom, GenerativeModel, StepContext
from gensemble.core.config import build_experiment
from gensemble.core.errors import UserError
from gensemble.core.registry import get_registry
from gensemble.data.cf import write_netcdf
from gensemble.data.prepare import prepare_store
from gensemble.data.synth import synth_ensemble
from gensemble.inference.checkpoint_io import load_checkpoint, read_metadata
from gensemble.inference.generate import write_members
from gensemble.inference.loaded import LoadedModel, build_model
from gensemble.training.loop import train

ARCHITECTURES = get_registry().names("architecture")
SOURCE = {"name": "se_france", "options": {"ny": 16, "nx": 24}}
TARGET = {"name": "se_france", "options": {"ny": 24, "nx": 32, "variables": ["u10", "t2m"]}}


def _store(folder: Path, domain: dict) -> Path:
    dom = get_registry().get("domain", domain["name"])(domain["options"])
    raw, out = folder / "raw.nc", folder / "store.zarr"
    write_netcdf(synth_ensemble(dom, 4, 3, seed=2, show_progress=False), raw)
    prepare_store(dom, [raw], out)
    return out


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {
        "source": _store(tmp_path_factory.mktemp("src"), SOURCE),
        "target": _store(tmp_path_factory.mktemp("tgt"), TARGET),
    }


def _experiment(tmp: Path, arch: str, domain: dict, store: Path, steps: int, **extra) -> object:
    tiny = get_registry().get("architecture", arch).tiny_options
    data = {
        "domain": domain,
        "architecture": {"name": arch, "options": tiny},
        "training": {"steps": steps, "batch_size": 2, "checkpoint_every": 1, "log_every": 1},
        "data": {"store": str(store), "val_fraction": 0.25},
        "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db", "register_model": False},
        "output_dir": str(tmp / "runs"),
        **extra,
    }
    return build_experiment(data, "<contract>")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_train_checkpoint_resume_generate(arch: str, stores: dict, tmp_path: Path) -> None:
    first = train(_experiment(tmp_path, arch, SOURCE, stores["source"], 2))
    meta = read_metadata(first.last_checkpoint)
    assert meta.step == 2 and meta.architecture.name == arch
    assert meta.shape == [4, 16, 24] and set(meta.optimizers)

    # exact resume: 2 + 1 steps equals 3 steps in one go
    resumed = train(
        _experiment(tmp_path, arch, SOURCE, stores["source"], 3), resume=str(first.last_checkpoint)
    )
    (tmp_path / "b").mkdir()
    straight = train(_experiment(tmp_path / "b", arch, SOURCE, stores["source"], 3))
    a, _ = load_checkpoint(resumed.last_checkpoint)
    b, _ = load_checkpoint(straight.last_checkpoint)
    for key in (k for k in a if k.startswith("model.")):
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4, msg=key)

    loaded = LoadedModel(resumed.last_checkpoint)
    x = loaded.generate_physical(3, torch.Generator().manual_seed(0))
    assert x.shape == (3, 4, 16, 24) and torch.isfinite(x).all()
    out = write_members(loaded, 3, tmp_path / "members.nc", batch=2)
    with xr.open_dataset(out) as ds:
        assert ds["t2m"].shape == (3, 16, 24) and ds["t2m"].attrs["units"] == "K"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_transfer_when_declared(arch: str, stores: dict, tmp_path: Path) -> None:
    model = build_model(arch, get_registry().get("architecture", arch).tiny_options, [4, 16, 24])
    if not isinstance(model, Transferable):
        with pytest.raises(UserError, match="does not support transfer"):
            require(model, Transferable, "transfer")
        return
    source = train(_experiment(tmp_path, arch, SOURCE, stores["source"], 1))
    init = {"from": str(source.last_checkpoint)}
    result = train(_experiment(tmp_path, arch, TARGET, stores["target"], 1, init=init))
    meta = read_metadata(result.last_checkpoint)
    assert meta.init["variables"]["kept"] == ["u10", "t2m"]
    assert meta.init["variables"]["dropped"] == ["rr", "v10"]
    assert meta.shape == [2, 24, 32]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_latent_access_when_declared(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(arch, get_registry().get("architecture", arch).tiny_options, [2, 16, 24])
    if not isinstance(model, LatentAccess):
        with pytest.raises(UserError, match="does not support latent access"):
            require(model, LatentAccess, "enrichment")
        return
    model.eval()
    z = torch.randn(3, model.z_dim, generator=torch.Generator().manual_seed(1))
    ws = model.map_z(z)
    assert ws.shape == (3, model.num_styles(), model.w_dim)
    assert len(model.style_levels()) == model.num_styles()
    with torch.no_grad():
        a = model.synthesize(ws, "zero")
        b = model.synthesize(ws, [torch.zeros(3, 1, h, w) for h, w in model.noise_shapes()])
    assert a.shape == (3, 2, 16, 24)
    torch.testing.assert_close(a, b)
    assert model.mean_w(256).shape == (model.w_dim,)


def training_batch(model: object, b: int, shape: tuple[int, ...]) -> object:
    """What the loop hands a model's step: fields, or seeds and targets for a
    conditional model."""
    if isinstance(model, ConditionalSampling):
        k = model.condition_spec().seeds
        return ForecastBatch(torch.randn(b, k, *shape), torch.randn(b, *shape),
                             torch.zeros(b, dtype=torch.bool))  # fmt: skip
    return torch.randn(b, *shape)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_frozen_parameters_never_move(arch: str) -> None:
    """Freezing holds by construction, even when a step turns every gradient on."""
    torch.manual_seed(0)
    model = build_model(arch, get_registry().get("architecture", arch).tiny_options, [2, 16, 24])
    optimised = {id(p) for spec in model.optimizer_specs().values() for p in spec.params}
    names = [n for n, p in model.named_parameters() if id(p) in optimised]
    frozen = set(names[::2])
    model.set_trainable(frozen)
    optimizers = model.make_optimizers()
    for p in model.parameters():  # a careless architecture re-enables everything
        p.requires_grad_(True)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ctx = StepContext(step=0, rand=BatchRandom(0), global_batch=2, sync=lambda m: None)
    logs = model.train_step(training_batch(model, 2, (2, 16, 24)), ctx, optimizers)
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in logs.values())
    after = dict(model.named_parameters())
    for name in frozen:
        assert torch.equal(after[name].detach(), before[name]), name
    assert any(not torch.equal(after[n].detach(), before[n]) for n in names if n not in frozen)


def test_a_model_without_capabilities_is_refused_in_one_line() -> None:
    class Bare(GenerativeModel):
        architecture = "bare"

    with pytest.raises(UserError, match="'bare' does not support latent access, which enrich"):
        require(Bare(), LatentAccess, "enrichment")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_compiled_training_runs(arch: str, stores: dict, tmp_path: Path) -> None:
    exp = _experiment(tmp_path, arch, SOURCE, stores["source"], 2)
    exp.training.compile, exp.training.compile_backend = True, "aot_eager"
    result = train(exp)
    assert read_metadata(result.last_checkpoint).step == 2


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_conditional_sampling_when_declared(arch: str) -> None:
    """Shapes, seeding, a condition that is used and whose member order is not, any K."""
    torch.manual_seed(0)
    model = build_model(arch, get_registry().get("architecture", arch).tiny_options, [3, 16, 24])
    if not isinstance(model, ConditionalSampling):
        pytest.skip(f"{arch} does not declare conditional sampling")
    model.eval()
    k = model.condition_spec().seeds
    cond = torch.randn(k, 3, 16, 24)

    def draw(c: torch.Tensor, seed: int = 1, n: int = 5) -> torch.Tensor:
        return model.sample_conditional(n, c, torch.Generator().manual_seed(seed))

    a = draw(cond)
    assert a.shape == (5, 3, 16, 24) and a.dtype == torch.float32 and torch.isfinite(a).all()
    assert torch.equal(a, draw(cond))  # seeded
    assert not torch.allclose(a, draw(cond, seed=2))  # other draws
    assert not torch.allclose(a, draw(cond + 1.0))  # the condition is used
    assert torch.allclose(a, draw(cond.flip(0)), atol=1e-5)  # its order is not
    assert draw(cond[:1], n=2).shape == (2, 3, 16, 24)  # one seed is a condition too
    assert draw(torch.cat([cond, cond]), n=20).shape[0] == 20  # more seeds, more members
    with pytest.raises(UserError, match="seed members of shape"):
        draw(torch.randn(k, 2, 16, 24))
    with pytest.raises(UserError, match="NaN"):
        draw(torch.full((k, 3, 16, 24), float("nan")))
