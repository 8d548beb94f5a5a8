"""The dashboard on a DuckLake whose catalog is PostgreSQL and whose data is on S3 (a throwaway
cluster and moto's server, tests/helpers_store_services.py), opened as the dashboard opens a
store: from a path, here the lake's locator file (``<db_path>.lake``, what ``Config.db`` gives
for such a config). tests/test_dashboard_data.py's queries (map included) and the overview and
map pages of tests/test_dashboard_app.py in AppTest, unchanged."""

from __future__ import annotations

import json

import pytest

from helpers_store_services import pg_s3_lake, services, skip_reason

if skip_reason():
    pytest.skip(skip_reason(), allow_module_level=True)

from test_dashboard_data import *  # noqa: E402,F401,F403
from test_dashboard_app import (  # noqa: E402,F401
    maps_shown, test_map_page_draws_one_layer_with_points_legend_and_overlays, test_overview_shows_the_known_figures,
)
from helpers_dashboard import build_fixture_db  # noqa: E402
from biodiv.config import Config, StoreConfig  # noqa: E402
from biodiv.store.database import Store  # noqa: E402
from biodiv.store.lake_copy import file_to_lake  # noqa: E402


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory):  # noqa: F811
    """The dashboard fixture copied into a PostgreSQL + S3 lake; returns its locator file."""
    directory = tmp_path_factory.mktemp("dash_pg")
    catalog, data_path = pg_s3_lake()
    cfg = Config(db_path=str(directory / "biodiv.duckdb"),
                 store_=StoreConfig(backend="ducklake", catalog=catalog, data_path=data_path))
    cfg.source_file = directory / "biodiv.toml"
    file_to_lake(build_fixture_db(directory / "fixture.duckdb"), cfg.store())
    assert cfg.db == directory / "biodiv.lake" and cfg.db.exists()
    return cfg.db


@pytest.fixture(scope="module")
def con(fixture_db):  # noqa: F811
    c = Store(fixture_db).reader()   # Store(path) on the locator file, as the dashboard opens it
    yield c
    c.close()


def test_the_lake_is_on_postgres_and_s3_and_its_locator_names_it(fixture_db):
    spec = Store(fixture_db).lake.spec
    assert spec.kind == "postgres" and spec.data_path.startswith("s3://")
    assert json.loads(fixture_db.read_text())["catalog"] == spec.catalog
    _, s3 = services()
    keys = s3.keys(spec.data_path)
    assert any(k.endswith(".parquet") and "/observations/" in k for k in keys), keys
    assert not (fixture_db.parent / "lake").exists()           # no local data folder
    with Store(fixture_db).read() as c:
        tables = {r[0] for r in c.execute(
            "SELECT table_name FROM __ducklake_metadata_biodiv.ducklake_table WHERE end_snapshot IS NULL").fetchall()}
    assert {"observations", "areas", "taxa"} <= tables          # the catalog, read from PostgreSQL
