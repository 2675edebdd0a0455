"""Output files: validated before any work, written atomically (beside the destination,
flushed to disk, then renamed over it), so a killed run never leaves half a file.

Before any work the command line checks its paths together (`check_paths`): an output may
be neither an input nor another output (compared after resolving links, and by inode), an
existing output must be writable, and its directory must exist and be writable. A new
file gets the mode the user's umask gives (not mkstemp's 0600); a replaced file keeps its
mode. Every file written in this process is recorded in `WRITTEN`, so that an interrupted
run can say truthfully what it wrote.
"""

from __future__ import annotations

import os
import stat
import tempfile

from .errors import UsageError

WRITTEN: list[str] = []          # paths written by this process, in order (see `written`)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def output_path(path: str, flag: str) -> str:
    """Refuse an output path whose directory is missing or not writable, that is a
    directory, or that exists and is not writable; up front, before any work."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise UsageError(f"{flag}={path!r} is not a file name", "give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{flag}={path}: directory {folder} does not exist",
                         "create it first or choose another path")
    if os.path.isdir(path):
        raise UsageError(f"{flag}={path} is a directory", "give a file name")
    if os.path.exists(path) and (not os.access(path, os.W_OK)
                                 or not os.stat(path).st_mode & 0o222):   # even for root
        raise UsageError(f"{flag}={path} exists and is not writable",
                         "choose another path or make the file writable first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}={path}: directory {folder} is not writable",
                         "choose another directory")
    return path


def _same(a: str, b: str) -> bool:
    """Whether two paths name the same file (after links; by inode when both exist)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_paths(inputs: dict[str, str | None], outputs: dict[str, str | None]) -> None:
    """Refuse an output that is an input or another output, and validate each output.

    `inputs` and `outputs` map a flag (e.g. `--target`, `--report`) to its path or None.
    Raises `UsageError` (exit 2) before anything is read or written.
    """
    outs = [(flag, path) for flag, path in outputs.items() if path]
    for flag, path in outs:
        output_path(path, flag)
    for flag, path in outs:
        for in_flag, in_path in inputs.items():
            if in_path and _same(path, in_path):
                raise UsageError(f"{flag}={path} is the input {in_flag}={in_path}",
                                 "writing there would destroy the input; choose another path")
    for i, (flag, path) in enumerate(outs):
        for other_flag, other in outs[i + 1:]:
            if _same(path, other):
                raise UsageError(f"{flag}={path} and {other_flag}={other} are the same file",
                                 "give each output its own path")


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Replace `path` by `data` in one step; on any failure the old file (or none) remains.

    The new file has the old file's mode, or `0o666 & ~umask` if there was none."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if path not in WRITTEN:
        WRITTEN.append(path)


def atomic_write_text(path: str, text: str) -> None:
    """`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def written() -> str:
    """A sentence saying which files this process wrote (for an interrupted run)."""
    if not WRITTEN:
        return "nothing was written"
    return "wrote " + ", ".join(WRITTEN)
