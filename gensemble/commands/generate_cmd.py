"""``gensemble generate``: members in physical units from a trained model."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)


def generate(
    source: str = typer.Argument(..., help="RUN_ID, run folder or checkpoint file"),
    n: int = typer.Option(None, "-n", min=1, help="number of members (default 100)"),
    out: Path = typer.Option(Path("members.nc"), "--out", help=".nc or .zarr"),
    seed: int = typer.Option(0, help="random seed of the latent draws"),
    truncation: float = typer.Option(1.0, help="truncation psi (1: none)"),
    batch: int = typer.Option(16, min=1),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N"),
    uri: str = typer.Option(None, help="tracking URI when SOURCE is a run id"),
    experiment_name: str = typer.Option("gensemble", "--experiment"),
    which: str = typer.Option("last", help="last or best checkpoint of a run"),
    compile_: bool = typer.Option(
        False, "--compile", help="torch.compile the generator (CUDA: with CUDA graphs)"
    ),
    compile_backend: str = typer.Option("inductor", help="torch.compile backend"),
    latents: Path = typer.Option(
        None, "--latents", help=".npy of latent codes: one member per code (z or W+)"
    ),
    latent_space: str = typer.Option("z", "--latent-space", help="z or w+ (with --latents)"),
    noise: str = typer.Option(
        "random", "--noise", help="with --latents: const (stored maps), random or zero"
    ),
) -> None:
    """Write N generated members in physical units on the domain's grid (CF netCDF/zarr),
    or one member per given latent code (--latents)."""
    from gensemble.inference.generate import write_members
    from gensemble.inference.loaded import LoadedModel
    from gensemble.inference.resolve import resolve_checkpoint

    path = resolve_checkpoint(source, uri, experiment_name, which)
    loaded = LoadedModel(path)
    if compile_:
        loaded.model.to(device)
        mode = "reduce-overhead" if str(device).startswith("cuda") else None
        loaded.model.compile_networks(compile_backend, mode, training=False)
    if latents is not None:
        from gensemble.inference.generate import write_from_latents

        if n is not None:
            raise UserError("-n and --latents exclude each other (one member per code)")
        written, n = write_from_latents(
            loaded, latents, out, latent_space, noise, truncation, seed, batch, device
        )
    else:
        if latent_space != "z" or noise != "random":
            raise UserError("--latent-space and --noise apply to --latents")
        n = 100 if n is None else n
        written = write_members(loaded, n, out, seed, truncation, batch, device)
    typer.echo(f"wrote {n} members of {', '.join(loaded.variables)} to {written}")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
