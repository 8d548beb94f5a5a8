"""Small files written whole: the configuration, cached downloads.

Why: ``Path.write_text`` truncates the target first, so a full disk or a killed process
half-way leaves an empty or cut file where a good one was (a configuration that no longer
reads back, a cached layer that no longer parses). Writing a temporary file beside the
target, flushing it and renaming it over the target keeps either the old file or the new
one, never a mix. The store itself has its own, larger version of this (the working copy
of ``biodiv/store/database.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from biodiv.errors import BiodivError, DiskFull, disk_full_cause, free_bytes, megabytes


def write_atomic(path: Path, data: bytes | str, what: str) -> None:
    """Replace ``path`` by ``data`` (str is written as UTF-8), or leave it as it was.

    ``what`` names the file for the one-line message (``"the configuration"``): a full disk
    raises :class:`DiskFull` with the room needed and free, any other OS error a
    :class:`BiodivError`; the temporary file is removed in both cases.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:   # e.g. the parent is not a folder: there is no temporary file
            pass
        kept = f"{path} is unchanged" if path.exists() else f"{path} was not created"
        if disk_full_cause(exc) is not None:
            raise DiskFull(
                f"disk full while writing {what} ({path.name}) in {path.parent}: {megabytes(len(raw))} "
                f"needed, {megabytes(free_bytes(path.parent))} free; {kept}: free some space and run "
                "the command again"
            ) from None
        raise BiodivError(f"cannot write {what} to {path}: {exc.strerror or exc}; {kept}") from None


# ---------------------------------------------------------------------------
# Outputs that must never replace the store
# ---------------------------------------------------------------------------

def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names (symlinks followed), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _canonical(path: Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def refuse_protected_output(
    out: Path, files: Mapping[Path, str], folders: Mapping[Path, str], option: str = "--out"
) -> None:
    """Refuse, in one line, an output path that would replace or write into one of ``files``
    (path -> what it is: the store, its working copy, its lock, its lake catalog, the
    configuration) or into one of ``folders`` (a DuckLake's data folder).

    Why more than comparing names: ``data//biodiv.duckdb``, ``./data/../data/biodiv.duckdb``,
    a symlink to the store or a hard link to it (same inode: writing it writes the store)
    all reach the same file. So the canonical path (symlinks resolved) and, when the file
    exists, its device and inode are compared. Call it before anything is written.
    """
    out = Path(out)
    if out.is_dir():
        raise BiodivError(f"{option} {out} is a folder: give a file name")
    target = _canonical(out)
    ident = _identity(out)
    for f, what in files.items():
        if target == _canonical(f) or (ident is not None and ident == _identity(f)):
            raise BiodivError(
                f"{option} {out} would overwrite {f} ({what}): nothing was written; choose another file"
            )
    for d, what in folders.items():
        folder = _canonical(d)
        if target == folder or folder in target.parents:
            raise BiodivError(
                f"{option} {out} is inside {d} ({what}): nothing was written; choose a file elsewhere"
            )
