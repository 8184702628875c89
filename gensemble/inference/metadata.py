"""Typed, versioned checkpoint metadata, read in one place, with migrations.

Every checkpoint carries ``format: "gensemble-checkpoint/N"``.  Reading goes through
:func:`parse_metadata`: older versions are migrated step by step to the current one
(:data:`MIGRATIONS`), a newer version than this code knows is refused with a message
saying so, and the result is validated into :class:`CheckpointMeta` so code reads
``meta.step`` instead of guessing dictionary keys.

History:

* **1** (gensemble 0.1, first release): optimiser settings lived in the experiment's
  ``training`` section (``lr_g``, ``lr_d``, ``betas``) and freezing strategies in
  ``init.freeze_mapping``/``freeze_g_blocks``/``freeze_d_blocks``; the package version
  was stored as ``version``.
* **2**: optimiser settings are architecture options; freezing is ``init.freeze``, a list
  of the architecture's layer groups; ``package_version``; optional ``provenance``.
* **3**: ``variable_defs``, the full definition of every variable (units, CF names,
  transform, range, aliases, thresholds), so a checkpoint is self-describing even where
  the plugin that defined a variable is not installed.
* **4**: no change of layout; architectures may have changed defaults, so each
  architecture plugin's ``migrate_options`` is given every older checkpoint's options
  (StyleGAN2 names the up-sampling its older checkpoints used).
* **5**: the transfer report (``init``) is a typed :class:`TransferReport`; older reports
  (plain dicts) are read by it unchanged.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gensemble.core.config import migrate_experiment_dict
from gensemble.core.errors import UserError
from gensemble.inference.transfer_report import TransferReport

LOG = logging.getLogger(__name__)

FORMAT_NAME = "gensemble-checkpoint"
FORMAT_VERSION = 5
_FORMAT_RE = re.compile(rf"^{FORMAT_NAME}/(\d+)$")


class PluginSpec(BaseModel):
    """A plugin by name with the options it was built with."""

    model_config = ConfigDict(extra="forbid")
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class CheckpointMeta(BaseModel):
    """What a checkpoint says about itself (current format)."""

    model_config = ConfigDict(extra="forbid")

    format: str = f"{FORMAT_NAME}/{FORMAT_VERSION}"
    package_version: str
    step: int = Field(ge=0)
    images_seen: int = 0
    run_id: str | None = None
    run_dir: str | None = None
    architecture: PluginSpec
    domain: PluginSpec
    grid: dict[str, Any]
    variables: list[str]
    #: the full definition of each variable (gensemble.api.variables.Variable.to_dict)
    variable_defs: list[dict[str, Any]] = Field(default_factory=list)
    units: list[str]
    shape: list[int]
    normalizer: dict[str, Any]
    optimizers: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    experiment: dict[str, Any] = Field(default_factory=dict)
    world_size: int = 1
    best_value: float | None = None
    #: what the transfer that started the run did (None: not started by a transfer)
    init: TransferReport | None = None
    saved_at: str = ""
    #: where a checkpoint made outside gensemble's training came from (file, sha256...)
    provenance: dict[str, Any] = Field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        """Read access by key, for code written when metadata was a plain dict."""
        return self.model_dump(mode="json", by_alias=True)[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.model_dump(mode="json", by_alias=True).get(key, default)

    def definitions(self) -> list[Any]:
        """The variables as :class:`~gensemble.api.variables.Variable` objects."""
        from gensemble.api.variables import Variable

        return [Variable.from_dict(d) for d in self.variable_defs]

    def dump_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True))


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    data["package_version"] = str(data.pop("version", "0.1.0"))
    experiment = data.get("experiment") or {}
    data["experiment"], _ = migrate_experiment_dict(experiment)
    # the checkpoint's own architecture options carry the optimiser settings from now on
    moved = (data["experiment"].get("architecture") or {}).get("options") or {}
    arch = dict(data.get("architecture") or {})
    arch["options"] = {**(arch.get("options") or {})} | {
        k: moved[k] for k in ("lr_g", "lr_d", "betas") if k in moved
    }
    data["architecture"] = arch
    return data


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Variables were names only: take each definition from the installed plugins, or
    a minimal one (name and units) for a variable no installed plugin defines."""
    from gensemble.data.variables import known_variables

    known = known_variables()
    units = data.get("units") or [""] * len(data.get("variables", []))
    defs = []
    for name, unit in zip(data.get("variables", []), units, strict=False):
        var = known.get(name)
        defs.append(var.to_dict() if var else {"name": name, "units": unit, "long_name": name})
    return {**data, "variable_defs": defs}


#: migration from version N to N + 1
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: lambda data: data,  # format 4: architecture options migrated by their plugin
    4: lambda data: data,  # format 5: the transfer report is typed (read by its model)
}


def _migrate_architecture_options(data: dict[str, Any], version: int) -> dict[str, Any]:
    """Let the checkpoint's architecture plugin read its older options (if installed)."""
    from gensemble.core.registry import get_registry

    arch = dict(data.get("architecture") or {})
    registry = get_registry()
    if arch.get("name") not in registry.names("architecture"):
        return data
    plugin = registry.get("architecture", arch["name"])
    arch["options"] = plugin.migrate_options(dict(arch.get("options") or {}), version)
    experiment = dict(data.get("experiment") or {})
    section = dict(experiment.get("architecture") or {})
    if section.get("name") == arch["name"]:
        section["options"] = plugin.migrate_options(dict(section.get("options") or {}), version)
        experiment["architecture"] = section
    return {**data, "architecture": arch, "experiment": experiment}


def format_version(data: dict[str, Any], source: str) -> int:
    match = _FORMAT_RE.match(str(data.get("format", "")))
    if not match:
        raise UserError(f"{source}: unknown checkpoint format {data.get('format')!r}")
    return int(match.group(1))


def parse_metadata(data: dict[str, Any], source: str = "<checkpoint>") -> CheckpointMeta:
    """Migrate stored metadata of any known version and validate it."""
    version = format_version(data, source)
    if version > FORMAT_VERSION:
        raise UserError(
            f"{source}: checkpoint format {version} was written by a newer gensemble "
            f"(this one reads up to {FORMAT_VERSION}); upgrade gensemble"
        )
    original = version
    while version < FORMAT_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    if original < FORMAT_VERSION:
        data = _migrate_architecture_options(data, original)
    data = {**data, "format": f"{FORMAT_NAME}/{FORMAT_VERSION}"}
    try:
        return CheckpointMeta.model_validate(data)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise UserError(f"{source}: damaged checkpoint metadata ({where})") from None
