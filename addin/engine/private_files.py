"""The data folder is private: 0700, and the files that hold numbers or secrets 0600 (POSIX).

The store holds every phone number checked and its answer; ``secrets.json`` and the
certificate keys are secrets. On POSIX, :func:`secure_data_dir` creates the folder
with mode 0700 (whatever the umask) and, at every start, narrows a wider mode found
on the folder, its ``owners`` and ``certs`` folders, or a private file in them (an
older version's 0644 store, a folder made by hand), saying so in one line. Files are
created 0600 where they are made (``os.open`` with mode 0600; SQLite gives its
``-wal`` and ``-shm`` files the store's own mode).

On Windows nothing is changed: the default data folder is under the user's profile
(``%LOCALAPPDATA%``), whose ACL already grants only that user, SYSTEM and
administrators; files inherit it. We set no ACL of our own, so a data folder moved
elsewhere with ``FBCHECK_DATA_DIR`` has whatever that place grants.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600
#: Folders inside the data folder, and the private files of each (names or suffixes).
_FOLDERS = ("", "owners", "certs")
_PRIVATE_NAMES = (
    "fbcheck.sqlite3",
    "fbcheck.sqlite3-wal",
    "fbcheck.sqlite3-shm",
    "fbcheck.sqlite3-journal",
    "fbcheck.journal",
    "secrets.json",
    "settings.json",
)
_PRIVATE_SUFFIXES = (".lock", ".key", ".key.tmp")


def secure_data_dir(data_dir: Path) -> str | None:
    """Create ``data_dir`` 0700 and narrow wider modes in it; return a one-line notice or None.

    A no-op returning None on Windows (see the module docstring).
    """
    if os.name != "posix":
        data_dir.mkdir(parents=True, exist_ok=True)
        return None
    make_private_dir(data_dir)
    narrowed: list[str] = []
    for name in _FOLDERS:
        folder = data_dir / name if name else data_dir
        if not folder.is_dir() or folder.is_symlink():
            continue
        _narrow(folder, FOLDER_MODE, narrowed, data_dir)
        for item in _entries(folder):
            if _is_private(item.name) and item.is_file() and not item.is_symlink():
                _narrow(item, FILE_MODE, narrowed, data_dir)
    if not narrowed:
        return None
    return (
        f"note: other users could read the data folder {data_dir}; narrowed "
        + ", ".join(narrowed)
        + " (it holds phone numbers and keys)"
    )


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents, with default modes) with mode 0700 itself."""
    if path.is_dir():
        return
    if path.exists():
        raise NotADirectoryError(errno.ENOTDIR, "a file, not a folder", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=FOLDER_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise
        return
    if os.name == "posix":
        os.chmod(path, FOLDER_MODE)  # mkdir's mode is cut by the umask only, never widened


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist (whatever the umask)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def _entries(folder: Path) -> list[Path]:
    """Return the entries of a folder (none if it cannot be listed)."""
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _is_private(name: str) -> bool:
    """Return True for a file that holds numbers or secrets."""
    return name in _PRIVATE_NAMES or name.endswith(_PRIVATE_SUFFIXES)


def _narrow(path: Path, mode: int, narrowed: list[str], root: Path) -> None:
    """Take group and other permissions away from ``path`` when it has any."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if not current & 0o077:
        return
    wanted = (current & 0o700) | (mode & 0o700)
    try:
        os.chmod(path, wanted)
    except OSError:
        return  # not ours to change (another account's file): the store says so if it fails
    shown = "the folder" if path == root else str(path.relative_to(root))
    narrowed.append(f"{shown} {current:04o} -> {wanted:04o}")
