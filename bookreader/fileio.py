"""Atomic, durable file writes: the one implementation every writer in the project uses.

A file is written under a fresh temporary name in its own folder, flushed to disk (fsync), then
renamed over the target (os.replace, atomic on POSIX and Windows), and the folder itself is
fsynced so that the rename survives a crash. A reader therefore sees the old file or the new
one, never a torn mix. New files get the ordinary permissions (0o666 less the umask), like any
`open(path, "w")`: a cache or an output folder must stay readable by whoever could read it
before, so the temporary file is not left at mkstemp's private 0o600.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

_NEW_FILE_MODE = 0o666  # narrowed by the process umask in os.open, as open() does


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's) data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(folder: Path) -> None:
    """Make a rename or a new entry in `folder` durable. Windows cannot open a folder for
    fsync (nor needs to): there it is a no-op."""
    if os.name == "posix":
        _fsync(folder)


def temporary_sibling(path: Path) -> Path:
    """A fresh hidden name next to `path` (same folder, hence same file system)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def replace_durably(source: Path, target: Path) -> None:
    """Rename `source` over `target` (a file or a folder built beside it) and fsync the
    folder, so that the new name survives a crash."""
    os.replace(source, target)
    fsync_directory(target.parent)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Let `write(temporary_path)` fill a new file, then put it at `path` atomically.

    `write` gets a path rather than a handle because some writers (safetensors, torch.save)
    want one; the file already exists with the right permissions when it is called."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE))
    try:
        write(temporary)
        _fsync(temporary)
        replace_durably(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda temporary: temporary.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically and durably."""
    atomic_write_bytes(path, text.encode("utf-8"))
