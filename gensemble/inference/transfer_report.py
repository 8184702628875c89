"""What a transfer did, stored with every checkpoint of the run it started.

A run initialised from another run's checkpoint (``init.from``) records where the
weights came from, how the variables were matched, which tensors were copied,
channel-mapped or re-created, and what was frozen; lineage tags, run names, freezing on
resume and ``gensemble lineage`` read it.  Checkpoints before format 5 stored it as a
plain dict: :meth:`TransferReport.from_stored` reads those (missing entries take their
defaults, unknown ones are kept).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

LOG = logging.getLogger(__name__)


class VariableMatch(BaseModel):
    """Target variables by how they relate to the source's."""

    model_config = ConfigDict(extra="allow")
    kept: list[str] = Field(default_factory=list)
    new: list[str] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list)


class TensorCounts(BaseModel):
    """What happened to the source's tensors (names, or a count for the copied ones)."""

    model_config = ConfigDict(extra="allow")
    copied: int = 0
    channel_mapped: list[str] = Field(default_factory=list)
    recreated: list[str] = Field(default_factory=list)
    new: list[str] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list)


class TransferReport(BaseModel):
    """One transfer: source, variable and tensor matching, freezing."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    source_ref: str = Field("", alias="from", description="what init.from named")
    checkpoint: str = ""
    source_run_id: str | None = None
    source_domain: str = ""
    source_step: int = 0
    source_shape: list[int] = Field(default_factory=list)
    source_variables: list[str] = Field(default_factory=list)
    variables: VariableMatch = Field(default_factory=VariableMatch)
    #: target variable -> its channel in the source (None: a new variable)
    channel_map: dict[str, int | None] = Field(default_factory=dict)
    tensors: TensorCounts = Field(default_factory=TensorCounts)
    normalisation: str = "target store (source statistics not used)"
    strategy: str = "finetune_all"
    freeze: list[str] = Field(default_factory=list)
    lr_scale_transferred: float = 1.0
    frozen: list[str] = Field(default_factory=list)
    trainable_in_frozen_groups: list[str] = Field(default_factory=list)
    transferred: list[str] = Field(default_factory=list)

    @classmethod
    def from_stored(cls, data: dict[str, Any] | TransferReport | None) -> TransferReport | None:
        """A report from checkpoint metadata of any format (None: not a transfer)."""
        if data is None or isinstance(data, TransferReport):
            return data
        return cls.model_validate(data) if data else None

    def stored(self) -> dict[str, Any]:
        """The JSON form kept in checkpoints and logged as ``transfer_report.json``."""
        return self.model_dump(mode="json", by_alias=True)

    def __getitem__(self, key: str) -> Any:
        """Read access by key, for code written when the report was a plain dict."""
        return self.stored()[key]
