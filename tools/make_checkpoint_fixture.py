"""Writes the checkpoint fixture of the current format: tests/fixtures/checkpoints/
stylegan2-formatN.safetensors (se_france 16x24, 4 variables, channel_max 8, 2 training
steps) and the fields it generates (3 members, seed 7, physical units).  Run it once when
FORMAT_VERSION changes; never rewrite an older fixture."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from gensemble.core.config import build_experiment
from gensemble.core.registry import get_registry
from gensemble.data.cf import write_netcdf
from gensemble.data.prepare import prepare_store
from gensemble.data.synth import synth_ensemble
from gensemble.inference.loaded import LoadedModel
from gensemble.inference.metadata import FORMAT_VERSION
from gensemble.training.loop import train

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "checkpoints"
OPTIONS = {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64, "channel_max": 8,
           "r1_interval": 2, "pl_interval": 2}  # fmt: skip


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    domain = {"name": "se_france", "options": {"ny": 16, "nx": 24}}
    dom = get_registry().get("domain", "se_france")(domain["options"])
    raw, store = tmp / "raw.nc", tmp / "store.zarr"
    write_netcdf(synth_ensemble(dom, 4, 3, seed=2, show_progress=False), raw)
    prepare_store(dom, [raw], store)
    exp = build_experiment(
        {
            "domain": domain,
            "architecture": {"name": "stylegan2", "options": OPTIONS},
            "training": {"steps": 2, "batch_size": 2, "log_every": 1},
            "data": {"store": str(store), "val_fraction": 0.25},
            "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db", "register_model": False},
            "output_dir": str(tmp / "runs"),
        },
        "<fixture>",
    )
    result = train(exp)
    target = OUT / f"stylegan2-format{FORMAT_VERSION}.safetensors"
    if target.exists():
        sys.exit(f"{target} exists: fixtures are never rewritten")
    shutil.copy(result.last_checkpoint, target)
    fields = LoadedModel(target).generate_physical(3, torch.Generator().manual_seed(7))
    np.savez(OUT / f"stylegan2-format{FORMAT_VERSION}-expected.npz", fields=fields.numpy())
    print("wrote", target)


if __name__ == "__main__":
    main()
