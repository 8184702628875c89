"""Versioned checkpoint metadata: fixtures of every format still load and generate the
same fields; migrations move renamed keys; newer, unknown or damaged metadata is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from gensemble.core.config import build_experiment
from gensemble.core.errors import UserError
from gensemble.inference.checkpoint_io import read_metadata, read_raw_metadata
from gensemble.inference.loaded import LoadedModel, experiment_of
from gensemble.inference.metadata import FORMAT_VERSION, parse_metadata
from tests.conftest import ROOT, run_cli

FIXTURES = ROOT / "tests" / "fixtures" / "checkpoints"
VERSIONS = sorted(int(p.stem.split("format")[1]) for p in FIXTURES.glob("*-format*.safetensors"))


def test_there_is_a_fixture_of_the_current_format() -> None:
    assert VERSIONS[-1] == FORMAT_VERSION and VERSIONS[0] == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_every_format_loads_and_generates_its_recorded_fields(version: int) -> None:
    path = FIXTURES / f"stylegan2-format{version}.safetensors"
    assert read_raw_metadata(path)["format"] == f"gensemble-checkpoint/{version}"
    meta = read_metadata(path)
    assert meta.format == f"gensemble-checkpoint/{FORMAT_VERSION}"
    assert meta.step == 2 and meta.variables == ["rr", "u10", "v10", "t2m"]
    assert meta.architecture.options["lr_g"] == 0.0025  # v1 kept it in training.lr_g
    upsample = "transposed" if version >= 4 else "resample_conv"
    assert meta.architecture.options["upsample"] == upsample
    exp = experiment_of(meta)
    assert exp.architecture.options["lr_g"] == 0.0025 and exp.init is None
    expected = np.load(FIXTURES / f"stylegan2-format{version}-expected.npz")
    got = LoadedModel(path).generate_physical(3, torch.Generator().manual_seed(7))
    np.testing.assert_allclose(got.numpy(), expected["fields"], rtol=1e-5, atol=1e-5)


def test_old_format_generates_from_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "m.nc"
    proc = run_cli("generate", FIXTURES / "stylegan2-format1.safetensors", "-n", "2", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()


def _rewrite(tmp: Path, change: dict) -> Path:
    src = FIXTURES / f"stylegan2-format{FORMAT_VERSION}.safetensors"
    meta = read_raw_metadata(src) | change
    path = tmp / "changed.safetensors"
    save_file(load_file(str(src)), str(path), metadata={"gensemble": json.dumps(meta)})
    return path


def test_newer_unknown_and_damaged_metadata_are_refused(tmp_path: Path) -> None:
    newer = _rewrite(tmp_path, {"format": f"gensemble-checkpoint/{FORMAT_VERSION + 1}"})
    with pytest.raises(UserError, match="written by a newer gensemble"):
        read_metadata(newer)
    with pytest.raises(UserError, match="unknown checkpoint format 'other/1'"):
        read_metadata(_rewrite(tmp_path, {"format": "other/1"}))
    with pytest.raises(UserError, match="damaged checkpoint metadata.*step"):
        read_metadata(_rewrite(tmp_path, {"step": "many"}))


def test_v1_migration_moves_optimiser_settings_and_freezing() -> None:
    v1 = {
        "format": "gensemble-checkpoint/1",
        "version": "0.1.0",
        "step": 5,
        "architecture": {"name": "stylegan2", "options": {"z_dim": 8}},
        "domain": {"name": "nordic", "options": {}},
        "grid": {},
        "variables": ["u10"],
        "units": ["m/s"],
        "shape": [1, 8, 8],
        "normalizer": {},
        "experiment": {
            "domain": {"name": "nordic"},
            "architecture": {"name": "stylegan2", "options": {"z_dim": 8}},
            "training": {"lr_g": 0.001, "lr_d": 0.002, "betas": [0.0, 0.9], "steps": 9},
            "init": {"from": "abc", "freeze_mapping": True, "freeze_d_blocks": 2},
        },
    }
    meta = parse_metadata(v1)
    assert meta.package_version == "0.1.0"
    # and StyleGAN2 names the up-sampling every checkpoint before format 4 used
    moved = {"lr_g": 0.001, "lr_d": 0.002, "betas": [0.0, 0.9], "upsample": "resample_conv"}
    assert meta.architecture.options == {"z_dim": 8, **moved}
    assert meta.experiment["training"] == {"steps": 9}
    assert meta.experiment["init"] == {"from": "abc", "freeze": ["mapping", "d_block:2"]}


def test_old_experiment_files_still_work_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exp = build_experiment(
        {"training": {"lr_g": 0.001}, "init": {"from": "x", "freeze_g_blocks": 1}}, "old.yaml"
    )
    assert exp.architecture.options["lr_g"] == 0.001 and exp.init.freeze == ["g_block:1"]
    assert "old.yaml: training.lr_g is now architecture.options.lr_g" in caplog.text


def test_metadata_also_reads_like_the_old_dict() -> None:
    meta = read_metadata(FIXTURES / "stylegan2-format1.safetensors")
    assert meta["step"] == meta.step == 2 and meta["domain"]["name"] == "se_france"
    assert meta.get("missing", "x") == "x"


def test_a_transfer_report_written_as_a_plain_dict_still_loads_typed() -> None:
    """Format 4 stored the transfer report as a dict; it reads as a TransferReport whose
    freezing is re-applied on resume and whose run still generates."""
    from gensemble.inference.transfer_report import TransferReport
    from gensemble.training.transfer import reapply_freezing, summary_lines

    path = FIXTURES / "stylegan2-transfer-v4.safetensors"
    assert read_raw_metadata(path)["format"] == "gensemble-checkpoint/4"
    meta = read_metadata(path)
    report = meta.init
    assert isinstance(report, TransferReport)
    assert report.variables.kept == ["u10", "t2m"] and report.variables.dropped == ["rr", "v10"]
    assert report.channel_map == {"u10": 1, "t2m": 3} and report.source_shape == [4, 16, 16]
    assert report.strategy == "freeze=mapping" and report.tensors.copied > 0
    assert report["from"] == report.source_ref and meta["init"]["variables"]["new"] == []
    assert any("re-created G.const" in line for line in summary_lines(report, "se_france"))
    loaded = LoadedModel(path)
    reapply_freezing(loaded.model, report)
    assert loaded.model.frozen == set(report.frozen) and report.frozen
    x = loaded.generate_physical(2, torch.Generator().manual_seed(0))
    assert x.shape == (2, 2, 16, 24) and torch.isfinite(x).all()
    # the current format writes it back with its stored names
    assert json.loads(meta.dump_json())["init"]["from"] == report.source_ref
