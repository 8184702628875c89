"""Experiment configuration: one pydantic model, read from YAML or TOML, overridable
with dotted ``--set key=value`` pairs.

Unknown keys and wrong types are errors that name the key and the file.  Each plugin's
options are validated by that plugin's own ``Options`` model (also ``extra="forbid"``),
so a typo in ``domain.options`` is caught before any work starts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

import tomllib
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gensemble.core.errors import ConfigError, UserError
from gensemble.core.kinds import KINDS
from gensemble.core.registry import Registry, get_registry

LOG = logging.getLogger(__name__)

#: the embedded defaults (`gensemble train` without a file): names plugins as data, so
#: this module names none
DEFAULT_EXPERIMENT = Path(__file__).resolve().parents[1] / "default_experiment.yaml"

#: names accepted for registered models (MLflow model registry)
MODEL_NAME_PATTERN = r"^[A-Za-z0-9_.\- ]+$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())


class PluginRef(Strict):
    """A plugin by name with its options (validated against the plugin's Options model)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class OptimizerConfig(Strict):
    """The optimisers' kind and learning-rate schedule, for every network of the model
    (each network's learning rate and betas are its architecture's options)."""

    kind: Literal["adam", "adamw"] = Field("adam", description="Adam (default) or AdamW")
    weight_decay: float = Field(0.0, ge=0, description="decoupled weight decay (adamw)")
    grad_clip: float | None = Field(
        None, gt=0, description="clip each network's gradients to this global L2 norm"
    )
    schedule: Literal["constant", "cosine"] = Field(
        "constant", description="learning rate over the run after the warm-up"
    )
    warmup_steps: int = Field(0, ge=0, description="linear warm-up from 0 over these steps")
    min_lr_factor: float = Field(
        0.0, ge=0, le=1, description="cosine: the final learning rate as a fraction of the base"
    )


class TrainingConfig(Strict):
    steps: int = Field(1000, ge=1, description="number of generator optimisation steps")
    batch_size: int = Field(8, ge=1, description="global batch size (split across DDP ranks)")
    seed: int = 0
    checkpoint_every: int = Field(500, ge=1, description="steps between checkpoints")
    log_every: int = Field(10, ge=1)
    sample_every: int = Field(0, ge=0, description="steps between sample figures (0: at end)")
    eval_every: int = Field(0, ge=0, description="steps between metric evaluations (0: never)")
    eval_samples: int = Field(64, ge=2)
    keep_best_by: str | None = Field(None, description="metric key used to keep best.safetensors")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N")
    amp: bool = Field(True, description="mixed precision on GPU")
    compile: bool = Field(
        False, description="torch.compile the networks (worth it on GPUs for long runs)"
    )
    compile_backend: str = Field("inductor", description="torch.compile backend")
    num_workers: int = Field(0, ge=0)
    allow_masked: bool = Field(False, description="train on data with NaNs by masking them")
    time_limit_s: float | None = Field(None, gt=0, description="stop (and checkpoint) after this")
    keep_checkpoints: int = Field(3, ge=1, description="step checkpoints kept on disk")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)


class DataConfig(Strict):
    store: Path | None = Field(None, description="zarr training store (gensemble data prepare)")
    val_fraction: float = Field(0.1, ge=0, lt=1)


class TrackingConfig(Strict):
    uri: str | None = Field(None, description="MLflow tracking URI (default sqlite:///mlflow.db)")
    experiment: str = "gensemble"
    run_name: str | None = Field(
        None, description="default: DOMAIN ARCH, and '<- SOURCE@STEP' for a transfer"
    )
    offline: bool = Field(
        False,
        description="log to a sqlite store in output_dir (offline-mlflow.db, artifacts "
        "beside it); copy it to a server later with gensemble sync",
    )
    fallback: Literal["fail", "offline"] = Field(
        "fail", description="when the tracking server is unreachable at start: fail, or log offline"
    )
    end_wait_s: float = Field(
        120.0,
        ge=0,
        description="at the end of a run, how long to wait for an unreachable server before "
        "leaving the rest (points, status, checkpoints, registration) to gensemble sync RUN_DIR",
    )
    register_model: bool = Field(
        True, description="register the finished run's generator in the model registry"
    )
    model_name: str | None = Field(
        None,
        pattern=MODEL_NAME_PATTERN,
        description="registered model (default DOMAIN-ARCH)",
    )


