"""The store-facing suite modules run on DuckLake with a PostgreSQL catalog and the data on
S3 (a throwaway PostgreSQL cluster and moto's S3 server, tests/helpers_store_services.py):
harvest (test_harvest_run) and attach (test_attach_store), as tests/test_store_ducklake_suite.py
runs them on a SQLite catalog, with the same tests left out for the same reasons. Skipped with
the reason when PostgreSQL or the wheels are absent."""

from __future__ import annotations

import pytest

from helpers_store_services import pg_s3_lake, skip_reason

if skip_reason():
    pytest.skip(skip_reason(), allow_module_level=True)

from test_attach_store import *  # noqa: E402,F401,F403
from test_harvest_run import *  # noqa: E402,F401,F403

from biodiv.config import Config, StoreConfig  # noqa: E402


def as_pg_lake(cfg: Config) -> Config:
    """The same config on a new DuckLake: catalog in a new PostgreSQL database, data on S3."""
    catalog, data_path = pg_s3_lake()
    cfg.store_ = StoreConfig(backend="ducklake", catalog=catalog, data_path=data_path)
    return cfg


@pytest.fixture
def config(config) -> Config:  # noqa: F811
    """tests/conftest.py's ``config``, on the lake."""
    return as_pg_lake(config)


@pytest.fixture
def prepare():  # noqa: F811
    """test_harvest_run's ``prepare`` on the PostgreSQL + S3 lake."""
    from helpers_harvest import make_territory

    def _prepare(cfg):
        store = as_pg_lake(cfg).store()
        with store.write(create=True) as con:
            make_territory(con)
        return store
    return _prepare


# the same as tests/test_store_ducklake_suite.py, for the reasons given there
del test_failed_attach_leaves_the_published_store_unchanged  # noqa: F821
del test_unreachable_inaturalist_leaves_data_unchanged  # noqa: F821
del test_a_stale_leftover_never_overrides_a_newer_published_file  # noqa: F821
del test_a_killed_run_is_resumed_from_its_leftover  # noqa: F821
del test_daily_budget_stops_cleanly_and_holds_across_runs  # noqa: F821
del test_full_then_incremental  # noqa: F821
