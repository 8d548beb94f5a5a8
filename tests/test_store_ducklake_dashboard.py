"""tests/test_dashboard_data.py (the dashboard's queries, map included) on the DuckLake backend,
read the way the dashboard opens it: ``Store(path)`` on the catalog file; and the overview and
map pages of tests/test_dashboard_app.py in AppTest on that catalog file (their commune layers
go through the dashboard's spatial instance, which attaches the lake as a lake)."""

from __future__ import annotations

import pytest

pytest.importorskip("duckdb_extension_ducklake")

from test_dashboard_data import *  # noqa: E402,F401,F403
from test_dashboard_app import (  # noqa: E402,F401
    maps_shown, test_map_page_draws_one_layer_with_points_legend_and_overlays, test_overview_shows_the_known_figures,
)
from helpers_dashboard import build_fixture_db  # noqa: E402
from biodiv.store.database import Store  # noqa: E402
from test_store_ducklake_suite import lake_copy_of  # noqa: E402


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory):  # noqa: F811
    """The dashboard fixture copied into a SQLite-catalog lake; returns the catalog file."""
    directory = tmp_path_factory.mktemp("dash_lake")
    return lake_copy_of(build_fixture_db(directory / "fixture.duckdb"), directory).path


@pytest.fixture(scope="module")
def con(fixture_db):  # noqa: F811
    c = Store(fixture_db).reader()   # Store(path) on the catalog file, as the dashboard opens it
    yield c
    c.close()
