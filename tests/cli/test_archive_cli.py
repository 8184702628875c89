"""A season of forecasts into one archive: two torchrun ranks (gloo) share the cases, a
job killed with SIGKILL half-way and started again redoes only the unfinished cases, and
the archive equals the one an uninterrupted run writes; refusals in one line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.conftest import ROOT, assert_user_error, run_cli

CKPT = ROOT / "tests" / "fixtures" / "checkpoints" / "stylegan2-format2.safetensors"
FIELDS = ["rr", "u10", "v10", "t2m", "generated", "source_member", "reconstruction_rmse"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("season")
    proc = run_cli("data", "synth", "--system", "mesoscale", "-n", "48", "--members", "4",
                   "--size", "16", "--opt", "nx=24", "--out", d / "sys")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return d / "sys" / "members.zarr"


def torchrun(store: Path, out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", "-m", "gensemble", "enrich", str(CKPT), "--data", str(store), "--dates",
           "2021-01-01..2021-01-12", "-n", "6", "--steps", "120", "--noise", "random",
           "--out", str(out), *extra]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip


def kill_everything_writing(archive: Path) -> int:
    """SIGKILL every process whose command line names ``archive`` - torchrun and its
    ranks, which torchrun starts in sessions of their own - as a node failure would."""
    hits = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(archive).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)
                hits += 1
    return hits


def done(archive: Path) -> int:
    try:
        with xr.open_zarr(archive, consolidated=False) as ds:
            return int((ds["case_done"].values == 1).sum())
    except Exception:  # noqa: BLE001 - not created yet
        return 0


@pytest.mark.slow
def test_two_ranks_killed_and_resumed_equal_an_uninterrupted_run(
    store: Path, tmp_path: Path
) -> None:
    ref = torchrun(store, tmp_path / "ref.zarr")
    out, err = ref.communicate(timeout=600)
    assert ref.returncode == 0, err
    assert "wrote" in out and "12 cases (0 done before" in out
    with xr.open_zarr(tmp_path / "ref.zarr", consolidated=False) as ds:
        assert ds["t2m"].shape == (12, 1, 6, 16, 24) and (ds["case_done"].values == 1).all()
        assert set(ds["case_rank"].values.ravel().tolist()) == {0, 1}  # both ranks worked
        assert (ds["case_steps"].values > 0).all()

    killed = torchrun(store, tmp_path / "run.zarr")
    deadline = time.time() + 600
    while done(tmp_path / "run.zarr") < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert kill_everything_writing(tmp_path / "run.zarr") >= 3  # torchrun and both ranks
    killed.communicate()
    before = done(tmp_path / "run.zarr")
    assert 2 <= before < 12, before
    again = torchrun(store, tmp_path / "run.zarr")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert f"12 cases ({before} done before" in out
    with (
        xr.open_zarr(tmp_path / "ref.zarr", consolidated=False) as a,
        xr.open_zarr(tmp_path / "run.zarr", consolidated=False) as b,
    ):
        assert (b["case_done"].values == 1).all()
        for name in FIELDS:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    assert not (tmp_path / "run.zarr.claims").exists()


def test_archive_refusals_are_one_line(store: Path, tmp_path: Path) -> None:
    base = ("enrich", CKPT, "--data", store, "-n", "4", "--steps", "2")
    proc = run_cli(*base, "--dates", "2021-01-01..2021-01-02", "--out", tmp_path / "a.zarr")
    assert proc.returncode == 0, proc.stderr
    assert "2 cases (0 done before, 2 made" in proc.stdout
    proc = run_cli(*base, "--dates", "2021-01-01..2021-01-02", "--out", tmp_path / "a.zarr")
    assert "2 cases (2 done before, 0 made" in proc.stdout
    other = ("enrich", CKPT, "--data", store, "-n", "5", "--steps", "2")
    proc = run_cli(*other, "--dates", "2021-01-01..2021-01-02", "--out", tmp_path / "a.zarr")
    assert_user_error(proc, "made by another job")
    proc = run_cli(*base, "--dates", "2022-01-01..2022-02-01", "--out", tmp_path / "b.zarr")
    assert_user_error(proc, "no forecast issued in 2022-01-01..2022-02-01")
    proc = run_cli(*base, "--dates", "2021-01-01", "--leads", "6", "--out", tmp_path / "b.zarr")
    assert_user_error(proc, "no forecast at lead 6 h", "leads: 24")
    proc = run_cli(*base, "--dates", "2021-01-01", "--out", tmp_path / "b.nc")
    assert_user_error(proc, "an archive is a .zarr folder")
    assert not (tmp_path / "b.zarr").exists()


def test_slurm_enrich_writes_a_torchrun_script(store: Path, tmp_path: Path) -> None:
    proc = run_cli("slurm", "enrich", CKPT, "--data", store, "--dates", "2021-01-01..2021-03-31",
                   "-n", "120", "--out", "season.zarr", "--nodes", "2", "--gpus", "4",
                   cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    script = proc.stdout
    assert "#SBATCH --nodes=2" in script and "--nproc-per-node=4" in script
    assert "-m gensemble enrich" in script and "--dates 2021-01-01..2021-03-31" in script
    assert f"--out {tmp_path / 'season.zarr'}" in script and f"--data {store}" in script
    proc = run_cli("slurm", "enrich", CKPT, "--data", store, "--dates", "2021-01-01",
                   "--out", "x.nc")  # fmt: skip
    assert_user_error(proc, "an archive is a .zarr folder")
    proc = run_cli("slurm", "enrich", CKPT, "--data", store, "--dates", "2021-01-01",
                   "--bogus", "3", "--out", "x.zarr")  # fmt: skip
    assert_user_error(proc, "No such option: --bogus")
    proc = run_cli("slurm", "enrich", CKPT, "--out", "x.zarr")
    assert_user_error(proc, "--data STORE and --dates")


def test_verify_an_archive_case_by_case_in_member_chunks(store: Path, tmp_path: Path) -> None:
    import json
    import shutil

    import zarr

    archive = tmp_path / "season.zarr"
    proc = run_cli("enrich", CKPT, "--data", store, "-n", "6", "--steps", "2", "--hybrid",
                   "--dates", "2021-01-01..2021-01-06", "--out", archive)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    runs = {}
    for chunk in ("0", "2"):
        out = tmp_path / f"chunk{chunk}.json"
        proc = run_cli("verify", archive, "--data", store, "--bootstrap", "50",
                       "--member-chunk", chunk, "--out", out)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "6 cases" in proc.stdout and "difference from raw-4" in proc.stdout
        runs[chunk] = json.loads(out.read_text())
    whole, chunked = runs["0"], runs["2"]
    assert whole["ensembles"] == {"raw-4": 4, "enriched-6": 6, "enriched-6:generated": 2}
    assert (whole["member_chunk"], chunked["member_chunk"]) == (6, 2)
    assert whole["cases"] == 6 and whole["variables"] == ["rr", "u10", "v10", "t2m"]
    assert "outside the archive's dates" in whole["thresholds_from"]
    assert len(whole["scores"]) == len(chunked["scores"]) > 0
    for a, b in zip(whole["scores"], chunked["scores"], strict=True):
        assert a[:3] == b[:3]
        np.testing.assert_allclose(np.array(a[3:], float), np.array(b[3:], float),
                                   rtol=1e-6, atol=1e-9, err_msg=str(a[:3]))  # fmt: skip
    # a hybrid archive keeps its inputs first, flagged as not generated
    with xr.open_zarr(archive, consolidated=False) as ds:
        assert (ds["generated"].values[..., :4] == 0).all()

    # an unfinished case is left out and said so; a store without truth is refused
    part = tmp_path / "part.zarr"
    shutil.copytree(archive, part)
    zarr.open_group(str(part), mode="a")["case_done"][2, 0] = 0
    proc = run_cli("verify", part, "--data", store, "--bootstrap", "0")
    assert proc.returncode == 0, proc.stderr
    assert "5 cases" in proc.stdout and "1 cases are not finished" in proc.stdout
    damaged = next(iter(sorted((part / "t2m" / "c").rglob("*"), key=str)))
    while damaged.is_dir():
        damaged = next(iter(sorted(damaged.iterdir())))
    damaged.write_bytes(damaged.read_bytes()[:100])  # a chunk cut short
    assert_user_error(run_cli("verify", part, "--data", store), "t2m of the case",
                      "cannot be read", "damaged")  # fmt: skip
    bare = tmp_path / "bare.zarr"
    shutil.copytree(store, bare)
    shutil.rmtree(bare / "truth_fields")
    assert_user_error(run_cli("verify", archive, "--data", bare), "holds no verifying truth")
    assert_user_error(run_cli("verify", store, "--data", store), "is not a gensemble archive")
    assert_user_error(run_cli("verify", tmp_path / "no.zarr", "--data", store), "does not exist")
    assert_user_error(run_cli("verify", archive, "--data", store, "--event", "nowhere"),
                      "nowhere")  # fmt: skip


def test_a_studys_test_dates_as_the_case_list(store: Path, tmp_path: Path) -> None:
    """``--dates study.json``: the forecasts of the study's test split, however scattered;
    the SLURM script gets the record's absolute path."""
    import json

    record = tmp_path / "study.json"
    test = ["2021-01-02T00:00:00", "2021-01-05T00:00:00.000000000", "2030-01-01T00:00:00"]
    split = {"train": [], "calibrate": [], "test": test}
    record.write_text(json.dumps({"format": "gensemble-study/1", "split": split}))
    out = tmp_path / "test.zarr"
    proc = run_cli("enrich", CKPT, "--data", store, "-n", "4", "--steps", "2", "--dates", record,
                   "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "2 cases (0 done before" in proc.stdout
    with xr.open_zarr(out, consolidated=False) as ds:
        refs = ds["forecast_reference_time"].values.astype("datetime64[D]").astype(str).tolist()
    assert refs == ["2021-01-02", "2021-01-05"]
    proc = run_cli("slurm", "enrich", CKPT, "--data", store, "--dates", "study.json", "-n", "4",
                   "--out", "s.zarr", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0 and f"--dates {record}" in proc.stdout, proc.stderr
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    base = ("enrich", CKPT, "--data", store, "-n", "4", "--out", tmp_path / "x.zarr")
    assert_user_error(run_cli(*base, "--dates", bad), "is not a study record")
    bad.write_text(json.dumps({"format": "gensemble-study/1", "split": {"test": ["2030-01-01"]}}))
    assert_user_error(run_cli(*base, "--dates", bad), "none of the 1 test dates")
    assert_user_error(run_cli(*base, "--dates", tmp_path / "no.json"), "does not exist")
