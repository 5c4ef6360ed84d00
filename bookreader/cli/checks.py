"""The paths a command is given, checked before any work starts, with one rule for every command:

- a book (or recipe) path that does not exist, or is a folder, is a usage error (exit 2) whose
  message says which; a file that exists but is no book is the loaders' business (exit 4);
- a folder path that does not exist, or is a file, is a usage error;
- `--out` must be writable before a book is read (a long neural read must not be lost to a typo):
  not empty, not a folder (for a file) or a file (for a folder), in a folder that exists (no
  parent folders are created behind the user's back), and a temporary file must be creatable
  there. What the system refuses later (disk full) is a runtime error (exit 1).

Output files are written atomically (temporary file, then rename) with the permissions a plain
`>` redirection would give them (0666 less the umask), or those of the file they replace.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from bookreader.errors import UsageError
from bookreader.fileio import atomic_write_text


def input_file(path: Path, what: str = "") -> Path:
    """`path` if it is an existing regular file; otherwise a usage error saying what it is."""
    label = f"{what} {path}" if what else str(path)
    if not path.exists():
        raise UsageError(f"{label}: no such file")
    if path.is_dir():
        raise UsageError(f"{label}: is a folder, not a file")
    if not path.is_file():
        raise UsageError(f"{label}: not a regular file")
    return path


def input_folder(path: Path, what: str = "") -> Path:
    label = f"{what} {path}" if what else str(path)
    if not path.exists():
        raise UsageError(f"{label}: no such folder")
    if not path.is_dir():
        raise UsageError(f"{label}: not a folder")
    return path


def _probe(folder: Path, label: str) -> None:
    """Create and remove a temporary file in `folder`: the only test that tells what the file
    system will allow (permissions, read-only mounts, /proc, root's privileges)."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".bookreader-probe-", suffix=".tmp")
    except OSError as error:
        raise UsageError(f"{label}: cannot write in {folder} ({error.strerror})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def _parent(path: Path, label: str) -> Path:
    parent = path.parent
    if not parent.exists():
        raise UsageError(f"{label}: no such folder {parent} (create it first)")
    if not parent.is_dir():
        raise UsageError(f"{label}: {parent} is not a folder")
    return parent


def output_file(value: str | Path | None, option: str = "--out") -> Path | None:
    """`--out FILE` checked as writable, or None when not given."""
    if value is None:
        return None
    if not str(value).strip():
        raise UsageError(f"{option}: empty path")
    path = Path(value)
    label = f"{option} {path}"
    if path.is_dir():
        raise UsageError(f"{label}: is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise UsageError(f"{label}: not a regular file")  # /dev/null must not be replaced
    _probe(_parent(path, label), label)
    return path


def output_folder(value: str | Path, option: str = "--out") -> Path:
    """`--out FOLDER` checked as writable; created when absent (its parent must exist)."""
    if not str(value).strip():
        raise UsageError(f"{option}: empty path")
    path = Path(value)
    label = f"{option} {path}"
    if path.exists() and not path.is_dir():
        raise UsageError(f"{label}: not a folder")
    if not path.exists():
        _parent(path, label)
        try:
            path.mkdir()
        except FileExistsError:  # made by someone else meanwhile: fine
            pass
        except OSError as error:
            raise UsageError(f"{label}: cannot create it ({error.strerror})") from None
    _probe(path, label)
    return path


def write_output(path: Path, text: str) -> None:
    """`text` to `path` atomically (`fileio`: a new file gets a plain redirection's permissions),
    keeping the permissions of the file it replaces."""
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = None
    atomic_write_text(path, text)
    if mode is not None:
        with contextlib.suppress(OSError):  # the text is written; a file system without modes
            os.chmod(path, mode)
