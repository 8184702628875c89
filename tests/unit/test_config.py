"""Experiment config: YAML/TOML, dotted overrides, strict keys, plugin options, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gensemble.core.config import apply_overrides, flatten, load_experiment
from gensemble.core.errors import UserError
from tests.conftest import assert_user_error, run_cli

YAML = """
domain: {name: nordic, options: {ny: 64, nx: 96}}
architecture: {name: stylegan2}
training: {steps: 20, batch_size: 4}
tracking: {experiment: tests}
"""


@pytest.fixture
def registry_without_arch(monkeypatch: pytest.MonkeyPatch):
    """The built-in registry (architectures may not be installed in isolation tests)."""
    from gensemble.core.registry import get_registry

    return get_registry()


def _exp(tmp_path: Path, text: str, suffix: str = ".yaml") -> Path:
    p = tmp_path / f"exp{suffix}"
    p.write_text(text)
    return p


def _skip_without(kind: str, name: str) -> None:
    from gensemble.core.registry import get_registry

    if name not in get_registry().names(kind):
        pytest.skip(f"{kind} {name} not installed yet")


def test_yaml_and_toml_give_same_experiment(tmp_path: Path) -> None:
    _skip_without("architecture", "stylegan2")
    a = load_experiment(_exp(tmp_path, YAML))
    toml = """
[domain]
name = "nordic"
options = { ny = 64, nx = 96 }
[architecture]
name = "stylegan2"
[training]
steps = 20
batch_size = 4
[tracking]
experiment = "tests"
"""
    b = load_experiment(_exp(tmp_path, toml, ".toml"))
    assert a == b
    assert a.domain.options["ny"] == 64 and a.domain.options["center_lat"] == 60.0


def test_overrides_are_typed() -> None:
    data = apply_overrides(
        {},
        [
            "training.batch_size=8",
            "training.amp=false",
            "metrics=[swd, spectrum]",
            "tracking.uri=http://h:5000",
        ],
    )
    assert data == {
        "training": {"batch_size": 8, "amp": False},
        "metrics": ["swd", "spectrum"],
        "tracking": {"uri": "http://h:5000"},
    }
    with pytest.raises(UserError, match="KEY=VALUE"):
        apply_overrides({}, ["oops"])


def test_typo_key_names_key_and_file_and_exits_2(tmp_path: Path) -> None:
    path = _exp(tmp_path, "domain: {name: se_france}\ntraining: {batch_sise: 8}\n")
    proc = run_cli("config", "show", path)
    assert_user_error(proc, "training.batch_sise", "unknown key", str(path))


def test_wrong_type_and_plugin_option_typo(tmp_path: Path) -> None:
    path = _exp(tmp_path, "training: {steps: many}\n")
    assert_user_error(run_cli("config", "show", path), "training.steps")
    path = _exp(tmp_path, "domain: {name: nordic, options: {centre_lat: 61}}\n")
    assert_user_error(run_cli("config", "show", path), "domain.options.centre_lat", "unknown key")


def test_unknown_domain_lists_available_and_closest(tmp_path: Path) -> None:
    proc = run_cli("config", "show", "--set", "domain.name=se_frnce")
    assert_user_error(proc, "se_frnce", "did you mean 'se_france'", "nordic")


def test_show_prints_resolved_config_with_overrides(tmp_path: Path) -> None:
    _skip_without("architecture", "stylegan2")
    proc = run_cli(
        "config", "show", _exp(tmp_path, YAML), "--set", "training.batch_size=8", "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["training"]["batch_size"] == 8
    assert data["domain"]["options"]["projection"] == "meps2022"  # default filled in


def test_schema_is_json_schema_with_plugin_options() -> None:
    proc = run_cli("config", "schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["additionalProperties"] is False
    assert "training" in schema["properties"]
    assert "domain:nordic" in schema["x-gensemble-plugin-options"]


def test_missing_config_file_and_bad_yaml(tmp_path: Path) -> None:
    assert_user_error(run_cli("config", "show", tmp_path / "nope.yaml"), "not found")
    assert_user_error(run_cli("config", "show", _exp(tmp_path, "a: [1, 2\n")), "cannot parse")


def test_flatten() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "m": [{"name": "x"}]}) == {
        "a.b": 1,
        "a.c": [1, 2],
        "m.0.name": "x",
    }
