"""pluggy hook specifications, one per plugin kind of :mod:`gensemble.core.kinds`.

A plugin package (built-in or a partner's pip package) exposes one module per plugin
family through the entry-point group ``gensemble`` and implements any of these hooks,
each returning the plugins it provides (classes, or instances for data kinds).  The
core never imports a plugin directly.
"""

from __future__ import annotations

import logging
from typing import Any

from gensemble.api.hooks import PROJECT, hookimpl, hookspec
from gensemble.core.kinds import KINDS, Kind

LOG = logging.getLogger(__name__)


def _spec(kind: Kind) -> Any:
    def hook() -> list[Any]:
        raise NotImplementedError  # pragma: no cover - a specification, never called

    what = "instances" if kind.instances else "subclasses"
    hook.__name__ = hook.__qualname__ = kind.hook
    hook.__doc__ = f"Return {kind.base.__name__} {what}: {kind.doc}."
    return hookspec(hook)


#: the hook specifications, one function per kind
GensembleHookSpecs = type(
    "GensembleHookSpecs",
    (),
    {"__doc__": "Hooks a plugin module may implement."}
    | {k.hook: staticmethod(_spec(k)) for k in KINDS.values()},
)

__all__ = ["PROJECT", "GensembleHookSpecs", "hookimpl", "hookspec"]
