"""The partner's own variable: a 3-second gust with its warning thresholds, and one
deliberately invalid definition (listed with its error; nothing else breaks)."""

from gensemble.api import Variable, hookimpl

GUST3S = Variable(
    "gust3s",
    "m/s",
    "3-second wind gust at 10 m",
    "wind_speed_of_gust",
    "none",
    (0.0, 90.0),
    ("gust3s", "fx3s", "wind_gust_3s"),
    (("km/h", 1 / 3.6, 0.0),),
    thresholds=(15.0, 25.0, 33.0),
    synthetic="gust",
)

BROKEN = Variable(
    "bad_var", "1", "an invalid definition", transform="cube_root", valid_range=(5.0, 1.0)
)


@hookimpl
def gensemble_variables() -> list[Variable]:
    return [GUST3S, BROKEN]
