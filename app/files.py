"""Private files: folders 0700, files 0600, and a replace that keeps the mode its owner chose.

The log holds incident text and caller names, the configuration names hosts and users, the store
holds snapshots: on a shared machine none of it is for other users (docs/security.md). The usual
umask (022) would make every new file world-readable, so files are created with an explicit mode.
On Windows the modes are ignored (the user profile is private already).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700 (existing folders are left as they are)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)
        with contextlib.suppress(OSError):
            os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def private_opener(path: str, flags: int) -> int:
    """An ``open(..., opener=)`` that creates files 0600."""
    return os.open(path, flags, FILE_MODE)


def tighten(path: Path, mode: int = FILE_MODE) -> None:
    """Make an existing file (or folder) of ours private: a log written by an older version was 0644."""
    with contextlib.suppress(OSError):
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, mode)


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``: a new file is 0600, an existing one keeps its mode."""
    private_dir(path.parent)
    try:
        keep = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        keep = FILE_MODE
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, keep)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
