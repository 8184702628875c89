"""pluggy hook specifications: the contract between the core and every plugin package.

A plugin package (built-in or a partner's pip package) exposes a module through the
entry-point group ``gensemble`` and implements any of these hooks, each returning the
plugin classes it provides.  The core never imports a plugin directly.
"""

from __future__ import annotations

import pluggy

PROJECT = "gensemble"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class GensembleHookSpecs:
    """Hooks a plugin module may implement."""

    @hookspec
    def gensemble_domains(self) -> list[type]:
        """Return :class:`~gensemble.core.plugin_types.DomainPlugin` subclasses."""

    @hookspec
    def gensemble_architectures(self) -> list[type]:
        """Return :class:`~gensemble.core.plugin_types.ArchitecturePlugin` subclasses."""

    @hookspec
    def gensemble_metrics(self) -> list[type]:
        """Return :class:`~gensemble.core.plugin_types.MetricPlugin` subclasses."""


#: hook name for each plugin kind
HOOK_FOR_KIND: dict[str, str] = {
    "domain": "gensemble_domains",
    "architecture": "gensemble_architectures",
    "metric": "gensemble_metrics",
}
