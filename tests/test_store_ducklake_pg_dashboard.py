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
    # the Parquet files are in the bucket (a table of a few rows may be inlined in the catalog)
    assert any(k.endswith(".parquet") and "/areas/" in k for k in keys), keys
    assert not (fixture_db.parent / "lake").exists()           # no local data folder
    with Store(fixture_db).read() as c:
        tables = {r[0] for r in c.execute(
            "SELECT table_name FROM __ducklake_metadata_biodiv.ducklake_table WHERE end_snapshot IS NULL").fetchall()}
    assert {"observations", "areas", "taxa"} <= tables          # the catalog, read from PostgreSQL


@pytest.mark.browser
def test_map_page_draws_in_chromium_from_the_postgres_s3_lake(fixture_db, tmp_path, monkeypatch):
    """The real Streamlit server (its own process, the AWS variables in its environment) and
    headless Chromium: the map page of the PostgreSQL + S3 lake draws every layer."""
    from biodiv.dashboard.server import assets
    from helpers_browser import CHROMIUM, chromium, streamlit_server, visit

    if not CHROMIUM.exists() or not assets.assets_installed():
        pytest.skip("Debian chromium or the Leaflet files absent (`biodiv dashboard --install-assets`)")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    with streamlit_server(fixture_db, log_dir=tmp_path) as server, chromium() as browser:
        carte = visit(browser, f"{server.url}/carte", min_polygons=3)
        assert carte.seconds_to_map is not None, server.log.read_text()[-2000:]
        assert carte.probe["polygons"] == 8 and carte.probe["points"] == 8
        assert "8 observations affichées en points" in carte.text


def test_an_empty_or_missing_postgres_catalog_is_one_line(tmp_path):
    from biodiv.errors import BiodivError
    from biodiv.store.database import StoreMissing
    from biodiv.store.lake import LakeSpec

    catalog, data_path = pg_s3_lake()          # a new, empty PostgreSQL database
    with pytest.raises(StoreMissing, match="no DuckLake catalog at postgres:dbname=.*biodiv init"):
        Store(tmp_path / "biodiv.lake", lake=LakeSpec(catalog, data_path)).reader()
    with pytest.raises(StoreMissing):
        with Store(tmp_path / "biodiv.lake", lake=LakeSpec(catalog, data_path)).write():
            pass
    wrong = catalog.replace("dbname=lake", "dbname=nosuch")
    with pytest.raises(BiodivError) as err:
        Store(tmp_path / "other.lake", lake=LakeSpec(wrong + " password=s3cret", data_path)).reader()
    assert "\n" not in str(err.value) and "does not exist" in str(err.value)
    assert "s3cret" not in str(err.value)
