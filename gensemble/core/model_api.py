"""Former home of the model contract, kept so code written against it still imports;
new code imports from :mod:`gensemble.api`."""

from gensemble.api.capabilities import ChannelLayer, LatentAccess, Transferable  # noqa: F401
from gensemble.api.model import (  # noqa: F401
    BatchRandom,
    GenerativeModel,
    OptimizerSpec,
    StepContext,
)
