"""Files the gateway creates for itself: private from the first byte.

Keys, client secrets and databases are created 0600 in 0700 directories. Permissions are set
at ``open`` time, never by a ``chmod`` afterwards, which would leave a window where another
local user could open the file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` (mode 0600). ``exclusive`` refuses to replace an existing
    file (keys); otherwise the file is replaced atomically through a temporary sibling."""
    private_dir(path.parent)
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def touch_private(path: Path) -> None:
    """Create an empty 0600 file if there is none (SQLite then keeps, and copies to its -wal
    and -shm files, the mode of the file it opens)."""
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
