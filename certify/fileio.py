"""Output files: validated before any work, written atomically (beside the destination,
flushed to disk, then renamed over it), so a killed run never leaves half a file."""

from __future__ import annotations

import os
import tempfile

from .errors import UsageError


def output_path(path: str, flag: str) -> str:
    """Refuse an output path whose directory is missing or that is a directory, up front."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{flag}={path}: directory {folder} does not exist",
                         "create it first or choose another path")
    if os.path.isdir(path):
        raise UsageError(f"{flag}={path} is a directory", "give a file name")
    return path


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Replace `path` by `data` in one step; on any failure the old file (or none) remains."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: str, text: str) -> None:
    """`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))
