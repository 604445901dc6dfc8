"""Write a file so readers see either the old content or the new, never half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: The mode of a file written for the first time: what editors and git checkouts give under umask 022.
NEW_FILE_MODE = 0o644


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write `content` (text as UTF-8) to `path` via a temp file in the same folder and a rename.

    The rename is atomic on POSIX within one filesystem, which is why the temp file
    lives next to the target rather than in /tmp. The file keeps its mode (the temp file
    would otherwise give it mkstemp's 0600); a new one gets NEW_FILE_MODE.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, _mode(path))
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode() if isinstance(content, str) else content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return NEW_FILE_MODE
