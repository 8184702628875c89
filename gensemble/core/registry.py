"""Plugin registries built from the ``gensemble`` entry-point group through pluggy.

Entry points are loaded one by one (the same group pluggy's
``load_setuptools_entrypoints`` reads) so that a plugin package that fails to import,
or a plugin that registers a name already taken, is recorded with its error and
listed by ``gensemble plugins`` instead of breaking the CLI or the other plugins.
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy

from gensemble.core.errors import UserError, one_line
from gensemble.core.hookspecs import HOOK_FOR_KIND, PROJECT, GensembleHookSpecs

KINDS: tuple[str, ...] = tuple(HOOK_FOR_KIND)


@dataclass
class PluginInfo:
    """One row of ``gensemble plugins``: a plugin class, who provides it, or why it failed."""

    kind: str
    name: str
    distribution: str
    version: str
    description: str
    cls: type | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.cls is not None


class Registry:
    """All plugins of the three kinds, with the errors met while loading them."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(GensembleHookSpecs)
        self._sources: dict[int, tuple[str, str]] = {}
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
            except Exception as exc:  # a broken partner package must not break the CLI
                self.entries.append(
                    PluginInfo(
                        "?",
                        ep.name,
                        dist,
                        version,
                        f"entry point {ep.value}",
                        None,
                        f"import failed: {type(exc).__name__}: {one_line(exc)}",
                    )
                )
                continue
            self.register_module(module, name=f"{dist}:{ep.name}", dist=dist, version=version)

    def register_module(
        self, module: ModuleType | Any, name: str, dist: str = "local", version: str = "0"
    ) -> None:
        """Register a plugin module (or object with hook functions) and collect its plugins."""
        try:
            self.pm.register(module, name=name)
        except Exception as exc:
            self.entries.append(
                PluginInfo(
                    "?", name, dist, version, "", None, f"registration failed: {one_line(exc)}"
                )
            )
            return
        self._sources[id(module)] = (dist, version)
        for kind, hook_name in HOOK_FOR_KIND.items():
            hook = getattr(self.pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                if impl.plugin is module:
                    self._collect(kind, impl.function, dist, version, name)

    def _collect(self, kind: str, fn: Any, dist: str, version: str, source: str) -> None:
        from gensemble.core.plugin_types import BASE_FOR_KIND

        try:
            classes = list(fn() or [])
        except Exception as exc:
            self.entries.append(
                PluginInfo(
                    kind,
                    source,
                    dist,
                    version,
                    "",
                    None,
                    f"hook failed: {type(exc).__name__}: {one_line(exc)}",
                )
            )
            return
        base = BASE_FOR_KIND[kind]
        for cls in classes:
            name = getattr(cls, "name", None) or getattr(cls, "__name__", "?")
            doc = getattr(cls, "description", "") or (cls.__doc__ or "").strip().split("\n")[0]
            info = PluginInfo(kind, name, dist, version, doc, cls)
            if not (isinstance(cls, type) and issubclass(cls, base)):
                info.cls, info.error = None, f"not a subclass of {base.__name__}"
            elif name in self._by_kind[kind]:
                first = self._by_kind[kind][name]
                info.cls = None
                info.error = (
                    f"duplicate {kind} name {name!r} (already provided by {first.distribution})"
                )
            else:
                self._by_kind[kind][name] = info
            self.entries.append(info)

    # -- lookup ----------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return sorted(self._by_kind[kind])

    def info(self, kind: str, name: str) -> PluginInfo:
        try:
            return self._by_kind[kind][name]
        except KeyError:
            raise UserError(unknown_name_message(kind, name, self.names(kind))) from None

    def get(self, kind: str, name: str) -> type:
        cls = self.info(kind, name).cls
        assert cls is not None
        return cls


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
