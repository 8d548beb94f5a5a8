"""tests/test_analysis_refs.py on the DuckLake backend (see tests/test_store_ducklake_suite.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("duckdb_extension_ducklake")

from test_analysis_refs import *  # noqa: E402,F401,F403
from test_store_ducklake_suite import lake_copy_of  # noqa: E402


@pytest.fixture
def ref_store(template_db, tmp_path):  # noqa: F811
    return lake_copy_of(template_db, tmp_path)
