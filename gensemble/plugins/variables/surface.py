"""Surface variables of kilometre-scale ensembles (AROME-EPS, MEPS) and their aliases in
met.no netCDF, ECMWF GRIB and the Météo-France prototype."""

from __future__ import annotations

import logging

from gensemble.api import Variable, hookimpl

LOG = logging.getLogger(__name__)

WIND = ("wind10m",)
BUILTIN = (
    Variable(
        "rr",
        "mm/h",
        "precipitation rate",
        "lwe_precipitation_rate",
        "log1p",
        (0.0, 500.0),
        ("rr", "precipitation_amount", "tp", "tirf", "precip"),
        (("m", 1000.0, 0.0),),
        thresholds=(1.0, 5.0, 10.0, 20.0, 50.0),
        synthetic="precipitation",
    ),
    Variable(
        "u10",
        "m/s",
        "eastward wind at 10 m",
        "eastward_wind",
        "none",
        (-100.0, 100.0),
        ("u10", "10u", "x_wind_10m", "u"),
        vector=(WIND[0], 0),
        synthetic="wind_u",
    ),
    Variable(
        "v10",
        "m/s",
        "northward wind at 10 m",
        "northward_wind",
        "none",
        (-100.0, 100.0),
        ("v10", "10v", "y_wind_10m", "v"),
        vector=(WIND[0], 1),
        synthetic="wind_v",
    ),
    Variable(
        "ff10",
        "m/s",
        "wind speed at 10 m",
        "wind_speed",
        "none",
        (0.0, 100.0),
        ("ff10", "wind_speed_10m", "10si", "si10"),
        thresholds=(1.39, 2.78, 5.56, 8.33, 11.11),
        synthetic="wind_speed",
    ),
    Variable(
        "t2m",
        "K",
        "air temperature at 2 m",
        "air_temperature",
        "none",
        (180.0, 340.0),
        ("t2m", "2t", "air_temperature_2m", "t2"),
        (("degC", 1.0, 273.15), ("C", 1.0, 273.15)),
        thresholds=(278.15, 283.15, 288.15, 293.15, 298.15, 303.15),
        synthetic="temperature",
    ),
    Variable(
        "orog",
        "m",
        "surface altitude",
        "surface_altitude",
        "none",
        (-500.0, 9000.0),
        ("orog", "altitude", "z_surf", "surface_geopotential_height"),
        synthetic="orography",
    ),
    Variable(
        "mslp",
        "hPa",
        "air pressure at mean sea level",
        "air_pressure_at_sea_level",
        "none",
        (850.0, 1090.0),
        ("mslp", "msl", "prmsl", "air_pressure_at_sea_level", "pmer"),
        (("Pa", 0.01, 0.0),),
        synthetic="pressure",
    ),
    Variable(
        "gust10",
        "m/s",
        "wind speed of gust at 10 m",
        "wind_speed_of_gust",
        "none",
        (0.0, 120.0),
        ("gust10", "fg10", "10fg", "i10fg", "wind_speed_of_gust", "gust"),
        thresholds=(10.8, 17.2, 24.5, 32.7),
        synthetic="gust",
    ),
    Variable(
        "rh2m",
        "1",
        "relative humidity at 2 m",
        "relative_humidity",
        "logit",
        (0.0, 1.0),
        ("rh2m", "r2", "2r", "relative_humidity_2m", "hurs"),
        (("%", 0.01, 0.0),),
        thresholds=(0.9, 0.95),
        synthetic="humidity",
    ),
    Variable(
        "tcc",
        "1",
        "total cloud cover",
        "cloud_area_fraction",
        "logit",
        (0.0, 1.0),
        ("tcc", "cloud_area_fraction", "clt"),
        (("%", 0.01, 0.0),),
        thresholds=(0.5, 0.875),
        synthetic="cloud",
    ),
)


@hookimpl
def gensemble_variables() -> list[Variable]:
    return list(BUILTIN)
