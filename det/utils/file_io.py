"""Crash-safe file writing: a reader sees either the old file or the complete new one.

Each helper writes to a temporary file in the destination's directory (same file system),
flushes and ``fsync``\\ s it, then ``os.replace``\\ s it over the destination, which POSIX makes
atomic. A process killed mid-write leaves only a stray ``.<name>.*.tmp`` file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import torch

__all__ = ["atomic_torch_save", "atomic_write_bytes", "atomic_write_text"]


@contextlib.contextmanager
def _atomic_open(path: str, mode: str) -> Iterator[IO]:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp_path)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable across a power loss; not supported everywhere.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save(obj, path)`` such that ``path`` is never left incomplete.

    Args:
        obj: what to save (e.g. a checkpoint dict).
        path: destination file; its directory is created if needed.
    """
    with _atomic_open(path, "wb") as f:
        torch.save(obj, f)


def atomic_write_text(path: str, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` such that ``path`` is never left incomplete.

    Args:
        path: destination file; its directory is created if needed.
        text: the whole new content.
    """
    with _atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` such that ``path`` is never left incomplete.

    Args:
        path: destination file; its directory is created if needed.
        data: the whole new content.
    """
    with _atomic_open(path, "wb") as f:
        f.write(data)
