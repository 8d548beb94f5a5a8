"""tests/test_analysis_exports.py (CSV, GeoPackage, Darwin Core) on a DuckLake with a PostgreSQL catalog and its data on S3
(a throwaway cluster and moto's server, tests/helpers_store_services.py)."""

from __future__ import annotations

import pytest

from helpers_store_services import pg_s3_lake, skip_reason

if skip_reason():
    pytest.skip(skip_reason(), allow_module_level=True)

from test_analysis_exports import *  # noqa: E402,F401,F403
from helpers_analysis import build_fixture  # noqa: E402
from biodiv.store.database import Store  # noqa: E402
from biodiv.store.lake import LakeSpec  # noqa: E402
from biodiv.store.lake_copy import file_to_lake  # noqa: E402


@pytest.fixture(scope="module")
def fx(tmp_path_factory):  # noqa: F811
    directory = tmp_path_factory.mktemp("exports_pg")
    catalog, data_path = pg_s3_lake()
    store = Store(directory / "biodiv.lake", lake=LakeSpec(catalog, data_path))
    file_to_lake(build_fixture(directory / "fixture.duckdb").path, store)
    return Store(directory / "biodiv.lake")   # opened from its locator file, as a path-based reader does
