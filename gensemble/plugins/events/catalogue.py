"""High-impact events over the built-in domains, with the public sources their dates,
areas and observed extremes were checked in (November 2026).

Two South-East France cases fall inside the prototype's AROME-EPS training period
(June 2020 - November 2021): the Gard/Cévennes event of 19 September 2020 and Storm Alex.
"""

from __future__ import annotations

import logging

from gensemble.api import Event, Threshold, box, hookimpl

LOG = logging.getLogger(__name__)

RAIN_24H = (Threshold("rr", 100.0, "mm", 24.0), Threshold("rr", 200.0, "mm", 24.0))

BUILTIN = (
    Event(
        name="alex",
        title="Storm Alex: Vésubie and Roya floods (Alpes-Maritimes)",
        domains=("se_france", "france_extended"),
        start="2020-10-02T00:00:00",
        end="2020-10-03T06:00:00",
        region=box(6.85, 7.75, 43.85, 44.25),
        thresholds=(Threshold("rr", 20.0, "mm/h"), *RAIN_24H, Threshold("gust10", 25.0, "m/s")),
        sources=(
            "Interpraevent 2024, 'Storm Alex - flood disaster Alpes-Maritimes' (Cerema): "
            "2-3 Oct 2020, Vésubie, Roya and lower Tinée, locally 500-600 mm in 24 h, "
            "Les Mesches 660 mm/24h; https://interpraevent2024.at/about/"
            "natural-disasters-in-history/storm-alex-flood-disaster-alpes-maritimes-france",
            "LCI, Météo-France statement of 3 Oct 2020: 200-350 mm generally inland, up to "
            "500 mm; 577 mm at Mons (Var), 582 mm at Limone (Italy)",
        ),
        observed="500-600 mm in 24 h in the upper Vésubie and Roya; 660 mm/24h at Les Mesches",
        notes="Stationary Mediterranean heavy-precipitation event under Storm Alex.",
    ),
    Event(
        name="gard_2020",
        title="Cévennes / Gard heavy precipitation (Valleraugue)",
        domains=("se_france", "france_extended"),
        start="2020-09-19T00:00:00",
        end="2020-09-20T00:00:00",
        region=box(3.35, 4.25, 43.8, 44.3),
        thresholds=(Threshold("rr", 30.0, "mm/h"), *RAIN_24H),
        sources=(
            "LCI, 'Ces chiffres qui montrent que l'épisode cévenol du Gard est exceptionnel' "
            "(Sep 2020), citing Observatoire Keraunos: Valleraugue 718 mm in 24 h of which "
            "360 mm in 3 h; Saumane 437 mm; Le Vigan 378 mm",
            "France Télévisions, 'Intempéries dans le Gard: le village de Valleraugue est "
            "ravagé' (20 Sep 2020): storms of 18-19 Sep, the Hérault 5 m up",
        ),
        observed="718 mm in 24 h at Valleraugue (360 mm in 3 h)",
        notes="Quasi-stationary thunderstorms at the foot of the Cévennes.",
    ),
    Event(
        name="hans",
        title="Storm Hans: floods and landslides in southern Norway and Sweden",
        domains=("nordic",),
        start="2023-08-07T00:00:00",
        end="2023-08-10T00:00:00",
        region=box(8.5, 14.0, 59.5, 62.0),
        thresholds=(
            Threshold("rr", 10.0, "mm/h"),
            Threshold("rr", 50.0, "mm", 24.0),
            Threshold("rr", 100.0, "mm", 24.0),
        ),  # fmt: skip
        sources=(
            "Pledge Times / dpa (8 Aug 2023): NVE and MET Norway red warnings; SMHI red "
            "warning for up to 100 mm in 24 h in western Sweden on 8-9 Aug",
            "De Standaard and NRK reports (9 Aug 2023): Braskereidfoss dam on the Glomma "
            "(Innlandet) partly failed; thousands evacuated, record river levels",
        ),
        observed="red warnings for up to 100 mm/24h; record floods on the Glomma and Randsfjorden",
        notes="Slow low-pressure system with prolonged heavy rain in August.",
    ),
    Event(
        name="aline",
        title="Storm Aline: Vésubie and Roya again in flood",
        domains=("se_france", "france_extended"),
        start="2023-10-19T18:00:00",
        end="2023-10-20T18:00:00",
        region=box(6.85, 7.75, 43.85, 44.25),
        thresholds=(Threshold("rr", 10.0, "mm/h"), Threshold("rr", 100.0, "mm", 24.0)),
        sources=(
            "Actual News Magazine / France 3 (20 Oct 2023): 80-120 mm inland overnight, "
            "180 mm at Saint-Martin-Vésubie, 150 mm in the Roya valley; red rain-flood "
            "warning lifted at 10 am",
        ),
        observed="180 mm at Saint-Martin-Vésubie, 150 mm in the Roya valley",
    ),
)


@hookimpl
def gensemble_events() -> list[Event]:
    return list(BUILTIN)
