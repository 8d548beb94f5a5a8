"""tests/test_dashboard_data.py (the dashboard's queries, map included) on the DuckLake backend,
read the way the dashboard opens it: ``Store(path)`` on the catalog file."""

from __future__ import annotations

import pytest

pytest.importorskip("duckdb_extension_ducklake")

from test_dashboard_data import *  # noqa: E402,F401,F403
from helpers_dashboard import build_fixture_db  # noqa: E402
from biodiv.store.database import Store  # noqa: E402
from test_store_ducklake_suite import lake_copy_of  # noqa: E402


@pytest.fixture(scope="module")
def con(tmp_path_factory):  # noqa: F811
    directory = tmp_path_factory.mktemp("dash_lake")
    lake = lake_copy_of(build_fixture_db(directory / "fixture.duckdb"), directory)
    c = Store(lake.path).reader()   # Store(path) on the catalog file, as the dashboard opens it
    yield c
    c.close()
