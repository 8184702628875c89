"""``data prepare`` cost against the number of samples (4x256x256 fields, 8 members).

The files are written two ways: with netCDF's default chunking (what gensemble wrote
before, and what files from elsewhere may have: a chunk spans dozens of time steps) and
with gensemble's writer (one chunk per time step).  Each is prepared with the reader as
it is (blocks of whole chunks) and, for the default-chunked files, with the reader as it
was (one time step at a time, emulated in the same run), so the ratio is measured here.
Time per sample should not grow with the number of samples.

    python benchmarks/prepare.py [--sizes 256,512,1024,2048] [--old-max 1024]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).parent))

import netCDF4  # noqa: E402

from gensemble.core.registry import get_registry  # noqa: E402
from gensemble.data.cf import write_netcdf  # noqa: E402
from gensemble.data.prepare import prepare_store  # noqa: E402
from gensemble.data.synth import synth_ensemble  # noqa: E402


def write_default_chunks(ds, path: Path) -> None:  # noqa: ANN001
    enc = {v: {"zlib": True, "complevel": 1} for v in ds.data_vars if ds[v].ndim >= 2}
    ds.to_netcdf(path, engine="netcdf4", encoding=enc)


def timed_prepare(domain, path: Path, out: Path, step_by_step: bool = False) -> float:  # noqa: ANN001
    patch = mock.patch("gensemble.data.readers.xarray_fields.time_block", lambda *a: 1)
    t0 = time.perf_counter()
    if step_by_step:
        with patch:
            prepare_store(domain, [path], out, overwrite=True)
    else:
        prepare_store(domain, [path], out, overwrite=True)
    took = time.perf_counter() - t0
    shutil.rmtree(out)
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024,2048")
    ap.add_argument("--old-max", type=int, default=1024, help="largest size for the old reader")
    args = ap.parse_args()
    domain = get_registry().get("domain", "se_france")({})
    members = 8
    print("data prepare, se_france 4x256x256, 8 members per date; seconds and ms per sample")
    with tempfile.TemporaryDirectory() as tmp:
        for n in map(int, args.sizes.split(",")):
            ds = synth_ensemble(domain, n // members, members, show_progress=False)
            default, chunked = Path(tmp) / f"d{n}.nc", Path(tmp) / f"c{n}.nc"
            write_default_chunks(ds, default)
            write_netcdf(ds, chunked)
            del ds
            with netCDF4.Dataset(default) as nc:
                chunks = nc["t2m"].chunking()
            row = [f"{n:5d} samples (default chunks {chunks})"]
            for label, path, old in (
                ("gensemble-chunked, reader now", chunked, False),
                ("default-chunked, reader now", default, False),
                ("default-chunked, reader before", default, True),
            ):
                if old and n > args.old_max:
                    continue
                s = timed_prepare(domain, path, Path(tmp) / "s.zarr", old)
                row.append(f"  {label}: {s:7.1f} s, {1e3 * s / n:6.1f} ms/sample")
            print("\n".join(row), flush=True)
            default.unlink()
            chunked.unlink()


if __name__ == "__main__":
    main()
