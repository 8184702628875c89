"""Variables as a plugin kind: built-in definitions, readers and transforms following them,
conflicts reported, raw files inspected."""

from __future__ import annotations

import json
import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from gensemble.api.hooks import hookimpl
from gensemble.api.variables import Variable
from gensemble.core.errors import UserError
from gensemble.core.registry import Registry
from gensemble.data.normalize import Normalizer
from gensemble.data.readers import open_source
from gensemble.data.variables import cf_attrs, get_variable, known_variables
from tests.conftest import run_cli


def test_builtins_are_plugins_with_full_definitions() -> None:
    known = known_variables()
    assert {"rr", "u10", "v10", "t2m", "orog", "mslp", "gust10", "rh2m", "tcc", "ff10"} <= set(
        known
    )
    for var in known.values():
        var.validate()
    assert known["tcc"].transform == "logit" and known["rr"].transform == "log1p"
    assert known["u10"].vector == ("wind10m", 0) and known["v10"].vector == ("wind10m", 1)
    assert "msl" in known["mslp"].aliases and "10fg" in known["gust10"].aliases
    assert known["gust10"].thresholds and known["t2m"].thresholds[0] == 278.15
    assert cf_attrs("mslp")["standard_name"] == "air_pressure_at_sea_level"
    with pytest.raises(UserError, match="unknown variable 'mslpp'; did you mean 'mslp'"):
        get_variable("mslpp")


def test_invalid_definitions_are_named() -> None:
    with pytest.raises(ValueError, match="unknown transform 'sqrt'"):
        Variable("x", "1", "x", transform="sqrt").validate()
    with pytest.raises(ValueError, match="min 5.0 is not below max 1.0"):
        Variable("x", "1", "x", valid_range=(5.0, 1.0)).validate()
    with pytest.raises(ValueError, match="finite valid_range"):
        Variable("x", "1", "x", transform="logit").validate()


def _module(name: str, variables: list[Variable]) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.gensemble_variables = hookimpl(lambda: variables)
    return mod


def test_two_packages_defining_a_variable_differently_are_reported() -> None:
    a = Variable("sd", "m", "snow depth", aliases=("sd",))
    same = Variable("sd", "m", "snow depth", aliases=("sd",))
    other = Variable("sd", "cm", "snow depth")
    reg = Registry()
    reg.register_module(_module("a", [a]), "a", "dist-a")
    reg.register_module(_module("b", [same]), "b", "dist-b")  # identical: nothing to report
    assert not [e for e in reg.entries if e.error]
    reg.register_module(_module("c", [other]), "c", "dist-c")
    errors = [e for e in reg.entries if e.error]
    assert len(errors) == 1 and "conflicting definition of variable 'sd'" in errors[0].error
    assert "dist-a" in errors[0].error and reg.get("variable", "sd").units == "m"
    bad = Variable("bad", "1", "bad", transform="cube")
    reg.register_module(_module("d", [bad]), "d", "dist-d")
    assert any("unknown transform 'cube'" in (e.error or "") for e in reg.entries)


def test_definitions_round_trip_through_json() -> None:
    for var in known_variables().values():
        back = Variable.from_dict(json.loads(json.dumps(var.to_dict())))
        assert back == var


def test_logit_and_log1p_normalisation_invert_exactly() -> None:
    variables = [get_variable(n) for n in ("rr", "tcc", "t2m")]
    norm = Normalizer(
        np.zeros(3),
        np.ones(3),
        [False] * 3,
        transforms=[v.transform for v in variables],
        bounds=[v.valid_range for v in variables],
    )
    x = torch.stack(
        [torch.rand(4, 8, 8) * 20, torch.rand(4, 8, 8) * 0.98 + 0.01, 280 + torch.randn(4, 8, 8)],
        dim=1,
    )
    y = norm.forward(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(norm.inverse(y), x, atol=1e-4, rtol=1e-4)
    edge = x.clone()
    edge[:, 1] = 0.0  # clear sky: logit stays finite, comes back near 0
    assert torch.isfinite(norm.forward(edge)).all()
    assert float(norm.inverse(norm.forward(edge))[:, 1].max()) < 1e-3
    state, meta = norm.state()
    again = Normalizer.from_state(state, meta)
    torch.testing.assert_close(again.inverse(y), x, atol=1e-4, rtol=1e-4)


def test_meps_mslp_is_read_in_hpa(shared_data: Path) -> None:
    src = open_source(shared_data / "meps_pred_20230615T06Z_small.nc")
    assert src.origins["mslp"] == "air_pressure_at_sea_level" and src.units["mslp"] == "Pa"
    batch = next(src.batches(["mslp", "ff10"]))
    assert 950 < float(batch.fields[:, 0].mean()) < 1050  # hPa, converted from Pa
    assert math.isfinite(float(batch.fields[:, 1].mean()))


def test_synthetic_data_for_new_variables_and_refusal(tmp_path: Path) -> None:
    out = tmp_path / "all.nc"
    proc = run_cli(
        "data",
        "synth",
        "--domain",
        "nordic",
        "--opt",
        "ny=16",
        "--opt",
        "nx=24",
        "--opt",
        "variables=[u10,v10,mslp,gust10,rh2m,tcc,rr]",
        "-n",
        "4",
        "-m",
        "2",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    store = tmp_path / "all.zarr"
    proc = run_cli(
        "data",
        "prepare",
        out,
        "--domain",
        "nordic",
        "--opt",
        "ny=16",
        "--opt",
        "nx=24",
        "--opt",
        "variables=[u10,v10,mslp,gust10,rh2m,tcc,rr]",
        "--out",
        store,
    )
    assert proc.returncode == 0 and "clean" in proc.stdout, proc.stdout + proc.stderr
    from gensemble.data.store import Store

    st = Store(store)
    assert [v.name for v in st.variables] == ["u10", "v10", "mslp", "gust10", "rh2m", "tcc", "rr"]
    x = st.read(slice(0, 8))
    assert 900 < x[:, 2].mean() < 1100 and (x[:, 4] > 0).all() and (x[:, 4] < 1).all()
    assert (x[:, 3] >= np.hypot(x[:, 0], x[:, 1])).all()  # gusts exceed the mean wind
    norm = st.normalizer()
    back = norm.inverse(norm.forward(torch.from_numpy(x))).numpy()
    np.testing.assert_allclose(back[:, :5], x[:, :5], rtol=1e-4, atol=1e-3)

    from gensemble.data.synth import recipes_for

    with pytest.raises(UserError, match="no synthetic generator for variable 'sd'"):
        recipes_for([Variable("sd", "m", "snow depth")])


def test_inspect_a_raw_file(shared_data: Path) -> None:
    proc = run_cli("data", "inspect", shared_data / "era5-levels-members.grib", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["grid"]["crs"] == "WGS 84" and info["grid"]["epsg"] == 4326
    assert {f["variable"] for f in info["fields"]} == {"z850", "z500", "t850", "t500"}
    assert info["domains"]["nordic"]["covered"] == 1.0
    assert "2017-01-01" in info["time_coverage"]
    proc = run_cli("data", "inspect", shared_data / "meps_pred_20230615T06Z_small.nc")
    assert proc.returncode == 0, proc.stderr
    assert "air_pressure_at_sea_level" in proc.stdout and "hPa" in proc.stdout
    assert "0.0% of [256, 256]" in proc.stdout  # a 10x10 extract off the domains
