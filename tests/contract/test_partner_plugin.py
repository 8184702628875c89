"""A partner's separate distribution adds a domain without touching this repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from tests.conftest import ROOT, run_cli, tiny_experiment_file

PARTNER = ROOT / "tests" / "contract" / "partner_plugin"


@pytest.fixture(scope="module")
def partner_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    target = tmp_path_factory.mktemp("partner_site")
    build = tmp_path_factory.mktemp("partner_src")
    # build from a copy so no build/ or egg-info lands in the repository
    subprocess.run(["cp", "-r", str(PARTNER), str(build / "src")], check=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(build / "src"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return {"PYTHONPATH": f"{target}:{ROOT}"}


def test_partner_domain_listed_with_its_distribution(partner_env: dict[str, str]) -> None:
    proc = run_cli("plugins", "--json", env=partner_env)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    alps = rows["partner_alps"]
    assert alps["kind"] == "domain" and alps["error"] is None
    assert alps["distribution"] == "gensemble-partner-alps" and alps["version"] == "0.3.1"
    # the broken entry point of the same package is listed with its error, others still work
    assert "import failed" in rows["broken"]["error"]
    assert rows["se_france"]["error"] is None


@pytest.mark.slow
def test_partner_domain_usable_in_a_run(partner_env: dict[str, str], tmp_path: Path) -> None:
    raw, store = tmp_path / "alps.nc", tmp_path / "alps.zarr"
    proc = run_cli(
        "data",
        "synth",
        "--domain",
        "partner_alps",
        "-n",
        "8",
        "-m",
        "4",
        "--out",
        raw,
        "--opt",
        "ny=32",
        env=partner_env,
    )
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(
        "data",
        "prepare",
        raw,
        "--domain",
        "partner_alps",
        "--opt",
        "ny=32",
        "--out",
        store,
        env=partner_env,
    )
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("data", "inspect", store, "--json", env=partner_env)
    summary = json.loads(proc.stdout)
    assert summary["domain"] == "partner_alps" and summary["shape"] == [4, 32, 64]
    proc = run_cli(
        "config",
        "show",
        "--set",
        "domain.name=partner_alps",
        "--set",
        "domain.options.nx=80",
        "--set",
        "architecture.name=stylegan2",
        "--format",
        "json",
        env=partner_env,
    )
    if "unknown architecture" not in proc.stderr:
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["domain"]["options"]["nx"] == 80


def test_partner_variable_listed_and_invalid_one_reported(partner_env: dict[str, str]) -> None:
    proc = run_cli("plugins", "--json", env=partner_env)
    assert proc.returncode == 0, proc.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(proc.stdout)}
    gust = rows[("variable", "gust3s")]
    assert gust["error"] is None and gust["distribution"] == "gensemble-partner-alps"
    bad = [r for r in json.loads(proc.stdout) if r["name"] == "bad_var"]
    assert bad and "unknown transform 'cube_root'" in bad[0]["error"]
    assert rows[("variable", "rr")]["error"] is None  # nothing else broke


@pytest.mark.slow
def test_partner_variable_trains_generates_and_evaluates(
    partner_env: dict[str, str], tmp_path: Path
) -> None:
    """synth -> prepare -> train -> generate -> evaluate on the partner's variable."""
    opts = ("--opt", "ny=16", "--opt", "nx=24")
    raw, store = tmp_path / "wind.nc", tmp_path / "wind.zarr"
    for args in (
        ("data", "synth", "--domain", "partner_alps_wind", "-n", "12", "-m", "3", "--out", raw),
        ("data", "prepare", raw, "--domain", "partner_alps_wind", "--out", store),
    ):
        proc = run_cli(*args, *opts, env=partner_env)
        assert proc.returncode == 0, proc.stderr
    exp = tiny_experiment_file(tmp_path, "partner_alps_wind", store)
    proc = run_cli("train", exp, env=partner_env)
    assert proc.returncode == 0, proc.stderr
    ckpt = next((tmp_path / "runs").glob("*/checkpoints/last.safetensors"))
    out = tmp_path / "members.nc"
    proc = run_cli("generate", ckpt, "-n", "3", "--out", out, env=partner_env)
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out) as ds:
        assert ds["gust3s"].attrs["standard_name"] == "wind_speed_of_gust"
        assert ds["gust3s"].attrs["long_name"] == "3-second wind gust at 10 m"
    proc = run_cli(
        "evaluate",
        ckpt,
        "--data",
        store,
        "--metrics",
        "exceedance,w1",
        "-n",
        "4",
        "--split",
        "all",
        "--no-log",
        env=partner_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "exceedance_real/gust3s/gt15" in proc.stdout  # the partner's own thresholds
    # the checkpoint carries the definition: generation works without the partner package
    proc = run_cli("generate", ckpt, "-n", "2", "--out", tmp_path / "m2.nc")
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(tmp_path / "m2.nc") as ds:
        assert ds["gust3s"].attrs["long_name"] == "3-second wind gust at 10 m"


def test_partner_event_listed_and_usable(partner_env: dict[str, str], tmp_path: Path) -> None:
    proc = run_cli("plugins", "--json", env=partner_env)
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    event = rows["alps_foehn_2020"]
    assert event["kind"] == "event" and event["distribution"] == "gensemble-partner-alps"
    proc = run_cli("events", "show", "alps_foehn_2020", env=partner_env)
    assert proc.returncode == 0, proc.stderr
    assert '"points_on_domain"' in proc.stdout and "partner weather service" in proc.stdout
    # a synthetic forecast of it on a crop that holds its region
    crop = ["--opt", "row0=248", "--opt", "col0=740", "--opt", "ny=16", "--opt", "nx=48"]
    out = tmp_path / "ev.nc"
    proc = run_cli(
        "data", "synth", "--domain", "se_france", *crop, "--event", "alps_foehn_2020",
        "--members", "3", "--out", out, env=partner_env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
