"""High-impact events over the built-in domains, with the public sources their dates,
areas and observed extremes were checked in (November 2026).

Each event names the stations its extremes were measured at; the registry refuses an
entry whose region misses one.  Two South-East France cases fall inside the prototype's
AROME-EPS training period
(June 2020 - November 2021): the Gard/Cévennes event of 19 September 2020 and Storm Alex.
"""

from __future__ import annotations

import logging

from gensemble.api import Event, Threshold, box, hookimpl

LOG = logging.getLogger(__name__)

RAIN_24H = (Threshold("rr", 100.0, "mm", 24.0), Threshold("rr", 200.0, "mm", 24.0))

#: Storm Hans: south-east Norway (Valdres, Hallingdal, Gudbrandsdalen, Drammen, Innlandet)
#: and the Swedish counties under SMHI red warnings (Värmland, Örebro, Västra Götaland,
#: Halland, western Kronoberg), drawn around the coast so the Skagerrak stays out
HANS_REGION = (
    (7.5, 59.3), (7.5, 62.0), (12.3, 62.0), (15.7, 60.4), (15.7, 58.4),
    (14.5, 56.3), (12.3, 56.3), (11.0, 57.5), (10.3, 59.0), (9.0, 59.0),
)  # fmt: skip

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
            "Météo-France, episode summary of 2-3 Oct 2020: about 500 mm in 24 h at the "
            "official Saint-Martin-Vésubie rain gauge, 200-350 mm generally inland",
            "Interpraevent 2024, 'Storm Alex - flood disaster Alpes-Maritimes' (Cerema): "
            "2-3 Oct 2020, Vésubie, Roya and lower Tinée, locally 500-600 mm in 24 h; "
            "https://interpraevent2024.at/about/natural-disasters-in-history/"
            "storm-alex-flood-disaster-alpes-maritimes-france",
        ),
        observed="about 500 mm in 24 h at the Saint-Martin-Vésubie gauge (Météo-France); "
        "locally 500-600 mm in the upper Vésubie and Roya",
        notes="Stationary Mediterranean heavy-precipitation event under Storm Alex.",
        stations=(("Saint-Martin-Vésubie", 44.069, 7.256),),
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
            "(Sep 2020), citing Observatoire Keraunos: Valleraugue 718 mm over the episode, "
            "of which 360 mm in 3 h; Saumane 437 mm; Le Vigan 378 mm",
            "Météo-France and press reports give 666-718 mm at Valleraugue for the episode "
            "of 18-19 Sep 2020 (the figures differ by gauge and by the period summed)",
            "France Télévisions, 'Intempéries dans le Gard: le village de Valleraugue est "
            "ravagé' (20 Sep 2020): storms of 18-19 Sep, the Hérault 5 m up",
        ),
        observed="666-718 mm over the episode at Valleraugue (episode totals, not 24 h "
        "amounts), 360 mm in 3 h",
        notes="Quasi-stationary thunderstorms at the foot of the Cévennes.",
        stations=(("Valleraugue", 44.083, 3.642), ("Le Vigan", 43.991, 3.606)),
    ),
    Event(
        name="hans",
        title="Storm Hans: floods and landslides in southern Norway and Sweden",
        domains=("nordic",),
        start="2023-08-07T00:00:00",
        end="2023-08-10T00:00:00",
        region=HANS_REGION,
        thresholds=(
            Threshold("rr", 10.0, "mm/h"),
            Threshold("rr", 50.0, "mm", 24.0),
            Threshold("rr", 100.0, "mm", 24.0),
        ),  # fmt: skip
        sources=(
            "MET Norway press release on Hans (Aug 2023): daily precipitation records at 14 "
            "stations in eastern Norway, among them Geilo, Maristova and Vang in Valdres "
            "(records since 1902)",
            "Pledge Times / dpa (8 Aug 2023): NVE and MET Norway red warnings; SMHI red "
            "warning for up to 100 mm in 24 h in western Sweden on 8-9 Aug",
            "Krisinformation.se (Aug 2023): SMHI red warnings for high flows in Halland, "
            "western Kronoberg, Västra Götaland, Värmland and Örebro counties",
            "NVE flood summaries (Aug 2023): floods of 100-year return period or more on the "
            "Drammenselva and the Gudbrandsdalslågen; Braskereidfoss dam on the Glomma "
            "partly failed",
        ),
        observed="daily rain records at 14 Norwegian stations (Geilo, Maristova, Vang); "
        ">=100-year floods on the Drammenselva and the Gudbrandsdalslågen",
        notes="Slow low-pressure system with prolonged heavy rain in August.",
        stations=(
            ("Geilo", 60.534, 8.206),
            ("Maristova", 61.100, 8.020),
            ("Vang i Valdres", 61.125, 8.570),
            ("Karlstad (Värmland)", 59.380, 13.500),
            ("Örebro", 59.274, 15.207),
            ("Göteborg (Västra Götaland)", 57.708, 11.974),
            ("Halmstad (Halland)", 56.674, 12.857),
            ("Ljungby (Kronoberg)", 56.833, 13.941),
        ),
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
            "Météo-France (Oct 2023): 200-250 mm very locally on the Mercantour",
            "Actual News Magazine / France 3 (20 Oct 2023): 80-120 mm inland overnight, "
            "180 mm at Saint-Martin-Vésubie, 150 mm in the Roya valley; red rain-flood "
            "warning lifted at 10 am",
        ),
        observed="200-250 mm very locally on the Mercantour (Météo-France); 180 mm at "
        "Saint-Martin-Vésubie, 150 mm in the Roya valley",
        stations=(("Saint-Martin-Vésubie", 44.069, 7.256),),
    ),
)


@hookimpl
def gensemble_events() -> list[Event]:
    return list(BUILTIN)
