"""tests/test_analysis_queries.py (every named query) on the DuckLake backend."""

from __future__ import annotations

import pytest

pytest.importorskip("duckdb_extension_ducklake")

from test_analysis_queries import *  # noqa: E402,F401,F403
from helpers_analysis import build_fixture  # noqa: E402
from test_store_ducklake_suite import lake_copy_of  # noqa: E402


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory):  # noqa: F811
    directory = tmp_path_factory.mktemp("analysis_lake")
    return lake_copy_of(build_fixture(directory / "fixture.duckdb").path, directory)
