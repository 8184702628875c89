"""Contracts between the core and the plugins: what a model, a domain, a metric or a reader
must provide, and the optional capabilities (latent access, transfer) code may ask for.

Nothing here imports a plugin or the training loop; plugins import from here.
"""

from gensemble.api.capabilities import (
    ChannelLayer,
    LatentAccess,
    Transferable,
    capabilities_of,
    require,
)
from gensemble.api.model import BatchRandom, GenerativeModel, OptimizerSpec, StepContext
from gensemble.api.plugins import (
    ArchitecturePlugin,
    DomainPlugin,
    MetricPlugin,
    Plugin,
    PluginOptions,
    ReaderPlugin,
)

__all__ = [
    "ArchitecturePlugin",
    "BatchRandom",
    "ChannelLayer",
    "DomainPlugin",
    "GenerativeModel",
    "LatentAccess",
    "MetricPlugin",
    "OptimizerSpec",
    "Plugin",
    "PluginOptions",
    "ReaderPlugin",
    "StepContext",
    "Transferable",
    "capabilities_of",
    "require",
]
