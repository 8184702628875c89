"""``gensemble transfer``: train on a new domain starting from an earlier run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from gensemble.commands.config_cmd import SET_HELP
from gensemble.commands.data_cmd import OPT_HELP
from gensemble.core.config import apply_overrides, build_experiment, read_mapping

LOG = logging.getLogger(__name__)


def transfer_config(
    data: dict[str, Any],
    source: str,
    domain: str | None,
    opts: list[str],
    store: Path | None,
    init: dict[str, Any],
    sets: list[str],
) -> dict[str, Any]:
    """The experiment mapping of a transfer run (before validation).

    The architecture (name and options) is the checkpoint's unless the experiment file
    names one, in which case it must be compatible (checked when the model is built).
    """
    data = dict(data)
    if domain is not None:
        current = data.get("domain") or {}
        keep = current.get("options", {}) if current.get("name") == domain else {}
        data["domain"] = {"name": domain, "options": dict(keep)}
    if store is not None:
        data.setdefault("data", {})["store"] = str(store)
    data["init"] = {**(data.get("init") or {}), "from": source, **init}
    data = apply_overrides(data, sets)
    if "architecture" not in data or "domain" not in data:
        from gensemble.core.config import offline_store_uri
        from gensemble.inference.checkpoint_io import read_metadata
        from gensemble.inference.resolve import resolve_checkpoint

        tracking = data.get("tracking") or {}
        uri = tracking.get("uri")
        if tracking.get("offline"):
            uri = offline_store_uri(data.get("output_dir", "runs"))
        path = resolve_checkpoint(
            source,
            uri,
            tracking.get("experiment", "gensemble"),
            data["init"].get("which", "last"),
        )
        meta = read_metadata(path)
        data.setdefault("architecture", meta.architecture.model_dump())
        data.setdefault("domain", meta.domain.model_dump())  # same domain: fine-tuning
    if opts:
        section = data["domain"]
        section["options"] = apply_overrides(dict(section.get("options") or {}), opts)
    return data


def transfer(
    experiment: Path = typer.Argument(None, help="YAML or TOML experiment (default: built-in)"),
    source: str = typer.Option(
        ..., "--from", help="RUN_ID, models:/NAME/VERSION or a checkpoint/run folder"
    ),
    domain: str = typer.Option(None, "--domain", "-d", help="target domain"),
    opt: list[str] = typer.Option([], "--opt", help=OPT_HELP),
    data_store: Path = typer.Option(None, "--data", help="target domain's zarr store"),
    which: str = typer.Option(None, help="last or best checkpoint of the source run"),
    freeze: list[str] = typer.Option(
        [],
        "--freeze",
        help="layer group to freeze (repeatable): a group name, or NAME:K for the first K "
        "numbered groups; StyleGAN2: mapping, g_block:K, d_block:K (FreezeD)",
    ),
    freeze_mapping: bool = typer.Option(False, "--freeze-mapping", hidden=True),
    freeze_g_blocks: int = typer.Option(0, min=0, hidden=True),
    freeze_d_blocks: int = typer.Option(0, min=0, hidden=True),
    lr_scale: float = typer.Option(None, help="learning-rate factor for reused layers"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Fine-tune a trained model on another domain (variables mapped by name).

    Options left out keep the experiment file's ``init`` values (or the defaults).
    """
    from gensemble.training.loop import train as run_training

    # the hidden flags are the first release's spelling of --freeze
    groups = list(freeze) + (["mapping"] if freeze_mapping else [])
    groups += [f"g_block:{freeze_g_blocks}"] if freeze_g_blocks else []
    groups += [f"d_block:{freeze_d_blocks}"] if freeze_d_blocks else []
    given = {"which": which, "freeze": groups or None, "lr_scale_transferred": lr_scale}
    init = {k: v for k, v in given.items() if v is not None}
    raw = read_mapping(experiment) if experiment is not None else {}
    data = transfer_config(raw, source, domain, opt, data_store, init, set_)
    exp = build_experiment(data, str(experiment) if experiment else "<defaults>")
    result = run_training(exp)
    if result.last_checkpoint is not None:  # rank 0 only under torchrun
        typer.echo(f"run {result.run_id}: step {result.step}, checkpoint {result.last_checkpoint}")


def register(app: typer.Typer) -> None:
    app.command("transfer")(transfer)
