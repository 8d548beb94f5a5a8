"""What every reference-file reader shares: the one-line error and the file checks.

Why a module of its own: the status lists (:mod:`biodiv.analysis.refs`), TAXREF
(:mod:`biodiv.analysis.taxref`) and other referentials read files the same way, and
:mod:`~biodiv.analysis.refs` calls TAXREF's matching after its own: keeping these below
both is what keeps their imports one way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from biodiv.errors import BiodivError


class RefError(BiodivError):
    """A reference file that cannot be used (one-line message)."""


def check_file(path: Path | str, what: str) -> Path:
    """``path`` as a Path, or a one-line RefError if it is missing or empty (before any parse)."""
    path = Path(path)
    if not path.is_file():
        raise RefError(f"{what} {path} does not exist")
    if path.stat().st_size == 0:
        raise RefError(f"{path} is empty")
    return path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
