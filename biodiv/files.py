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
