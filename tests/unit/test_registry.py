"""Plugin registry: entry points, errors kept per plugin, unknown names."""

from __future__ import annotations

import importlib.metadata as md
import json
import types

import pytest

from gensemble.api.hooks import hookimpl
from gensemble.api.plugins import DomainPlugin, MetricPlugin
from gensemble.core import registry as registry_mod
from gensemble.core.errors import UserError
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
    good = md.EntryPoint("domains_eurw1s40", "gensemble.plugins.domains.eurw1s40", "gensemble")
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


def test_misspelt_hook_is_reported_not_ignored() -> None:
    reg = Registry()
    reg.register_module(_module("typo", gensemble_domain=lambda: [Alpha]), "typo", "dist-t")
    errors = [e.error for e in reg.entries if e.error]
    assert len(errors) == 1
    assert "unknown hook 'gensemble_domain'" in errors[0]
    assert "did you mean 'gensemble_domains'" in errors[0]
    assert reg.names("domain") == []


def test_kinds_come_from_one_table() -> None:
    from gensemble.core.hookspecs import GensembleHookSpecs
    from gensemble.core.kinds import KINDS

    reg = Registry()
    for kind in KINDS.values():
        assert hasattr(GensembleHookSpecs, kind.hook)
        assert reg.names(kind.name) == []
    assert {"domain", "architecture", "metric", "reader"} <= set(KINDS)


def test_data_kinds_take_instances_and_report_invalid_ones() -> None:
    from gensemble.core.kinds import Kind

    class Thing(DomainPlugin):
        name = "thing"

        def validate(self) -> None:
            if self.options.model_dump():
                raise ValueError("min > max")

    data_kind = Kind("thing", "gensemble_things", DomainPlugin, "test data kind", instances=True)
    assert Registry._invalid(data_kind, Thing()) is None
    assert "not an instance" in Registry._invalid(data_kind, Thing)
    class_kind = Kind("x", "gensemble_x", DomainPlugin, "test", instances=False)
    assert "not a subclass" in Registry._invalid(class_kind, Thing())


def test_one_family_failing_leaves_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each built-in family is its own entry point: a broken metric module (a missing
    optional dependency) takes down only its own metrics."""
    eps = [
        ep
        for ep in md.entry_points(group="gensemble")
        if ep.dist is not None and ep.dist.name == "gensemble"
    ]
    assert len(eps) >= 10 and len({ep.value for ep in eps}) == len(eps)
    broken = md.EntryPoint("metrics_swd", "no_such_module_for_gensemble_tests", "gensemble")
    rest = [ep for ep in eps if ep.name != "metrics_swd"]
    monkeypatch.setattr(registry_mod.md, "entry_points", lambda group: [*rest, broken])
    reg = Registry()
    reg.load_entry_points()
    assert "swd" not in reg.names("metric") and "w1" in reg.names("metric")
    assert "stylegan2" in reg.names("architecture") and "netcdf" in reg.names("reader")
