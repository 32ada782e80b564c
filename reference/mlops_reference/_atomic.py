"""Private helpers shared by the modules that write files: atomic writes that survive a kill.

``artefacts`` (an artefact and its manifest), ``registry`` (a new MLflow store) and
``batch`` (each scored partition) write through these, so that a process killed at any
instant leaves the old file or the new one, whole, never half of one.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def tmp_name(target: Path) -> Path:
    """A fresh hidden name beside ``target`` for a file being written."""
    return target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")


def write_new(tmp: Path, write: Callable[[BinaryIO], object]) -> None:
    """Create ``tmp`` (it must not exist), write it, flush it to disk."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    with os.fdopen(fd, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())


def write_atomically(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write one file so that a kill at any instant leaves the old file or the new, whole.

    ``write(fh)`` fills a hidden temporary file beside ``target``; it is flushed to disk and
    renamed onto ``target`` in one step. On an error the temporary file is removed. (An
    artefact needs more, a manifest committed with it: see ``artefacts.save_artefact``.)
    """
    tmp = tmp_name(target)
    try:
        write_new(tmp, write)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
