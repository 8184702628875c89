"""The ensembles of an event, one forecast at a time.

An event's cases come in groups: one forecast (reference time) and, when a held-out
member is the truth, one rotation of that member.  Sums over accumulation periods (24 h
rain) are taken within a group, so verification needs one group in memory at a time: the
members read from the store for that forecast only, its enriched members made (or read
from an archive) and dropped once its sums are taken.  Memory then does not grow with the
number of forecasts in the event.

Groups come in the order the cases were always scored in - rotations, then forecasts,
then valid times - and every random draw (the enrichment's seed per case, the climate
generator's stream) is the one a whole-event pass makes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gensemble.core.errors import UserError
from gensemble.events.selection import EventData

LOG = logging.getLogger(__name__)


@dataclass
class Group:
    """The cases of one forecast (and rotation), in valid-time order."""

    ensembles: dict[str, np.ndarray]  # name -> (k, N, C, H, W) physical
    truth: np.ndarray | None  # (k, C, H, W) held-out member, or None (observations)
    cases: np.ndarray  # (k,) index of each case among the event's cases (K)
    label: str  # forecast and rotation
    valid: np.ndarray  # (k,)


class ArchiveMembers:
    """The members of an event's cases from a season archive (``gensemble enrich
    --out``), read lazily case by case."""

    def __init__(self, path: Path, data: EventData) -> None:
        from gensemble.enrichment.archive import DONE
        from gensemble.enrichment.archive_reader import ArchiveReader

        self.archive = archive = ArchiveReader.open(Path(path))
        missing = [v for v in data.variables if v not in archive.ds.data_vars]
        if missing:
            raise UserError(f"the archive {path} has no {missing[0]}", "archive")
        grid = archive.grid_shape(data.variables[0])
        if grid != tuple(data.mask.shape):
            raise UserError(f"the archive {path} is on a {grid[0]}x{grid[1]} grid, the store "
                            f"on {data.mask.shape[0]}x{data.mask.shape[1]}", "archive")  # fmt: skip
        refs, leads, done = archive.reference, archive.leads, archive.done
        self.variables = list(data.variables)
        self.index: list[tuple[int, int]] = []
        lacking = []
        for ref, valid in zip(data.reference, data.valid, strict=True):
            lead = (np.datetime64(valid, "s") - np.datetime64(ref, "s")) / np.timedelta64(1, "h")
            f = np.flatnonzero(refs == np.datetime64(ref, "s"))
            k = np.flatnonzero(np.isclose(leads, lead))
            if not f.size or not k.size or done[f[0], k[0]] != DONE:
                lacking.append(f"{ref} + {lead:g} h")
                continue
            self.index.append((int(f[0]), int(k[0])))
        if lacking:
            raise UserError(
                f"the archive {path} lacks {len(lacking)} of the event's {len(data.valid)} "
                f"cases (first: {lacking[0]})",
                "archive",
            )
        self.n = archive.members
        self.provenance = archive.provenance

    def read(self, case: int) -> tuple[np.ndarray, np.ndarray]:
        """(N, C, H, W) members of the event's case ``case``, and which were generated
        (a hybrid archive also holds its inputs)."""
        f, k = self.index[case]
        return self.archive.fields(f, k, self.variables), self.archive.generated(f, k)


def held_out(cfg: Any, members: int, pseudo: bool) -> list[int | None]:
    """The member held out as the truth in each rotation (``pseudo``), or one pass with
    none (observations are the truth)."""
    return list(range(min(max(cfg.rotations, 1), members))) if pseudo else [None]


def groups(
    data: EventData,
    loaded: Any,
    device: Any,
    enricher: Any,
    cfg: Any,
    pcfg: Any,
    icfg: Any,
    pseudo: bool,
    archive: ArchiveMembers | None = None,
) -> Iterator[Group]:
    """The event's groups: raw members (M - 1 when one is held out as the truth),
    enriched (N made by ``enricher``, or the archive's), hybrid (raw plus N - M of the
    enriched) and climate (N unconditional draws)."""
    holdouts = held_out(cfg, data.members_per_case, pseudo)
    gen = torch.Generator().manual_seed(cfg.seed)
    forecasts = [np.flatnonzero(data.reference == r) for r in np.unique(data.reference)]
    for r, held in enumerate(holdouts):
        for cases in forecasts:
            ens: dict[str, list[np.ndarray]] = {}
            truth = []
            for k in cases:
                members = data.read(int(k))
                if held is not None:
                    truth.append(members[held])
                    members = np.delete(members, held, axis=0)
                ens.setdefault("raw", []).append(members)
                if archive is not None or cfg.enrich > 0:
                    if archive is not None:
                        fields, made = archive.read(int(k))
                    else:
                        torch.manual_seed(cfg.seed + int(k))
                        fields = enricher.enrich(members, cfg.enrich, icfg, pcfg).fields
                        made = np.ones(fields.shape[0], dtype=bool)
                    ens.setdefault("enriched", []).append(fields)
                    extra = max(fields.shape[0] - members.shape[0], 1)
                    ens.setdefault("hybrid", []).append(
                        np.concatenate([members, fields[made][:extra]]).astype(np.float32)
                    )
                n = max(cfg.enrich if archive is None else archive.n, members.shape[0])
                climate = loaded.generate_physical(n, gen, device=device)
                ens.setdefault("climate", []).append(climate.numpy())
            group = Group(
                {name: np.stack(v) for name, v in ens.items()},
                np.stack(truth) if truth else None,
                cases,
                f"{data.reference[cases[0]]}#{r}",
                data.valid[cases],
            )
            ens, truth = {}, []  # the per-case arrays are in the group now
            yield group
            group = None  # dropped before the next group is read  # noqa: F841