class InitConfig(Strict):
    """Start from a checkpoint trained elsewhere (transfer learning), and how to adapt it."""

    from_: str = Field(alias="from", description="RUN_ID, models:/NAME/VERSION or a path")
    which: Literal["last", "best"] = Field("last", description="checkpoint of a source run")
    freeze: list[str] = Field(
        default_factory=list,
        description="layer groups of the architecture to freeze: a group name, or NAME:K for "
        "the first K numbered groups (e.g. mapping, g_block:2, d_block:1)",
    )
    lr_scale_transferred: float = Field(1.0, gt=0, description="lr factor for reused layers")

    @field_validator("freeze")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        for item in value:
            name, _, count = item.partition(":")
            if not name or (count and not count.isdigit()):
                raise ValueError(f"{item!r} is not a group name or NAME:K")
        return value


def offline_store_uri(output_dir: Path | str) -> str:
    """The sqlite store of offline runs, in the output folder (artifacts beside it)."""
    return f"sqlite:///{(Path(output_dir) / 'offline-mlflow.db').resolve()}"


class Experiment(Strict):
    """A full experiment: domain + architecture (+ optional initial checkpoint)."""

    domain: PluginRef
    architecture: PluginRef
    training: TrainingConfig = TrainingConfig()
    data: DataConfig = DataConfig()
    tracking: TrackingConfig = TrackingConfig()
    init: InitConfig | None = None
    metrics: list[PluginRef] = Field(default_factory=list)
    output_dir: Path = Field(Path("runs"), description="local run folders (checkpoints, logs)")

    def tracking_uri(self) -> str | None:
        """Where this experiment's runs are tracked: the offline store in ``output_dir``
        with ``tracking.offline``, else ``tracking.uri`` (None: the default)."""
        if self.tracking.offline:
            return offline_store_uri(self.output_dir)
        return self.tracking.uri

    @field_validator("metrics", mode="before")
    @classmethod
    def _metric_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            return [{"name": v.strip()} if isinstance(v, str) else v for v in value]
        return value


# -- keys renamed since the first release ---------------------------------------------------
#: (old dotted key, new dotted key); a list value under ``init.freeze`` is built separately
RENAMED_KEYS: tuple[tuple[str, str], ...] = (
    ("training.lr_g", "architecture.options.lr_g"),
    ("training.lr_d", "architecture.options.lr_d"),
    ("training.betas", "architecture.options.betas"),
)
#: old ``init`` switches and the layer-group entry of ``init.freeze`` each one becomes
RENAMED_FREEZE: tuple[tuple[str, str], ...] = (
    ("freeze_mapping", "mapping"),
    ("freeze_g_blocks", "g_block"),
    ("freeze_d_blocks", "d_block"),
)


