"""Built-in metric plugins, registered through the ``gensemble`` entry point."""

from gensemble.core.hookspecs import hookimpl


@hookimpl
def gensemble_metrics() -> list[type]:
    from gensemble.plugins.metrics.correlation import CorrelationLength
    from gensemble.plugins.metrics.ensemble import CRPS, Brier, RankHistogram, SpreadSkill
    from gensemble.plugins.metrics.extremes import (
        Exceedance,
        FractionsSkillScore,
        RainObjects,
        TailQuantiles,
    )
    from gensemble.plugins.metrics.histograms import Histogram2D
    from gensemble.plugins.metrics.quantiles import QuantileScore
    from gensemble.plugins.metrics.spectrum import Spectrum
    from gensemble.plugins.metrics.swd import SlicedWasserstein
    from gensemble.plugins.metrics.wasserstein import PointwiseW1

    return [
        SlicedWasserstein,
        PointwiseW1,
        Spectrum,
        CorrelationLength,
        QuantileScore,
        Histogram2D,
        CRPS,
        SpreadSkill,
        RankHistogram,
        Brier,
        Exceedance,
        TailQuantiles,
        FractionsSkillScore,
        RainObjects,
    ]
