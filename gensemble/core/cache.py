"""Where gensemble keeps files it can rebuild or fetch again (regridding weights,
checkpoints downloaded from MLflow): ``GENSEMBLE_CACHE_DIR`` or ``~/.cache/gensemble``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

LOG = logging.getLogger(__name__)


def cache_root() -> Path:
    return Path(os.environ.get("GENSEMBLE_CACHE_DIR") or Path.home() / ".cache" / "gensemble")