def migrate_experiment_dict(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Move keys of older experiment files (and older checkpoints) to where they live now.

    Returns the migrated copy and one note per moved key, so a user's file keeps working
    and the user is told what to change.
    """
    import copy

    data = copy.deepcopy(data)
    notes = []
    for old, new in RENAMED_KEYS:
        section, key = old.split(".")
        node = data.get(section)
        if isinstance(node, dict) and key in node:
            value = node.pop(key)
            target = data
            for part in new.split(".")[:-1]:
                target = target.setdefault(part, {}) if isinstance(target, dict) else target
            if isinstance(target, dict):
                target.setdefault(new.split(".")[-1], value)
            notes.append(f"{old} is now {new}")
    init = data.get("init")
    if isinstance(init, dict):
        freeze = list(init.get("freeze") or [])
        for old, group in RENAMED_FREEZE:
            if old not in init:
                continue
            value = init.pop(old)
            if value is True:
                freeze.append(group)
            elif isinstance(value, int) and not isinstance(value, bool) and value > 0:
                freeze.append(f"{group}:{value}")
            notes.append(f"init.{old} is now an entry of init.freeze")
        if freeze:
            init["freeze"] = freeze
    return data, notes


# -- reading ---------------------------------------------------------------------------------
def read_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML or TOML file into a dict (errors name the file)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: cannot parse: {' '.join(str(exc).split())}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML scalars/lists)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"an override must be KEY=VALUE, got {item!r}", "overrides")
        key, raw = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"an override has an empty key in {item!r}", "overrides")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = data
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {key}: {p!r} is not a section", "overrides")
            node = nxt
        node[parts[-1]] = value
    return data


def _loc(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err.get("loc", ())) or "(top level)"


def format_validation_error(exc: ValidationError, source: str, prefix: str = "") -> str:
    parts = []
    for err in exc.errors():
        loc = _loc(err)
        if prefix:
            loc = f"{prefix}.{loc}" if loc != "(top level)" else prefix
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{loc}: {msg}")
    return f"{source}: " + "; ".join(parts)


def validate_plugin_options(exp: Experiment, registry: Registry, source: str) -> Experiment:
    """Check plugin names exist and validate their options, filling defaults."""
    refs: list[tuple[str, str, Any]] = [
        ("domain", "domain", exp.domain),
        ("architecture", "architecture", exp.architecture),
    ]
    refs += [("metric", f"metrics.{i}", m) for i, m in enumerate(exp.metrics)]
    for kind, where, ref in refs:
        try:
            cls = registry.get(kind, ref.name)
        except UserError as exc:
            raise UserError(f"{source}: {where}.name: {exc}") from None
        try:
            ref.options = cls.Options.model_validate(ref.options).model_dump(mode="json")
        except ValidationError as exc:
            raise UserError(format_validation_error(exc, source, f"{where}.options")) from None
    return exp


def build_experiment(
    data: dict[str, Any], source: str = "<config>", registry: Registry | None = None
) -> Experiment:
    data, notes = migrate_experiment_dict(data)
    defaults = read_mapping(DEFAULT_EXPERIMENT)
    for key in ("domain", "architecture"):  # a file may name only what it changes
        section = data.get(key)
        if section is None:
            data[key] = defaults[key]
        elif isinstance(section, dict) and "name" not in section:
            data[key] = {**defaults[key], **section}
    for note in notes:
        LOG.warning("%s: %s; please update the file", source, note)
    try:
        exp = Experiment.model_validate(data)
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, source)) from None
    return validate_plugin_options(exp, registry or get_registry(), source)


def load_experiment(
    path: Path | None, overrides: list[str] | None = None, registry: Registry | None = None
) -> Experiment:
    """Read, override and validate an experiment (``path=None``: the embedded defaults)."""
    data = read_mapping(path) if path is not None else {}
    data = apply_overrides(data, list(overrides or []))
    return build_experiment(data, str(path) if path else "<defaults>", registry)


def dump_experiment(exp: Experiment, fmt: str = "yaml") -> str:
    data = exp.model_dump(mode="json", by_alias=True)
    if fmt == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts/lists into ``a.b.0.c`` keys (for MLflow params)."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(data, list) and data and any(isinstance(v, (dict, list)) for v in data):
        for i, v in enumerate(data):
            out.update(flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = data
    return out


def experiment_schema(registry: Registry | None = None) -> dict[str, Any]:
    """JSON schema of an experiment, with each installed plugin's options schema attached."""
    schema = Experiment.model_json_schema(by_alias=True)
    registry = registry or get_registry()
    plugins: dict[str, Any] = {}
    for kind in (k for k in KINDS.values() if not k.instances):  # data kinds have no options
        for name in registry.names(kind.name):
            options = registry.get(kind.name, name).Options
            plugins[f"{kind.name}:{name}"] = options.model_json_schema()
    schema["x-gensemble-plugin-options"] = plugins
    return schema
