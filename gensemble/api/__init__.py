"""Everything a plugin author needs, in one place: ``from gensemble.api import ...``.

Contracts between the core and the plugins - what a model, a domain, a metric, a reader,
a variable or an event must provide, the optional model capabilities, the hook marker,
the error family - plus the helpers metric and domain plugins build on (batched kernels,
figure helpers, the grid and the cropped-domain base).  Nothing here imports a plugin or
the training loop.  The data-layer helpers load on first use, so importing the API stays
light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gensemble.api.capabilities import (
    ChannelLayer,
    InputTransform,
    LatentAccess,
    NoiseMode,
    StaticConditioned,
    Transferable,
    Truncatable,
    capabilities_of,
    require,
)
from gensemble.api.conditional import (
    ConditionalSampling,
    ConditionSpec,
    ForecastBatch,
    check_condition,
)
from gensemble.api.events import Event, Threshold, box
from gensemble.api.hooks import hookimpl
from gensemble.api.metric_checks import DegenerateMetricWarning
from gensemble.api.metric_context import EvalContext
from gensemble.api.metric_result import MetricResult
from gensemble.api.model import BatchRandom, GenerativeModel, OptimizerSpec, StepContext, StepStats
from gensemble.api.plugins import (
    ArchitecturePlugin,
    DomainPlugin,
    ForeignWeights,
    MetricPlugin,
    Plugin,
    PluginOptions,
    ReaderPlugin,
)
from gensemble.api.variables import Variable
from gensemble.core.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    NotFoundError,
    PluginError,
    UserError,
)

if TYPE_CHECKING:
    from gensemble.data.domain_base import CropOptions, CroppedGridDomain
    from gensemble.data.grid import Grid
    from gensemble.data.readers.base import RawSource, SampleBatch
    from gensemble.evaluation import ensemble_scores
    from gensemble.evaluation import figures as metric_figures
    from gensemble.evaluation import ops as metric_ops
    from gensemble.evaluation.ops import (
        box_mean,
        chunks,
        dct2,
        dct_matrix,
        quantiles_sorted,
        radial_average,
        radial_index_dct,
        radial_index_fft,
        sorted_columns,
        w1_sorted,
    )

#: names loaded on first use: (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "Grid": ("gensemble.data.grid", "Grid"),
    "CropOptions": ("gensemble.data.domain_base", "CropOptions"),
    "CroppedGridDomain": ("gensemble.data.domain_base", "CroppedGridDomain"),
    "RawSource": ("gensemble.data.readers.base", "RawSource"),
    "SampleBatch": ("gensemble.data.readers.base", "SampleBatch"),
    "metric_ops": ("gensemble.evaluation.ops", None),
    "sorted_columns": ("gensemble.evaluation.ops", "sorted_columns"),
    "chunks": ("gensemble.evaluation.ops", "chunks"),
    "dct_matrix": ("gensemble.evaluation.ops", "dct_matrix"),
    "dct2": ("gensemble.evaluation.ops", "dct2"),
    "radial_index_dct": ("gensemble.evaluation.ops", "radial_index_dct"),
    "radial_index_fft": ("gensemble.evaluation.ops", "radial_index_fft"),
    "radial_average": ("gensemble.evaluation.ops", "radial_average"),
    "box_mean": ("gensemble.evaluation.ops", "box_mean"),
    "w1_sorted": ("gensemble.evaluation.ops", "w1_sorted"),
    "quantiles_sorted": ("gensemble.evaluation.ops", "quantiles_sorted"),
    "metric_figures": ("gensemble.evaluation.figures", None),
    "ensemble_scores": ("gensemble.evaluation.ensemble_scores", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'gensemble.api' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    return value if attr is None else getattr(value, attr)


__all__ = [
    "ArchitecturePlugin",
    "BatchRandom",
    "ChannelLayer",
    "CheckpointError",
    "ConditionSpec",
    "ConditionalSampling",
    "ForecastBatch",
    "check_condition",
    "ConfigError",
    "CropOptions",
    "CroppedGridDomain",
    "DataError",
    "DegenerateMetricWarning",
    "DomainPlugin",
    "EvalContext",
    "Event",
    "ForeignWeights",
    "GenerativeModel",
    "Grid",
    "InputTransform",
    "LatentAccess",
    "MetricPlugin",
    "MetricResult",
    "NoiseMode",
    "NotFoundError",
    "OptimizerSpec",
    "Plugin",
    "PluginError",
    "PluginOptions",
    "RawSource",
    "ReaderPlugin",
    "SampleBatch",
    "StaticConditioned",
    "StepContext",
    "StepStats",
    "Threshold",
    "Transferable",
    "Truncatable",
    "UserError",
    "Variable",
    "box",
    "sorted_columns",
    "chunks",
    "dct_matrix",
    "dct2",
    "radial_index_dct",
    "radial_index_fft",
    "radial_average",
    "box_mean",
    "w1_sorted",
    "quantiles_sorted",
    "capabilities_of",
    "hookimpl",
    "ensemble_scores",
    "metric_figures",
    "metric_ops",
    "require",
]
