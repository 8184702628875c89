"""Former home of the plugin base classes, kept so partner packages written against it
still import; new code imports from :mod:`gensemble.api`."""

import logging

from gensemble.api.plugins import (  # noqa: F401
    ArchitecturePlugin,
    DomainPlugin,
    MetricPlugin,
    Plugin,
    PluginOptions,
    ReaderPlugin,
)
from gensemble.core.kinds import KINDS

LOG = logging.getLogger(__name__)

BASE_FOR_KIND = {k.name: k.base for k in KINDS.values()}
