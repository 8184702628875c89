"""Events from the command line: catalogue, synthetic Alex, event verification with a
held-out member and with station observations, the HTML report, and refusals."""

from __future__ import annotations

import sqlite3  # noqa: F401 - before netCDF4 can bring its own libsqlite3 into the process
from html.parser import HTMLParser
from pathlib import Path

import mlflow
import numpy as np
import pytest
import xarray as xr
import yaml

from tests.conftest import assert_user_error, run_cli

CROP = {"row0": 248, "col0": 740, "ny": 32, "nx": 64}  # 6.5-8.1 E, 43.7-44.5 N: Alex inside
OPTS = [a for k, v in CROP.items() for a in ("--opt", f"{k}={v}")]


@pytest.fixture(scope="module")
def alex(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("alex")
    raw, store = d / "alex.nc", d / "alex.zarr"
    proc = run_cli("data", "synth", "--domain", "se_france", *OPTS, "--event", "alex",
                   "--members", "5", "--out", raw)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (
        run_cli("data", "prepare", raw, "--domain", "se_france", *OPTS, "--out", store).returncode
        == 0
    )
    cfg = {
        "domain": {"name": "se_france", "options": CROP},
        "architecture": {"name": "stylegan2", "options": {"z_dim": 8, "w_dim": 8,
                         "mapping_layers": 2, "channel_base": 64, "channel_max": 8}},
        "training": {"steps": 2, "batch_size": 4, "log_every": 1},
        "data": {"store": str(store)},
        "tracking": {"uri": f"sqlite:///{d}/mlflow.db", "register_model": False},
        "output_dir": str(d / "runs"),
    }  # fmt: skip
    (d / "exp.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_cli("train", d / "exp.yaml")
    assert proc.returncode == 0, proc.stderr
    run_id = [ln for ln in proc.stdout.splitlines() if ln.startswith("run ")][-1].split()[1][:-1]
    return {"dir": d, "raw": raw, "store": store, "run": run_id, "uri": cfg["tracking"]["uri"]}


def test_catalogue_commands(tmp_path: Path) -> None:
    proc = run_cli("events", "list")
    assert proc.returncode == 0 and "alex" in proc.stdout and "hans" in proc.stdout
    png = tmp_path / "alex.png"
    proc = run_cli("events", "show", "alex", "--out", png)
    assert proc.returncode == 0, proc.stderr
    assert "Interpraevent" in proc.stdout and png.is_file()
    assert_user_error(run_cli("events", "show", "alexx"), "unknown event", "alex")


def test_synthetic_alex_has_its_extreme(alex: dict) -> None:
    with xr.open_dataset(alex["raw"]) as ds:
        rr = ds["rr"].values  # (time, member, y, x), hourly over the window
        assert ds.sizes["time"] == 30
        total = rr.sum(axis=0)  # mm over the event
        assert total.max() > 200 and np.median(total) < 0.3 * total.max()


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images = 0

    def handle_starttag(self, tag, attrs) -> None:  # noqa: ANN001
        self.tags.append(tag)
        if tag == "img" and dict(attrs).get("src", "").startswith("data:image/png;base64,"):
            self.images += 1


def test_event_verification_with_a_held_out_member(alex: dict) -> None:
    report = alex["dir"] / "alex.html"
    proc = run_cli(
        "evaluate", alex["run"], "--uri", alex["uri"], "--event", "alex", "--data", alex["store"],
        "--enrich", "8", "--steps", "5", "--bootstrap", "30", "--rotations", "1",
        "--report", report,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (
        "enriched - raw crps/rr:" in proc.stdout
        and "crps/rr_24h:" in proc.stdout
        and "significant" in proc.stdout
    )
    page = _Page()
    page.feed(report.read_text())
    assert page.tags[0] == "html" and "table" in page.tags
    # region, 3 probability maps (rates and 24 h sums), 3 reliability/rank figures
    assert page.images == 7
    text = report.read_text()
    assert "held-out member" in text and "climate" in text and "hybrid" in text
    assert "gust10_gt25: the model does not make gust10" in text
    # what the data are: synthetic, a member as truth (raw reliable by construction),
    # in-sample (the generator was trained on this very store)
    assert "SYNTHETIC DATA" in text and "reliable by construction" in text
    assert "IN-SAMPLE" in text
    # units, directions, UTC, FSS scales in km, cases and blocks per score
    assert "<td>mm</td>" in text and "<td>mm/h</td>" in text
    assert "<td>lower</td>" in text and "<td>higher</td>" in text and "UTC" in text
    assert "fss_" in text and "km/rr_gt20" in text
    assert "<th>cases</th>" in text and "<th>blocks</th>" in text
    client = mlflow.MlflowClient(alex["uri"])
    metrics = client.get_run(alex["run"]).data.metrics
    assert "event/alex/raw/crps/rr" in metrics and "event/alex/raw/brier/rr_gt20" in metrics
    assert any(a.path.startswith("events") for a in client.list_artifacts(alex["run"]))


def _station_table(alex: dict, **change) -> list[tuple]:
    """(station, lat, lon, time, variable, value) at grid points in the region, observing
    member 0's rain."""
    with xr.open_dataset(alex["raw"]) as ds:
        lat, lon = ds["latitude"].values, ds["longitude"].values
        rr = ds["rr"].values[:, 0]
        times = ds["time"].values
    inside = (lon > 6.9) & (lon < 7.7) & (lat > 43.9) & (lat < 44.2)
    rows, cols = np.nonzero(inside)
    shift = change.get("shift", np.timedelta64(0, "h"))
    out = []
    for s, (r, c) in enumerate(zip(rows[::40], cols[::40], strict=True)):
        for k, t in enumerate(times):
            value = float(change.get("value", rr[k, r, c]))
            if change.get("holes") and s == 0 and k % 5 == 0:
                value = np.nan  # station S0 misses some hours
            out.append((f"S{s}", lat[r, c], lon[r, c], t + shift, "rr", value))
    return out


def _stations(alex: dict, path: Path, **change) -> Path:
    """The stations as a CSV (``variable``: another name for every row)."""
    lines = ["station,lat,lon,time,variable,value"]
    for name, lat, lon, t, var, value in _station_table(alex, **change):
        when = np.datetime_as_string(t, "s")
        lines.append(f"{name},{lat:.5f},{lon:.5f},{when},{change.get('variable', var)},{value}")
    if change.get("far"):
        first = np.datetime_as_string(_station_table(alex)[0][3], "s")
        lines.append(f"FAR,60.0,10.0,{first},rr,1.0")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_event_verification_against_stations_and_refusals(alex: dict, tmp_path: Path) -> None:
    obs = _stations(alex, tmp_path / "obs.csv")
    report = tmp_path / "obs.html"
    args = ("evaluate", alex["run"], "--uri", alex["uri"], "--event", "alex",
            "--data", alex["store"], "--bootstrap", "20", "--no-log")  # fmt: skip
    proc = run_cli(*args, "--obs", obs, "--report", report)
    assert proc.returncode == 0, proc.stderr
    assert "Truth: observations" in report.read_text()
    bad = (
        (_stations(alex, tmp_path / "v.csv", variable="snow"), "snow"),
        (_stations(alex, tmp_path / "n.csv", value="nan"), "no observation"),
    )
    for path, needle in bad:
        assert_user_error(run_cli(*args, "--obs", path), needle)
    # a station off the grid is left out with a note; observations at other times than
    # the forecasts' end in one line and exit 2
    proc = run_cli(*args, "--obs", _stations(alex, tmp_path / "f.csv", far=True))
    assert proc.returncode == 0 and "off the domain's grid left out: FAR" in proc.stdout
    late = _dsg(_station_table(alex, shift=np.timedelta64(30, "D")), tmp_path / "late.nc")
    assert_user_error(run_cli(*args, "--obs", late), "no observation")
    store_args = (
        "evaluate",
        alex["run"],
        "--uri",
        alex["uri"],
        "--data",
        alex["store"],
        "--no-log",
    )
    assert_user_error(run_cli(*store_args, "--event", "aline"), "outside the store's dates")
    assert_user_error(run_cli(*store_args, "--event", "gard_2020"), "no point of the store")
    assert_user_error(run_cli(*store_args, "--event", "hans"), "defined on nordic")
    assert_user_error(run_cli(*store_args, "--event", "nope"), "unknown event")
    proc = run_cli("data", "synth", "--domain", "se_france", *OPTS, "--event", "hans",
                   "--out", tmp_path / "x.nc")  # fmt: skip
    assert_user_error(proc, "nordic")


def _dsg(table: list[tuple], path: Path) -> Path:
    """The stations as CF discrete-sampling-geometry netCDF (timeSeries, orthogonal)."""
    names = list(dict.fromkeys(r[0] for r in table))
    times = np.array(sorted({r[3] for r in table}))
    value = np.full((len(names), len(times)), np.nan)
    lat, lon = np.zeros(len(names)), np.zeros(len(names))
    for name, la, lo, t, _, v in table:
        i = names.index(name)
        lat[i], lon[i] = la, lo
        value[i, np.searchsorted(times, t)] = v
    ds = xr.Dataset(
        {
            "precipitation": (("station", "time"), value, {
                "standard_name": "lwe_precipitation_rate", "units": "mm/h"}),
            "station_name": (("station",), np.array(names), {"cf_role": "timeseries_id"}),
            "lat": (("station",), lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": (("station",), lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
        coords={"time": ("time", times, {"standard_name": "time"})},
        attrs={"featureType": "timeSeries", "Conventions": "CF-1.8"},
    )  # fmt: skip
    ds.to_netcdf(path)
    return path


def test_stations_as_cf_timeseries_with_missing_hours(alex: dict, tmp_path: Path) -> None:
    """The same stations as CF timeSeries netCDF, one missing some hours: every station
    scores with what it has, and the report counts stations and observations."""
    table = _station_table(alex, holes=True)
    nc = _dsg(table, tmp_path / "obs.nc")
    report = tmp_path / "dsg.html"
    proc = run_cli("evaluate", alex["run"], "--uri", alex["uri"], "--event", "alex",
                   "--data", alex["store"], "--bootstrap", "20", "--no-log", "--obs", nc,
                   "--report", report, "--event-metrics", "spread_skill")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = report.read_text()
    n_stations = len({r[0] for r in table})
    assert "<th>stations</th>" in text and f'<td class="num">{n_stations}</td>' in text
    observed = sum(np.isfinite(r[5]) for r in table)
    assert f'<td class="num">{observed}</td>' in text  # hourly scores: every observation
    assert "not computed against station observations" in text
    proc = run_cli("evaluate", alex["run"], "--uri", alex["uri"], "--event", "alex", "--data",
                   alex["store"], "--no-log", "--obs", nc, "--event-metrics", "swd")  # fmt: skip
    assert_user_error(proc, "does not score ensembles")


def test_raw_and_climate_need_only_sample(alex: dict, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Without enriched members no enricher is built (no inversion, no prior draws), so
    any architecture can be verified; registered ensemble metrics join the report."""
    from gensemble.enrichment import pipeline
    from gensemble.events.job import EventJob, run_event
    from gensemble.inference.loaded import LoadedModel
    from gensemble.inference.resolve import resolve_checkpoint

    def refuse(*a, **k) -> None:  # noqa: ANN002, ANN003
        raise AssertionError("an enricher was built for raw and climate ensembles")

    monkeypatch.setattr(pipeline.Enricher, "__init__", refuse)
    path = resolve_checkpoint(alex["run"], alex["uri"], "gensemble", "last")
    job = EventJob("alex", alex["store"], bootstrap=10, rotations=1,
                   report=tmp_path / "r.html", metrics=("spread_skill",))  # fmt: skip
    out = run_event(LoadedModel(path), path, job)
    assert set(out.verification.ensembles) == {"raw", "climate"}
    assert any(r.score.startswith("spread_skill:") for r in out.verification.table)


def test_event_verification_reads_enriched_members_from_an_archive(
    alex: dict, tmp_path: Path
) -> None:
    """A season archive's members verified on the event against stations, case by case;
    a held-out member cannot verify them (they were made from it) and a partial archive
    is refused in one line."""
    ckpt = next(alex["dir"].glob(f"runs/{alex['run']}/checkpoints/last.safetensors"))
    archive = tmp_path / "season.zarr"
    enrich = ("enrich", ckpt, "--data", alex["store"], "-n", "6", "--steps", "2",
              "--dates", "2020-10-01..2020-10-03")  # fmt: skip
    proc = run_cli(*enrich, "--out", archive)
    assert proc.returncode == 0, proc.stderr
    obs = _stations(alex, tmp_path / "obs.csv")
    report = tmp_path / "a.html"
    args = ("evaluate", ckpt, "--event", "alex", "--data", alex["store"], "--bootstrap", "20",
            "--no-log", "--archive", archive)  # fmt: skip
    proc = run_cli(*args, "--obs", obs, "--report", report)
    assert proc.returncode == 0, proc.stderr
    assert "enriched - raw crps/rr:" in proc.stdout and "hybrid - raw" in proc.stdout
    text = report.read_text()
    assert "season.zarr" in text and "Truth: observations" in text
    assert_user_error(run_cli(*args), "held-out member cannot verify them")
    assert_user_error(run_cli(*args, "--obs", obs, "--enrich", "4"), "not both")
    part = tmp_path / "part.zarr"
    proc = run_cli(*enrich, "--leads", "1,2,3", "--out", part)
    assert proc.returncode == 0, proc.stderr
    args = (*args[:-1], part, "--obs", obs)
    assert_user_error(run_cli(*args), "lacks 27 of the event's 30 cases")
