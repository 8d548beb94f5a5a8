"""Fixtures shared by every test module. Area-specific fixtures live in their own modules
(``tests/helpers_*.py``) so that each part of the project owns its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from biodiv.config import Config
from biodiv.store.database import Store

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """``$BIODIV_SHARED_DATA`` (set by .ci/run to ../shared/data), if it exists."""
    env = os.environ.get("BIODIV_SHARED_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    return None


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    return path


@pytest.fixture
def config(tmp_path, monkeypatch) -> Config:
    """A config whose database and cache live in ``tmp_path`` (no env leaking in)."""
    for var in ("BIODIV_DB", "BIODIV_CONFIG", "BIODIV_INAT_API_URL"):
        monkeypatch.delenv(var, raising=False)
    cfg = Config(db_path=str(tmp_path / "biodiv.duckdb"), cache_dir=str(tmp_path / "cache"))
    cfg.source_file = tmp_path / "biodiv.toml"
    return cfg


@pytest.fixture
def store(config) -> Store:
    """An empty, migrated store in ``tmp_path``."""
    s = config.store()
    with s.write(create=True):
        pass
    return s
