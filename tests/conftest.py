"""Fixtures shared by every test module. Area-specific fixtures live in their own modules
(``tests/helpers_*.py``) so that each part of the project owns its own."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import CodeType, FunctionType

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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public files (skips the test when absent). Session-scoped so that module
    fixtures can ask for it too; a test that uses it is marked ``shared`` automatically."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    return path


# -- the `shared` marker, applied automatically ------------------------------------------
# Helper modules whose records, stand-ins or layers are built from the real files (their
# objects read $BIODIV_SHARED_DATA when used).
SHARED_HELPER_MODULES = frozenset({"helpers_harvest", "helpers_hardening"})


def _global_names(code: CodeType):
    """Global names a function's code refers to, nested functions and comprehensions included."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _global_names(const)


def _reads_shared_data(func, seen: set) -> bool:
    """Whether ``func`` (or a function of its own module that it calls) uses
    :func:`shared_data_dir`, $BIODIV_SHARED_DATA or an object of a shared-data helper module."""
    if not isinstance(func, FunctionType) or func in seen:
        return False
    seen.add(func)
    module = sys.modules.get(func.__module__)
    if module is None:
        return False
    if "BIODIV_SHARED_DATA" in func.__code__.co_consts:
        return True
    for name in set(_global_names(func.__code__)):
        obj = module.__dict__.get(name)
        if obj is None or obj is pytest:
            continue
        if obj is shared_data_dir or getattr(obj, "__module__", None) in SHARED_HELPER_MODULES \
                or getattr(obj, "__name__", None) in SHARED_HELPER_MODULES:
            return True
        if isinstance(obj, FunctionType) and obj.__module__ == func.__module__ and _reads_shared_data(obj, seen):
            return True
    return False


def needs_shared_data(item) -> bool:
    """A test needs the real files when it or a fixture it uses (directly or not) asks for the
    ``shared_data`` fixture, calls :func:`shared_data_dir`, reads $BIODIV_SHARED_DATA, or uses
    a shared-data helper (see SHARED_HELPER_MODULES)."""
    if "shared_data" in getattr(item, "fixturenames", ()):
        return True
    funcs = [getattr(item, "function", None)]
    for defs in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values():
        funcs.extend(d.func for d in defs)
    seen: set = set()
    return any(_reads_shared_data(getattr(f, "__wrapped__", f), seen) for f in funcs if f is not None)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark every test that needs ../shared/data ``shared`` (``-m shared`` selects them,
    ``-m "not shared"`` runs without the files), whoever wrote it."""
    for item in items:
        if item.get_closest_marker("shared") is None and needs_shared_data(item):
            item.add_marker(pytest.mark.shared)


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


@pytest.fixture(scope="module")
def browser_ready():
    """Debian Chromium, Playwright and the Leaflet files, or a clean skip: every test that
    drives a real browser takes this fixture (one definition for all of them)."""
    from biodiv.dashboard.server import assets
    from helpers_browser import CHROMIUM

    if not CHROMIUM.exists():
        pytest.skip(f"Debian chromium absent ({CHROMIUM})")
    pytest.importorskip("playwright.sync_api")
    if not assets.assets_installed():
        try:
            assets.install_assets()
        except Exception as exc:  # no npm or no registry: nothing to draw the map with
            pytest.skip(f"Leaflet files missing (`biodiv dashboard --install-assets`): {exc}")
