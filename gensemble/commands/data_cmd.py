"""``gensemble data ...``: synthetic ensembles, store preparation, inspection, regridding."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from gensemble.core.errors import UserError
from gensemble.core.registry import get_registry

LOG = logging.getLogger(__name__)

data_app = typer.Typer(help="Prepare and inspect training data.", no_args_is_help=True)
OPT_HELP = "domain option KEY=VALUE (repeatable), e.g. --opt ny=128"


def domain_from_cli(name: str, opts: list[str]):  # -> DomainPlugin
    """Instantiate a domain from its name and KEY=VALUE options (validated)."""
    from pydantic import ValidationError

    from gensemble.core.config import apply_overrides, format_validation_error

    cls = get_registry().get("domain", name)
    options = apply_overrides({}, opts)
    try:
        return cls(options)
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, f"--domain {name}", "options")) from None


@data_app.command("synth")
def synth(
    domain: str = typer.Option(None, "--domain", "-d", help="domain name (--system: se_france)"),
    n: int = typer.Option(64, "-n", min=1, help="number of samples (dates x members)"),
    members: int = typer.Option(8, "--members", "-m", min=1, help="members per date"),
    out: Path = typer.Option(..., "--out", "-o", help="output netCDF file"),
    seed: int = typer.Option(0, help="random seed"),
    spread: float = typer.Option(0.35, min=0.0, max=0.95, help="member perturbation amplitude"),
    opt: list[str] = typer.Option([], "--opt", help=OPT_HELP),
    event: str = typer.Option(
        None, "--event", help="one forecast over this event's window, its extreme injected"
    ),
    system: str = typer.Option(
        None,
        "--system",
        help="a system with a known law (mesoscale, mesoscale_underdispersive): -n dates of "
        "--members members and their truth, written into the folder --out",
    ),
    size: int = typer.Option(32, "--size", min=8, help="--system: grid points per side"),
) -> None:
    """Write a synthetic ensemble (CF netCDF) on a domain's grid, or with --system a
    forecast system whose law is known (members, truth, store and description)."""
    from gensemble.data.synth import write_synth_ensemble

    if system is not None:
        from gensemble.data.system_files import write_system

        crop = [f"ny={size}", f"nx={size}", *opt]
        dom = domain_from_cli(domain or "se_france", crop)
        files = write_system(system, dom, math.ceil(n / members), members, seed, out)
        typer.echo(
            f"wrote {files.folder}: {files.dates} dates x {files.n_members} members "
            f"(members.nc; members.zarr with the truth), their truth (truth.nc) and system.json"
        )
        return
    if domain is None:
        raise UserError("give the domain (--domain) or a system (--system)")
    dom = domain_from_cli(domain, opt)
    dates = math.ceil(n / members)
    ev = None
    if event is not None:
        from gensemble.events.selection import get_event

        ev = get_event(event)
        if dom.name not in ev.domains:
            raise UserError(f"event {event} is defined on {', '.join(ev.domains)}, not {dom.name}")
        lon, lat = dom.grid().lonlat()
        if not ev.mask(lon, lat).any():
            raise UserError(f"event {event}: its region has no point of this {dom.name} grid")
    dates = write_synth_ensemble(dom, dates, members, out, seed=seed, spread=spread, event=ev)
    typer.echo(
        f"wrote {out}: {dates} dates x {members} members = {dates * members} samples "
        f"on {dom.name} {dom.grid().shape}"
    )


@data_app.command("prepare")
def prepare(
    sources: list[Path] = typer.Argument(..., help="raw files (netCDF, GRIB, prototype CSV index)"),
    domain: str = typer.Option(..., "--domain", "-d"),
    out: Path = typer.Option(..., "--out", "-o", help="output zarr store"),
    fmt: str = typer.Option("auto", "--format", help="auto, netcdf, grib or npy"),
    method: str = typer.Option("bilinear", help="bilinear, nearest or area"),
    compression: str = typer.Option("none", help="none (fastest loading), zstd or lz4"),
    overwrite: bool = typer.Option(False, help="replace an existing store"),
    opt: list[str] = typer.Option([], "--opt", help=OPT_HELP),
    truth: list[Path] = typer.Option(
        [],
        "--truth",
        help="verifying truth file (analysis, gridded obs), one field per "
        "valid time (repeatable): for generative post-processing",
    ),
) -> None:
    """Regrid raw files onto a domain and write a training store with statistics."""
    from gensemble.data.prepare import prepare_store

    store = prepare_store(
        domain_from_cli(domain, opt), sources, out, fmt, method, compression, overwrite, truth
    )
    q = (
        "clean"
        if not (store.quality.get("nan_count") or store.quality.get("out_of_range"))
        else "has NaN/out-of-range values (see warning)"
    )
    typer.echo(f"wrote {out}: {store.n_samples} samples, {store.shape}, {q}")
    if store.has_truth:
        typer.echo(f"truth: {store.summary()['truth']}")


@data_app.command("inspect")
def inspect(
    path: Path = typer.Argument(..., help="zarr store, or a raw netCDF/GRIB/prototype file"),
    as_json: bool = typer.Option(False, "--json"),
    fmt: str = typer.Option("auto", "--format", help="raw files: auto or a reader name"),
) -> None:
    """Summarise a store (shape, variables, ranges, statistics) or a raw file (variables
    and their canonical names, units, grid and CRS, times, domains covered)."""
    from gensemble.data.store import Store

    if not path.exists():
        raise UserError(f"{path} not found (neither a store nor a raw file)")
    if not (path / "zarr.json").is_file():
        _inspect_raw(path, fmt, as_json)
        return
    st = Store(path)
    summary = st.summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    con = Console(width=140)
    g = summary["grid"]
    con.print(
        f"[bold]{st.path}[/bold] domain={st.domain} samples={st.n_samples} "
        f"shape={list(st.shape)} members={summary['members']} "
        f"time={summary['time_range'][0]}..{summary['time_range'][1]}"
    )
    con.print(
        f"grid {g['crs']}, spacing {g['spacing_m'][0]:.0f} x {g['spacing_m'][1]:.0f} m, "
        f"lon {g['extent_lonlat'][0]:.2f}..{g['extent_lonlat'][1]:.2f}, "
        f"lat {g['extent_lonlat'][2]:.2f}..{g['extent_lonlat'][3]:.2f}, "
        f"area {g['area_km2']:.0f} km2; static: {summary['static']}"
    )
    con.print(f"verifying truth: {summary['truth']}")
    sample = st.read(slice(0, min(st.n_samples, 256)))
    table = Table(
        title="variables (physical units over the first 256 samples; stats on transformed values)"
    )
    for col in (
        "variable",
        "units",
        "min",
        "max",
        "mean",
        "NaN",
        "out of range",
        "mean_T",
        "std_T",
    ):
        table.add_column(col)
    q = st.quality
    for i, name in enumerate(st.variable_names):
        v, s = sample[:, i], summary["variables"][name]
        table.add_row(
            name,
            s["units"],
            f"{np.nanmin(v):.3g}",
            f"{np.nanmax(v):.3g}",
            f"{np.nanmean(v):.3g}",
            str(q.get("nan_count", {}).get(name, 0)),
            str(q.get("out_of_range", {}).get(name, 0)),
            f"{s['mean_T']:.4g}",
            f"{s['std_T']:.4g}",
        )
    con.print(table)
    for pos in q.get("first_positions", [])[:5]:
        con.print(f"  {pos}")


def _inspect_raw(path: Path, fmt: str, as_json: bool) -> None:
    from gensemble.data.inspect_raw import inspect_raw

    info = inspect_raw(path, fmt)
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    con = Console(width=140)
    g = info["grid"]
    con.print(f"[bold]{path}[/bold]: {info['samples']} samples, {info['time_coverage']}")
    con.print(
        f"grid: {g['kind']}; CRS {g.get('crs', '-')}; shape {g.get('shape', '-')}; "
        f"lon/lat extent {g.get('extent_lonlat', '-')}"
    )
    table = Table(title="fields")
    for col in ("variable", "name in file", "units in file", "units", "long name"):
        table.add_column(col)
    for f in info["fields"]:
        name = f["variable"] if f["canonical"] else f"{f['variable']} (not a registered variable)"
        table.add_row(name, f["in_file"], f["units_in_file"], f["units"], f["long_name"])
    con.print(table)
    cover = Table(title="registered domains (default options) covered")
    cover.add_column("domain")
    cover.add_column("covered")
    for name, c in info["domains"].items():
        cover.add_row(name, c.get("error") or f"{100 * c['covered']:.1f}% of {c['shape']}")
    con.print(cover)
    for note in info["notes"]:
        con.print(f"  note: {note}")


@data_app.command("regrid")
def regrid(
    source: Path = typer.Argument(..., help="netCDF or GRIB file"),
    domain: str = typer.Option(..., "--domain", "-d"),
    out: Path = typer.Option(..., "--out", "-o", help="output netCDF on the domain grid"),
    method: str = typer.Option("bilinear", help="bilinear, nearest or area"),
    weights: Path = typer.Option(None, help="ESMF/xESMF weight file to apply instead"),
    save_weights: Path = typer.Option(None, help="also write the weights in ESMF format"),
    opt: list[str] = typer.Option([], "--opt", help=OPT_HELP),
) -> None:
    """Regrid every field of a file onto a domain grid (reports points not covered)."""
    from gensemble.data.cf import to_cf_dataset, write_netcdf
    from gensemble.data.prepare import require_coverage
    from gensemble.data.readers import open_source
    from gensemble.data.regrid import make_regridder, read_esmf_weights, write_esmf_weights

    dom = domain_from_cli(domain, opt)
    src = open_source(source)
    grid = dom.grid()
    if src.grid is None:
        raise UserError(f"{source}: samples are already on a domain grid; nothing to regrid")
    if weights is not None:
        rg = read_esmf_weights(weights, src.grid.shape, grid.shape)
    else:
        rg = make_regridder(src.grid, grid, method)  # type: ignore[arg-type]
    require_coverage(rg, source, dom)
    if save_weights is not None:
        write_esmf_weights(rg, save_weights)
    batches = list(src.batches(src.variables))  # one pass over the file
    stacked = np.stack([rg(b.fields) for b in batches])  # (time, member, var, y, x)
    fields = {name: stacked[:, :, i] for i, name in enumerate(src.variables)}
    valid = np.array([b.time[0] for b in batches])
    lead = np.array([b.lead_time_h[0] for b in batches], dtype=np.float64)
    ds = to_cf_dataset(grid, fields, valid, batches[0].member, dom.name, lead_h=lead)
    write_netcdf(ds, out)
    typer.echo(
        f"wrote {out}: {len(src.variables)} fields on {dom.name} {grid.shape}; "
        f"{rg.n_outside} of {rg.outside.size} points outside the source (NaN)"
    )


@data_app.command("domain")
def domain_info(
    name: str = typer.Argument(..., help="domain name"),
    opt: list[str] = typer.Option([], "--opt", help=OPT_HELP),
) -> None:
    """Describe a domain: grid, spacing, extent, area, corners."""
    typer.echo(json.dumps(domain_from_cli(name, opt).describe(), indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
