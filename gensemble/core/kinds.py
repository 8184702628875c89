"""The one table of plugin kinds.

Adding a kind (variables, events...) is one entry here: the hook specification, the
registry, ``gensemble plugins`` and the config's JSON schema are all built from this table.
A kind whose plugins are data rather than behaviour (a variable definition, an event)
sets ``instances=True``: its hook returns instances of the base class instead of classes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gensemble.api.events import Event
from gensemble.api.plugins import (
    ArchitecturePlugin,
    DomainPlugin,
    MetricPlugin,
    Plugin,
    ReaderPlugin,
)
from gensemble.api.variables import Variable

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """One plugin kind: its name, the hook that provides it and the base it must extend."""

    name: str
    hook: str
    base: type[Plugin] | type
    doc: str
    instances: bool = False


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("domain", "gensemble_domains", DomainPlugin, "geographic domains and their grids"),
        Kind("architecture", "gensemble_architectures", ArchitecturePlugin, "generative models"),
        Kind("metric", "gensemble_metrics", MetricPlugin, "scores of generated weather"),
        Kind("reader", "gensemble_readers", ReaderPlugin, "raw file formats"),
        Kind("variable", "gensemble_variables", Variable, "weather variables", instances=True),
        Kind("event", "gensemble_events", Event, "high-impact weather cases", instances=True),
    )
}
