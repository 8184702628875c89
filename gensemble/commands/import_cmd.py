"""``gensemble import-prototype``: bring the Météo-France prototype's trained generators in."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from gensemble.commands.data_cmd import OPT_HELP, domain_from_cli

LOG = logging.getLogger(__name__)

PROTOTYPE_FORMAT = "meteofrance-prototype"


def import_prototype(
    checkpoint: Path = typer.Argument(..., help="the prototype's .pt checkpoint"),
    domain: str = typer.Option(..., "--domain", "-d", help="domain of the generator's grid"),
    opt: list[str] = typer.Option([], "--opt", help=OPT_HELP),
    variables: str = typer.Option(
        ..., "--variables", help="the generator's fields in order, e.g. rr,u10,v10,t2m"
    ),
    stats: Path = typer.Option(None, "--stats", help="folder of the prototype's stat files"),
    stats_config: Path = typer.Option(
        None, "--stats-config", help="the prototype's dataset_handler_config.yaml"
    ),
    lr_mlp: float = typer.Option(
        0.01, "--lr-mlp", help="the mapping network's learning-rate multiplier (not stored)"
    ),
    w_avg: Path = typer.Option(
        None,
        "--w-avg",
        help=".npy of the truncation centre the prototype used (its mean latent); "
        "default: the mean w of 10,000 seeded draws",
    ),
    out: Path = typer.Option(..., "--out", help="gensemble checkpoint to write (.safetensors)"),
    register: str = typer.Option(
        None, "--register", help="also make it an MLflow run and a version of this model"
    ),
    uri: str = typer.Option(None, help="tracking URI for --register (default sqlite:///mlflow.db)"),
    experiment_name: str = typer.Option("gensemble", "--experiment"),
) -> None:
    """Import a prototype checkpoint (rosinality StyleGAN2 layout, nb_var fields) as a
    gensemble checkpoint that generates, enriches, evaluates and transfers like any other.

    The file is read with torch.load(weights_only=True) only.  With --stats and
    --stats-config, outputs are in physical units as the prototype's post-processing gives
    them; without, the normaliser is the identity (the network's fields).
    """
    from gensemble.core.errors import UserError
    from gensemble.data.prototype_stats import identity_normalizer, prototype_normalizer
    from gensemble.data.variables import get_variable
    from gensemble.inference import foreign_import as fi

    if out.suffix != ".safetensors":
        raise UserError(f"--out {out}: gensemble checkpoints are .safetensors files")
    if (stats is None) != (stats_config is None):
        raise UserError("--stats and --stats-config go together")
    if lr_mlp <= 0:
        raise UserError(f"--lr-mlp {lr_mlp}: must be positive")
    from gensemble.data.prototype_format import PROTOTYPE_ALIASES

    # the prototype's own spellings (u, v) are accepted for gensemble's names
    names = [PROTOTYPE_ALIASES.get(v.strip(), v.strip()) for v in variables.split(",") if v.strip()]
    if len(set(names)) != len(names):
        raise UserError(f"--variables {variables}: a variable is listed twice")
    var_defs = [get_variable(n) for n in names]
    dom = domain_from_cli(domain, opt)
    grid_shape = tuple(dom.grid().shape)
    arch, plugin = fi.importer_for(PROTOTYPE_FORMAT)
    weights = plugin.import_weights(PROTOTYPE_FORMAT, checkpoint, {"lr_mlp": lr_mlp})
    fi.check_fit(weights, grid_shape, names)
    if w_avg is not None:
        weights.provenance["w_avg"] = fi.set_truncation_centre(weights.model, w_avg)
    if stats is not None:
        normalizer, described = prototype_normalizer(stats, stats_config, var_defs, grid_shape)
    else:
        normalizer, described = identity_normalizer(var_defs), {"type": "identity"}
    provenance = {**weights.provenance, "lr_mlp": lr_mlp, "normalization": described}
    meta = fi.foreign_metadata(arch, weights, dom, var_defs, normalizer, provenance)
    out.parent.mkdir(parents=True, exist_ok=True)
    if register:
        run_id, version = fi.register_imported(
            out, weights, normalizer, meta, register, uri, experiment_name
        )
        typer.echo(f"registered {register} version {version} (run {run_id})")
    else:
        fi.write_imported(out, weights, normalizer, meta)
    c, h, w = weights.shape
    typer.echo(
        f"imported {checkpoint.name}: {arch} {h}x{w}, {c} fields ({', '.join(names)}), "
        f"normalisation {described['type']} -> {out}"
    )


def register(app: typer.Typer) -> None:
    app.command("import-prototype")(import_prototype)
