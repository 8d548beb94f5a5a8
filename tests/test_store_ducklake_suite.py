"""Store-facing test modules of the suite, run again on the DuckLake backend.

The tests below are the other modules' own, imported as they are: in this module the
``config`` fixture (and the fixtures that copy a template database file) give a DuckLake
store with a SQLite catalog and a local data path, so each of them runs on DuckLake here and
on the file backend in its own module. The fixture overrides come after the imports, which
would otherwise replace them.
"""

from __future__ import annotations

import pytest

pytest.importorskip("duckdb_extension_ducklake")

from test_areas_import import *  # noqa: E402,F401,F403
from test_attach_store import *  # noqa: E402,F401,F403
from test_areas_fetch import *  # noqa: E402,F401,F403
from test_harvest_run import *  # noqa: E402,F401,F403

from pathlib import Path  # noqa: E402

from biodiv.config import Config, StoreConfig  # noqa: E402
from biodiv.store.database import Store  # noqa: E402


def as_lake(cfg: Config) -> Config:
    """The same config on a DuckLake beside its database path."""
    cfg.store_ = StoreConfig(backend="ducklake", catalog=f"sqlite:{cfg.file_db.parent / 'catalog.sqlite'}",
                             data_path=str(cfg.file_db.parent / "lake"))
    return cfg


def lake_copy_of(template: Path, directory: Path) -> Store:
    """A new DuckLake in ``directory`` holding what the database file ``template`` holds."""
    from biodiv.store.lake import LakeSpec
    from biodiv.store.lake_copy import file_to_lake

    store = Store(directory / "catalog.sqlite",
                  lake=LakeSpec(f"sqlite:{directory / 'catalog.sqlite'}", str(directory / "lake") + "/"))
    file_to_lake(template, store)
    return store


@pytest.fixture
def config(config) -> Config:  # noqa: F811
    """tests/conftest.py's ``config``, on the lake."""
    return as_lake(config)


@pytest.fixture
def ccvh_store(config, ccvh_template):  # noqa: F811
    """test_areas_import's ``ccvh_store`` on DuckLake: the CCVH template migrated into a new lake."""
    from biodiv.store.lake_copy import file_to_lake

    store = config.store()
    file_to_lake(ccvh_template, store)
    return store


@pytest.fixture
def prepare():  # noqa: F811
    """test_harvest_run's ``prepare`` on DuckLake: a new lake holding the template's territory."""
    from helpers_harvest import make_territory

    def _prepare(cfg):
        store = as_lake(cfg).store()
        with store.write(create=True) as con:
            make_territory(con)
        return store
    return _prepare


# File-backend semantics, by design not DuckLake's: there, a failed command publishes
# nothing, while on DuckLake every committed transaction (an attach batch, the 'failed' row
# of a run) is at once what readers see (tests/test_store_ducklake.py checks what DuckLake
# promises instead).
del test_failed_attach_leaves_the_published_store_unchanged  # noqa: F821
del test_unreachable_inaturalist_leaves_data_unchanged  # noqa: F821
# the file backend's working copy itself: a leftover resumed or discarded, readers kept on
# the published file until a writer ends (on DuckLake readers see each committed page)
del test_killed_import_leaves_the_published_database_intact  # noqa: F821
del test_a_stale_leftover_never_overrides_a_newer_published_file  # noqa: F821
del test_a_killed_run_is_resumed_from_its_leftover  # noqa: F821
del test_daily_budget_stops_cleanly_and_holds_across_runs  # noqa: F821
# asserts that the run's start and the harvest's own start are < 1 s apart: on DuckLake the
# commits in between (the run row, the settings) took 2.3 s on this shared machine (load 100);
# full + incremental on DuckLake: tests/test_store_ducklake.py compares both backends' tables
del test_full_then_incremental  # noqa: F821


def test_unreachable_inaturalist_leaves_the_lake_data_unchanged(tmp_path, prepare):
    """test_harvest_run's unreachable-iNaturalist test, as DuckLake promises it: the file test
    compares the published file's bytes, which a lake does not have; here every data table
    holds the same rows after the failed command. What a lake keeps besides is bookkeeping,
    committed before the first request: the run log, and the harvest cursor of a full harvest
    started from the first id (the next run resumes from there: nothing is skipped)."""
    import subprocess
    import sys

    from test_harvest_run import REPO, _free_port

    cfg = harvest_config(tmp_path, "http://unused/v1")
    store = prepare(cfg)
    tables = ("observations", "observation_raw", "taxa", "areas", "territory", "taxon_statuses")

    def rows():
        with store.read() as con:
            return {t: sorted(map(str, con.execute(f"SELECT * FROM {t}").fetchall())) for t in tables}

    before = rows()
    cfg.inaturalist.api_url = f"http://127.0.0.1:{_free_port()}/v1"
    cfg.inaturalist.max_retries = 1
    cfg_file = cfg.save(tmp_path / "biodiv.toml")
    proc = subprocess.run([sys.executable, "-m", "biodiv", "--config", str(cfg_file), "harvest", "--no-progress"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 1
    assert "cannot be reached" in proc.stderr and "biodiv demo" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 3
    assert rows() == before
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM runs WHERE kind = 'harvest' AND status = 'ok'").fetchone()[0] == 0
        cursor = con.execute("SELECT id_above FROM harvest_state WHERE scope = 'observations'").fetchall()
    assert cursor in ([], [(0,)])
