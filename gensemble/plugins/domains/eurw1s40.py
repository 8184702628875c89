"""French domains on the AROME-EPS EURW1S40 product grid.

EURW1S40: regular latitude/longitude, 0.025°, 37.5–55.4°N × 12°W–16°E, 717 × 1121 points
(rows from the south).  ``se_france`` is the prototype's 256 × 256 window (rows 120:376,
columns 540:796, about 40.5–46.9°N, 1.5–7.9°E); ``france_extended`` a larger non-square
window covering metropolitan France and Corsica.
"""

from __future__ import annotations

import logging

from pydantic import Field

from gensemble.api import CropOptions, CroppedGridDomain, Grid, hookimpl

LOG = logging.getLogger(__name__)

EURW1S40 = dict(x0=-12.0, y0=37.5, dx=0.025, dy=0.025, nx=1121, ny=717)


def eurw1s40_grid() -> Grid:
    return Grid.from_crs("EPSG:4326", name="EURW1S40", **EURW1S40)


class SEFranceOptions(CropOptions):
    row0: int = Field(120, ge=0, description="first row (from the south) of the crop")
    col0: int = Field(540, ge=0, description="first column (from the west) of the crop")
    ny: int = Field(256, ge=8)
    nx: int = Field(256, ge=8)


class FranceExtendedOptions(SEFranceOptions):
    row0: int = Field(120, ge=0, description="40.5°N")
    col0: int = Field(260, ge=0, description="5.5°W")
    ny: int = Field(440, ge=8, description="to 51.475°N")
    nx: int = Field(620, ge=8, description="to 9.975°E (Corsica included)")


class SEFrance(CroppedGridDomain):
    """South-East France: the prototype's 256x256 window of the AROME-EPS 0.025° grid."""

    name = "se_france"
    description = "South-East France, 256x256 crop of AROME-EPS EURW1S40 (0.025 deg)"
    Options = SEFranceOptions

    def native_grid(self) -> Grid:
        return eurw1s40_grid()

    def crop_window(self) -> tuple[int, int, int, int]:
        o = self.options
        return o.row0, o.col0, o.ny, o.nx


class FranceExtended(SEFrance):
    """Metropolitan France and Corsica: non-square window of the AROME-EPS 0.025° grid."""

    name = "france_extended"
    description = "France + Corsica, 440x620 crop of AROME-EPS EURW1S40 (non-square)"
    Options = FranceExtendedOptions


@hookimpl
def gensemble_domains() -> list[type]:
    return [SEFrance, FranceExtended]
