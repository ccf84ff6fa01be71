"""The one way to write a file atomically and the one check that a path stays inside a folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TMP_PREFIX = ".tmp-"


def atomic_write(path: Path, data: bytes | Callable[[BinaryIO], object], *, mode: int = 0o644) -> Path:
    """Write ``data`` (bytes, or a function writing to the open file) to a temporary file in the same
    folder, fsync it, then ``os.replace`` it onto ``path``: readers see the old file or the new one, never
    half of one. A failure (e.g. a full disk) removes the temporary file and re-raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                data(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp makes 0600 files; published files are for other readers too
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def inside(root: Path, path: Path, *, strict: bool = False) -> Path | None:
    """``path`` resolved, if it is ``root`` or below it (symlinks followed), else None.

    ``strict``: the path must exist (a missing path is None)."""
    try:
        resolved = Path(path).resolve(strict=strict)
        base = Path(root).resolve()
    except (OSError, RuntimeError):
        return None
    return resolved if resolved == base or resolved.is_relative_to(base) else None
