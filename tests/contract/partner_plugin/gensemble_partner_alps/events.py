"""The partner's own high-impact event, shipped in its package."""

from __future__ import annotations

from gensemble.api import Event, Threshold, box, hookimpl


@hookimpl
def gensemble_events() -> list[Event]:
    return [
        Event(
            name="alps_foehn_2020",
            title="Partner case: heavy rain on the Maritime Alps",
            domains=("se_france",),
            start="2020-10-02T00:00:00",
            end="2020-10-03T00:00:00",
            region=box(6.9, 7.6, 43.9, 44.2),
            thresholds=(Threshold("rr", 15.0, "mm/h"), Threshold("rr", 80.0, "mm", 24.0)),
            sources=("partner weather service bulletin of 3 Oct 2020",),
            observed="150 mm/24h at the partner's gauges",
        )
    ]
