"""A partner weather service's domain, shipped as its own pip package."""

from pydantic import Field

from gensemble.api import CropOptions, CroppedGridDomain, Grid, hookimpl


class AlpsOptions(CropOptions):
    ny: int = Field(48, ge=8)
    nx: int = Field(64, ge=8)


class PartnerAlps(CroppedGridDomain):
    """The Alps on a 0.02 degree lat/lon grid (partner example)."""

    name = "partner_alps"
    description = "Alps, 0.02 deg lat/lon (partner package example)"
    Options = AlpsOptions

    def native_grid(self) -> Grid:
        return Grid.from_crs("EPSG:4326", 5.0, 44.0, 0.02, 0.02, 500, 250, name="alps")

    def crop_window(self) -> tuple[int, int, int, int]:
        return 50, 100, self.options.ny, self.options.nx


class WindOptions(AlpsOptions):
    variables: list[str] = Field(default_factory=lambda: ["u10", "v10", "gust3s"])


class PartnerAlpsWind(PartnerAlps):
    """The same grid with the partner's own gust variable."""

    name = "partner_alps_wind"
    description = "Alps winds with the partner's 3-s gust (partner package example)"
    Options = WindOptions


@hookimpl
def gensemble_domains() -> list[type]:
    return [PartnerAlps, PartnerAlpsWind]
