"""`gensemble enrich` and `gensemble calibrate` end to end on a tiny model, and their
one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

from tests.conftest import ROOT, assert_user_error, run_cli, tiny_experiment_file

CKPT = ROOT / "tests" / "fixtures" / "checkpoints" / "stylegan2-format2.safetensors"
GRID = ("--opt", "ny=16", "--opt", "nx=24")
FAST = ("--steps", "15")


def synth(path: Path, *extra: str, domain: str = "se_france", grid=GRID) -> Path:  # noqa: ANN001
    proc = run_cli("data", "synth", "--domain", domain, *grid, "--out", path, *extra)
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.fixture(scope="module")
def forecast(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fc")
    return synth(d / "fc.nc", "-n", "16", "--members", "8", "--seed", "5")


def test_enrich_a_file_with_hybrid_and_holdout(forecast: Path, tmp_path: Path) -> None:
    out = tmp_path / "big.nc"
    proc = run_cli("enrich", CKPT, "--members", forecast, "-n", "12", "--out", out, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "reconstruction RMSE" in proc.stdout
    with xr.open_dataset(out) as ds, xr.open_dataset(forecast) as raw:
        assert ds["t2m"].shape == (2, 12, 16, 24) and ds["generated"].values.all()
        np.testing.assert_array_equal(ds["time"].values, raw["time"].values)
        assert len(ds.attrs["checkpoint_sha256"]) == 64 and ds.attrs["seed"] == 0
        assert sorted(set(ds["source_member"].values[0].tolist())) == list(range(8))
        assert float(ds["rr"].min()) >= 0
    out = tmp_path / "hybrid.nc"
    proc = run_cli(
        "enrich", CKPT, "--members", forecast, "-n", "12", "--out", out, "--hybrid", *FAST
    )
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out) as ds, xr.open_dataset(forecast) as raw:
        assert ds["generated"].values.tolist() == [0] * 8 + [1] * 4
        np.testing.assert_allclose(ds["u10"].values[:, :8], raw["u10"].values, rtol=1e-6)
    proc = run_cli(
        "enrich",
        CKPT,
        "--members",
        forecast,
        "-n",
        "12",
        "--out",
        tmp_path / "h.nc",
        "--holdout",
        "3",
        *FAST,
    )
    assert proc.returncode == 0, proc.stderr
    assert "held-back members" in proc.stdout and "crps_fair/t2m" in proc.stdout
    assert "raw (5)" in proc.stdout and "enriched (12)" in proc.stdout


@pytest.mark.slow
def test_store_calibrate_log_and_reuse(forecast: Path, tmp_path: Path) -> None:
    store = tmp_path / "se.zarr"
    proc = run_cli("data", "prepare", forecast, "--domain", "se_france", *GRID, "--out", store)
    assert proc.returncode == 0, proc.stderr
    ds = xr.open_dataset(forecast)
    ref = str(ds["forecast_reference_time"].values[0])[:19]
    lead = float((ds["time"].values[0] - ds["forecast_reference_time"].values[0]) / 3.6e12)
    # a tiny run of our own, so the calibration can be logged to it
    exp = tiny_experiment_file(tmp_path, "se_france", store)
    proc = run_cli("train", exp)
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("run ")][-1]
    run_id = line.split()[1].rstrip(":")
    uri = ("--uri", f"sqlite:///{tmp_path}/mlflow.db")
    calib = tmp_path / "calib.json"
    proc = run_cli(
        "calibrate",
        run_id,
        "--data",
        store,
        "--dates",
        ref,
        "--leads",
        str(lead),
        "-n",
        "8",
        "--steps",
        "10",
        "--evals",
        "6",
        "--out",
        calib,
        *uri,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(calib.read_text())
    assert record["value_after"] <= record["value_before"] and record["objective"] == "crps"
    assert "tagged run" in proc.stdout
    out = tmp_path / "from_store.nc"
    proc = run_cli(
        "enrich",
        run_id,
        "--data",
        store,
        "--date",
        ref,
        "--lead",
        str(lead),
        "-n",
        "8",
        "--out",
        out,
        "--calibration",
        run_id,
        *FAST,
        *uri,
    )
    assert proc.returncode == 0, proc.stderr
    # the record says which inversion (a, b) were fitted to; enrich says when it differs
    assert record["inversion"]["steps"] == 10
    assert "other inversion settings" in proc.stderr and "steps 10 -> " in proc.stderr
    with xr.open_dataset(out) as got:
        assert got["t2m"].shape == (1, 8, 16, 24)
        assert json.loads(got.attrs["perturbation_b"]) == record["b"]
    enrich = ("enrich", run_id, "--data", store, "--date", ref, "--lead", str(lead), "-n", "8",
              "--out", out, "--calibration", run_id, *uri)  # fmt: skip
    assert_user_error(run_cli(*enrich, *FAST, "--strict"), "other inversion settings", "steps")
    proc = run_cli(*enrich, "--steps", "10", "--strict")  # the calibration's own settings
    assert proc.returncode == 0 and "other inversion settings" not in proc.stderr, proc.stderr
    assert_user_error(
        run_cli(
            "enrich",
            run_id,
            "--data",
            store,
            "--date",
            "1999-01-01",
            "--lead",
            "3",
            "-n",
            "8",
            "--out",
            out,
            *uri,
        ),
        "no members issued at 1999-01-01",
    )


def test_bad_inputs_are_one_line_errors(forecast: Path, tmp_path: Path) -> None:
    out = ("--out", tmp_path / "x.nc", *FAST)
    far = synth(
        tmp_path / "far.nc",
        "-n",
        "2",
        "--members",
        "2",
        domain="nordic",
        grid=("--opt", "ny=16", "--opt", "nx=16"),
    )
    assert_user_error(run_cli("enrich", CKPT, "--members", far, "-n", "4", *out), "another grid")
    three = synth(
        tmp_path / "three.nc",
        "-n",
        "2",
        "--members",
        "2",
        grid=(*GRID, "--opt", "variables=[u10,v10,t2m]"),
    )
    assert_user_error(run_cli("enrich", CKPT, "--members", three, "-n", "4", *out), "rr")
    one = synth(tmp_path / "one.nc", "-n", "2", "--members", "1")
    assert_user_error(run_cli("enrich", CKPT, "--members", one, "-n", "4", *out), "at least 2")
    nan = tmp_path / "nan.nc"
    nan.write_bytes(forecast.read_bytes())
    with netCDF4.Dataset(nan, "a") as nc:
        nc["t2m"][0, 1, 2, 3] = np.nan
    assert_user_error(run_cli("enrich", CKPT, "--members", nan, "-n", "8", *out), "NaN")
    assert_user_error(run_cli("enrich", CKPT, "--members", forecast, "-n", "4", *out), "at least 8")
    assert_user_error(run_cli("enrich", CKPT, "-n", "4", *out), "--members")
    assert_user_error(
        run_cli("enrich", CKPT, "--members", forecast, "--noise", "sometimes", *out), "noise"
    )
