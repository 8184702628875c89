"""The forecasts of a store that fall in an event's window and region.

A *case* is one forecast (reference time) at one valid time in the window: its M members
(M, C, H, W) in physical units, read from the store when the case is scored
(:meth:`EventData.read`), never all at once.  Accumulations (24 h rain from hourly rates)
are made by :func:`gensemble.events.verify.accumulate` from the consecutive valid times of
one forecast.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from gensemble.api.events import Event
from gensemble.core.errors import UserError
from gensemble.core.registry import get_registry, unknown_name_message

LOG = logging.getLogger(__name__)


def get_event(name: str) -> Event:
    registry = get_registry()
    names = registry.names("event")
    if name not in names:
        raise UserError(unknown_name_message("event", name, sorted(names)))
    return registry.get("event", name)


@dataclass
class EventData:
    event: Event
    variables: list[str]
    valid: np.ndarray  # (K,) valid times
    reference: np.ndarray  # (K,) forecast reference times
    samples: np.ndarray  # (K, M) the store's sample of each member of each case
    mask: np.ndarray  # (H, W) region
    lon: np.ndarray
    lat: np.ndarray
    step_h: float
    dx_km: float = 1.0  # grid spacing, for neighbourhood sizes in km
    grid: Any = None  # the store's Grid (projection of the maps)
    store: Any = None  # where the members are read from, case by case
    order: tuple[int, ...] = ()  # the store's channel of each variable

    @property
    def members_per_case(self) -> int:
        return int(self.samples.shape[1])

    def read(self, k: int) -> np.ndarray:
        """The members (M, C, H, W) of case ``k``, physical, float32."""
        return self.store.read(self.samples[k])[:, list(self.order)].astype(np.float32)


def select_event(store, event: Event, variables: list[str]) -> EventData:  # noqa: ANN001
    """The store's forecasts in the event (``variables``: those the model makes)."""
    if store.domain not in event.domains:
        raise UserError(
            f"event {event.name} is defined on {', '.join(event.domains)}; the store is "
            f"on {store.domain}"
        )
    lon, lat = store.grid.lonlat()
    mask = event.mask(lon, lat)
    if not mask.any():
        raise UserError(f"event {event.name}: its region has no point of the store's grid")
    t0, t1 = event.window()
    times = store.times()
    leads = np.nan_to_num(store.lead_times().astype(float))
    inside = np.flatnonzero((times >= t0) & (times <= t1))
    if inside.size == 0:
        raise UserError(
            f"event {event.name} ({t0} .. {t1}) is outside the store's dates "
            f"({times.min()} .. {times.max()})"
        )
    ref = times - (leads * 3600).astype("timedelta64[s]")
    groups: dict[tuple, list[int]] = {}
    for i in inside:
        groups.setdefault((ref[i], times[i]), []).append(int(i))
    m = min(len(v) for v in groups.values())
    if m < 2:
        raise UserError(f"event {event.name}: the store has fewer than 2 members per forecast")
    keys = sorted(groups)
    order = [store.variable_names.index(v) for v in variables]
    samples = np.array([groups[k][:m] for k in keys], dtype=np.int64)
    valid = np.array([k[1] for k in keys])
    steps = np.diff(np.unique(valid)).astype("timedelta64[s]").astype(float) / 3600
    return EventData(
        event=event,
        variables=list(variables),
        valid=valid,
        reference=np.array([k[0] for k in keys]),
        samples=samples,
        mask=mask,
        lon=lon,
        lat=lat,
        step_h=float(steps.min()) if steps.size else 1.0,
        dx_km=float(np.mean(store.grid.spacing_m())) / 1e3,
        grid=store.grid,
        store=store,
        order=tuple(order),
    )
