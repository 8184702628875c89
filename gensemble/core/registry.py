"""Plugin registries built from the ``gensemble`` entry-point group through pluggy.

Entry points are loaded one by one (one per plugin family) so that a family that fails to
import (a missing optional dependency, a partner's bug), a plugin that registers a name
already taken, or a hook whose name matches no kind (a typo pluggy would silently ignore)
is recorded with its error and listed by ``gensemble plugins`` instead of breaking the CLI
or the other plugins.
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
import logging
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy

from gensemble.core.errors import UserError, one_line
from gensemble.core.hookspecs import PROJECT, GensembleHookSpecs
from gensemble.core.kinds import KINDS, Kind

LOG = logging.getLogger(__name__)


@dataclass
class PluginInfo:
    """One row of ``gensemble plugins``: a plugin, who provides it, or why it failed.

    ``cls`` is the plugin class, or the instance for kinds whose hooks return data.
    """

    kind: str
    name: str
    distribution: str
    version: str
    description: str
    cls: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.cls is not None


class Registry:
    """All plugins of every kind, with the errors met while loading them."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(GensembleHookSpecs)
        self.entries: list[PluginInfo] = []
        self._by_kind: dict[str, dict[str, PluginInfo]] = {k: {} for k in KINDS}

    # -- loading ---------------------------------------------------------------------------
    def load_entry_points(self, group: str = PROJECT) -> None:
        """Import every module of the entry-point group and register its hooks."""
        for ep in sorted(md.entry_points(group=group), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else "?"
            try:
                module = ep.load()
            except Exception as exc:  # a broken family must not break the CLI
                self._error("?", ep.name, dist, version, f"import failed ({ep.value})", exc)
                continue
            self.register_module(module, name=f"{dist}:{ep.name}", dist=dist, version=version)

    def register_module(
        self, module: ModuleType | Any, name: str, dist: str = "local", version: str = "0"
    ) -> None:
        """Register a plugin module (or object with hook functions) and collect its plugins."""
        try:
            self.pm.register(module, name=name)
        except Exception as exc:
            self._error("?", name, dist, version, "registration failed", exc)
            return
        self._check_unknown_hooks(module, name, dist, version)
        for kind in KINDS.values():
            for impl in getattr(self.pm.hook, kind.hook).get_hookimpls():
                if impl.plugin is module:
                    self._collect(kind, impl.function, dist, version, name)

    def _check_unknown_hooks(self, module: Any, name: str, dist: str, version: str) -> None:
        """pluggy's ``check_pending``, but every misspelt hook is recorded, none raised."""
        known = [k.hook for k in KINDS.values()]
        for hook_name, caller in vars(self.pm.hook).items():
            if hook_name in known or getattr(caller, "spec", None) is not None:
                continue
            if not any(i.plugin is module for i in caller.get_hookimpls()):
                continue
            close = difflib.get_close_matches(hook_name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.entries.append(
                PluginInfo(
                    "?",
                    name,
                    dist,
                    version,
                    "",
                    None,
                    f"unknown hook {hook_name!r}{hint} (hooks: {', '.join(known)})",
                )
            )

    def _error(
        self, kind: str, name: str, dist: str, version: str, what: str, exc: BaseException
    ) -> None:
        detail = f"{what}: {type(exc).__name__}: {one_line(exc)}"
        self.entries.append(PluginInfo(kind, name, dist, version, "", None, detail))

    def _collect(self, kind: Kind, fn: Any, dist: str, version: str, source: str) -> None:
        try:
            provided = list(fn() or [])
        except Exception as exc:
            self._error(kind.name, source, dist, version, "hook failed", exc)
            return
        for obj in provided:
            name = getattr(obj, "name", None) or getattr(obj, "__name__", "?")
            doc = getattr(obj, "description", "") or (obj.__doc__ or "").strip().split("\n")[0]
            info = PluginInfo(kind.name, str(name), dist, version, doc, obj)
            problem = self._invalid(kind, obj)
            if problem:
                info.cls, info.error = None, problem
            elif info.name in self._by_kind[kind.name]:
                first = self._by_kind[kind.name][info.name]
                if kind.instances and first.cls == obj:
                    continue  # the same definition twice (e.g. re-exported): nothing to merge
                info.cls = None
                what = "conflicting definition of" if kind.instances else "duplicate"
                info.error = (
                    f"{what} {kind.name} {info.name!r} (already provided by "
                    f"{first.distribution}); the first one is used"
                )
            else:
                self._by_kind[kind.name][info.name] = info
            self.entries.append(info)

    @staticmethod
    def _invalid(kind: Kind, obj: Any) -> str | None:
        base = kind.base
        if kind.instances:
            if isinstance(obj, base):
                check = getattr(obj, "validate", None)
                try:
                    check() if callable(check) else None
                except Exception as exc:
                    return f"invalid definition: {one_line(exc)}"
                return None
            return f"not an instance of {base.__name__}"
        if isinstance(obj, type) and issubclass(obj, base):
            return None
        return f"not a subclass of {base.__name__}"

    # -- lookup ----------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return sorted(self._by_kind[kind])

    def info(self, kind: str, name: str) -> PluginInfo:
        try:
            return self._by_kind[kind][name]
        except KeyError:
            raise UserError(unknown_name_message(kind, name, self.names(kind))) from None

    def get(self, kind: str, name: str) -> Any:
        """The plugin class (or instance, for data kinds) registered under ``name``."""
        obj = self.info(kind, name).cls
        assert obj is not None
        return obj

    def all(self, kind: str) -> list[Any]:
        """Every working plugin of a kind, by name."""
        return [self._by_kind[kind][n].cls for n in self.names(kind)]


def unknown_name_message(kind: str, name: str, available: list[str]) -> str:
    """One line naming the unknown plugin, the closest match and every available name."""
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listing = ", ".join(available) if available else "none installed"
    return f"unknown {kind} {name!r}{hint} (available: {listing})"


_lock = threading.Lock()
_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded from entry points on first use."""
    global _registry
    with _lock:
        if _registry is None:
            reg = Registry()
            reg.load_entry_points()
            _registry = reg
        return _registry


def set_registry(registry: Registry | None) -> None:
    """Replace the process-wide registry (tests build their own)."""
    global _registry
    with _lock:
        _registry = registry
