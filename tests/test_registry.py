"""Plugin registry: entry points, errors kept per plugin, unknown names."""

from __future__ import annotations

import importlib.metadata as md
import json
import types

import pytest

from gensemble.core import registry as registry_mod
from gensemble.core.errors import UserError
from gensemble.core.hookspecs import hookimpl
from gensemble.core.plugin_types import DomainPlugin, MetricPlugin
from gensemble.core.registry import Registry, unknown_name_message
from tests.conftest import run_cli


class Alpha(DomainPlugin):
    name = "alpha"
    description = "test domain alpha"


class AlphaAgain(DomainPlugin):
    name = "alpha"


class Score(MetricPlugin):
    name = "score"


def _module(name: str, **hooks: object) -> types.ModuleType:
    mod = types.ModuleType(name)
    for k, fn in hooks.items():
        setattr(mod, k, hookimpl(fn))
    return mod


def test_registers_and_looks_up_plugins() -> None:
    reg = Registry()
    reg.register_module(
        _module("a", gensemble_domains=lambda: [Alpha], gensemble_metrics=lambda: [Score]),
        "a",
        "dist-a",
        "1.0",
    )
    assert reg.names("domain") == ["alpha"]
    assert reg.get("metric", "score") is Score
    info = reg.info("domain", "alpha")
    assert (info.distribution, info.version, info.description) == (
        "dist-a",
        "1.0",
        "test domain alpha",
    )


def test_duplicate_name_is_listed_with_error_and_first_wins() -> None:
    reg = Registry()
    reg.register_module(_module("a", gensemble_domains=lambda: [Alpha]), "a", "dist-a")
    reg.register_module(_module("b", gensemble_domains=lambda: [AlphaAgain]), "b", "dist-b")
    assert reg.get("domain", "alpha") is Alpha
    errors = [e for e in reg.entries if e.error]
    assert len(errors) == 1 and "duplicate" in errors[0].error and "dist-a" in errors[0].error


def test_failing_hook_and_wrong_type_do_not_break_others() -> None:
    def boom() -> list[type]:
        raise RuntimeError("cannot build")

    reg = Registry()
    reg.register_module(_module("bad", gensemble_domains=boom), "bad", "dist-bad")
    reg.register_module(_module("wrong", gensemble_metrics=lambda: [Alpha]), "wrong", "dist-w")
    reg.register_module(_module("good", gensemble_domains=lambda: [Alpha]), "good", "dist-g")
    assert reg.names("domain") == ["alpha"]
    errs = {e.distribution: e.error for e in reg.entries if e.error}
    assert "cannot build" in errs["dist-bad"]
    assert "not a subclass of MetricPlugin" in errs["dist-w"]


def test_entry_point_import_failure_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    good = md.EntryPoint("builtin_domains", "gensemble.plugins.domains", "gensemble")
    bad = md.EntryPoint("broken", "no_such_module_for_gensemble_tests", "gensemble")
    monkeypatch.setattr(registry_mod.md, "entry_points", lambda group: [good, bad])
    reg = Registry()
    reg.load_entry_points()
    assert "se_france" in reg.names("domain")
    broken = [e for e in reg.entries if e.name == "broken"]
    assert broken and "import failed" in broken[0].error


def test_unknown_name_names_closest_match_and_all_available() -> None:
    msg = unknown_name_message("domain", "se_frnce", ["france_extended", "nordic", "se_france"])
    assert "'se_frnce'" in msg and "did you mean 'se_france'" in msg
    assert "france_extended, nordic, se_france" in msg
    with pytest.raises(UserError, match="unknown metric 'nope'"):
        Registry().get("metric", "nope")


def test_plugins_command_lists_builtin_kinds() -> None:
    proc = run_cli("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    kinds = {r["kind"] for r in rows if not r["error"]}
    assert "domain" in kinds
    names = {r["name"] for r in rows}
    assert {"se_france", "france_extended", "nordic"} <= names
    assert all(r["distribution"] == "gensemble" for r in rows if r["name"] == "nordic")
