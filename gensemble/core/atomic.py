"""Atomic writes: a file (or folder, for zarr) appears whole under its name, or not at all.

Everything gensemble writes that a user or another rank may read while it is being
written (checkpoints, generated members, regridding weights, netCDF files, downloads)
goes through :func:`atomic_path`: the writer fills a temporary name in the same folder,
which is flushed and renamed onto the target on success and removed on any failure, so a
crash or Ctrl-C never leaves a half-written file under the requested name.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOG = logging.getLogger(__name__)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    if path.is_file():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


@contextmanager
def atomic_path(path: Path | str, fsync: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto it when the block succeeds.

    The temporary name ends with the target's suffix (libraries that pick a format,
    or append one, by suffix still work).  An existing folder at ``path`` (a zarr
    store) is replaced.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # writers create it themselves (as a file or a folder)
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def atomic_link(src: Path, dst: Path) -> Path:
    """Make ``dst`` the same file as ``src`` without a second serialisation: a hard link
    when the file system allows it, else a copy; either way it appears through a rename,
    and later removal of ``src`` leaves ``dst`` intact."""
    with atomic_path(dst, fsync=False) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    return Path(dst)
