"""The pluggy markers of gensemble's hooks: a plugin module decorates the functions that
provide its plugins with :data:`hookimpl` (``@hookimpl def gensemble_domains(): ...``)."""

from __future__ import annotations

import pluggy

#: the project name the hooks are registered under (and the entry-point group)
PROJECT = "gensemble"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
