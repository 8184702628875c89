"""A synthetic system written out: members and truth as CF netCDF, a training store of
the members, and the system's description (``gensemble data synth --system NAME``).

* ``members.nc``: (time, member, y, x), one forecast per date (reference time and a
  24 h lead time), marked synthetic;
* ``truth.nc``: (time, member=1, y, x), the truth of each date, marked synthetic and
  ``gensemble_truth = 1`` - never a member, never to be inverted;
* ``members.zarr``: the prepared store of the members (what a generator trains on),
  with the truth of each date beside them (what generative post-processing trains on);
* ``system.json``: name, seed and law, enough to redraw any date's state, members, truth
  or an oracle ensemble (:mod:`gensemble.data.synth_system`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.atomic import atomic_path
from gensemble.core.errors import UserError
from gensemble.data.cf import SYNTHETIC_ATTR, to_cf_dataset, write_netcdf
from gensemble.data.synth_system import VARIABLES, describe, get_system, sample_system

LOG = logging.getLogger(__name__)

#: global attribute (value 1) of a file holding a system's truth
TRUTH_ATTR = "gensemble_truth"


@dataclass
class SystemFiles:
    folder: Path
    members: Path
    truth: Path
    store: Path
    description: Path
    dates: int
    n_members: int


def write_system(
    name: str, domain: Any, dates: int, members: int, seed: int, out: Path
) -> SystemFiles:
    """Draw the system on ``domain``'s grid and write its files into folder ``out``."""
    from gensemble.data.prepare import prepare_store

    law = get_system(name)
    names = [v.name for v in domain.variables()]
    if sorted(names) != sorted(VARIABLES):
        raise UserError(
            f"system {name} makes {', '.join(VARIABLES)}; domain {domain.name} is set up "
            f"for {', '.join(names)}",
            "domain_options",
        )
    grid = domain.grid()
    sample = sample_system(grid, law, dates, members, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = SystemFiles(
        out,
        out / "members.nc",
        out / "truth.nc",
        out / "members.zarr",
        out / "system.json",
        dates,
        members,
    )
    info = describe(name, law, seed) | {"domain": domain.name, "dates": dates, "members": members}
    for path, fields, ids, extra in (
        (files.members, sample.members, np.arange(members), {}),
        (
            files.truth,
            {v: x[:, None] for v, x in sample.truth.items()},
            np.arange(1),
            {TRUTH_ATTR: 1},
        ),
    ):
        ds = to_cf_dataset(
            grid,
            fields,
            sample.valid,
            ids,
            domain.name,
            ref=sample.reference,
            title=f"gensemble synthetic system {name}",
        )
        ds.attrs.update({SYNTHETIC_ATTR: 1, "gensemble_system": json.dumps(info), **extra})
        write_netcdf(ds, path)
    with atomic_path(files.description) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=1))
    prepare_store(domain, [files.members], files.store, overwrite=True, truth=[files.truth])
    return files
