"""The exception users see as a one-line message (the CLI prints it and exits non-zero),
and the few facts every module needs to turn a system failure into such a line."""

from __future__ import annotations

import errno
import re
import shutil
from pathlib import Path
from typing import Iterator

# Exit codes of the ``biodiv`` command (docs/store.md "Exit codes").
EXIT_OK = 0
EXIT_ERROR = 1      # a BiodivError: one red line
EXIT_USAGE = 2      # a usage error (unknown command or option), from click
EXIT_PARTIAL = 3    # the command did its main job but an optional part failed (warned)

_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded")
_FILE_IN_MESSAGE = re.compile(r'file "([^"]+)"')


class BiodivError(Exception):
    """Bad input or an unusable resource, explained in one line."""


class DiskFull(BiodivError):
    """A write failed because its file system is full (the message says where and how much)."""


def causes(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, once each.

    Why: a failure is often reported by cleanup code that fails in turn (a harvest
    recording its failed run on a connection the full disk has invalidated); the cause
    the user must act on is further down the chain."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def disk_full_cause(exc: BaseException) -> BaseException | None:
    """The exception of the chain that says a disk is full (OSError ENOSPC/EDQUOT, or a
    DuckDB IO error that says so), or None."""
    for e in causes(exc):
        if isinstance(e, OSError) and e.errno in _DISK_FULL_ERRNOS:
            return e
        if any(text in str(e) for text in _DISK_FULL_TEXT):
            return e
    return None


def failed_path(exc: BaseException, default: Path) -> Path:
    """The file a failed write was writing: ``OSError.filename``, the path quoted in a
    DuckDB message (``Could not write file "…"``), else ``default``."""
    name = getattr(exc, "filename", None)
    if not name:
        m = _FILE_IN_MESSAGE.search(str(exc))
        name = m.group(1) if m else None
    return Path(name) if name else Path(default)


def free_bytes(path: Path) -> int | None:
    """Free bytes on the file system holding ``path`` (its nearest existing parent)."""
    path = Path(path)
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def megabytes(n: int | float | None) -> str:
    """``12.3 MB`` (one decimal, never ``0.0`` for a non-empty file)."""
    if n is None:
        return "? MB"
    mb = n / 1e6
    return f"{mb:.1f} MB" if mb >= 0.1 or n == 0 else "0.1 MB"
