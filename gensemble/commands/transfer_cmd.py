"""``gensemble transfer``: train on a new domain starting from an earlier run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gensemble.commands.config_cmd import SET_HELP
from gensemble.commands.data_cmd import OPT_HELP
from gensemble.core.config import apply_overrides, build_experiment, read_mapping


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
    if opts:
        section = data.setdefault("domain", {"name": "se_france"})
        section["options"] = apply_overrides(dict(section.get("options") or {}), opts)
    if store is not None:
        data.setdefault("data", {})["store"] = str(store)
    data["init"] = {**(data.get("init") or {}), "from": source, **init}
    data = apply_overrides(data, sets)
    if "architecture" not in data:
        from gensemble.training.checkpoint import read_metadata
        from gensemble.training.models import resolve_checkpoint

        tracking = data.get("tracking") or {}
        path = resolve_checkpoint(
            source,
            tracking.get("uri"),
            tracking.get("experiment", "gensemble"),
            data["init"].get("which", "last"),
        )
        arch = read_metadata(path)["architecture"]
        data["architecture"] = {"name": arch["name"], "options": arch.get("options", {})}
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
    freeze_mapping: bool = typer.Option(
        None, "--freeze-mapping/--no-freeze-mapping", help="freeze the mapping network"
    ),
    freeze_g_blocks: int = typer.Option(None, min=0, help="freeze the first K generator blocks"),
    freeze_d_blocks: int = typer.Option(None, min=0, help="freeze the lower K D blocks (FreezeD)"),
    lr_scale: float = typer.Option(None, help="learning-rate factor for reused layers"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Fine-tune a trained model on another domain (variables mapped by name).

    Options left out keep the experiment file's ``init`` values (or the defaults).
    """
    from gensemble.training.loop import train as run_training

    given = {
        "which": which,
        "freeze_mapping": freeze_mapping,
        "freeze_g_blocks": freeze_g_blocks,
        "freeze_d_blocks": freeze_d_blocks,
        "lr_scale_transferred": lr_scale,
    }
    init = {k: v for k, v in given.items() if v is not None}
    raw = read_mapping(experiment) if experiment is not None else {}
    data = transfer_config(raw, source, domain, opt, data_store, init, set_)
    exp = build_experiment(data, str(experiment) if experiment else "<defaults>")
    result = run_training(exp)
    if result.last_checkpoint is not None:  # rank 0 only under torchrun
        typer.echo(f"run {result.run_id}: step {result.step}, checkpoint {result.last_checkpoint}")


def register(app: typer.Typer) -> None:
    app.command("transfer")(transfer)
