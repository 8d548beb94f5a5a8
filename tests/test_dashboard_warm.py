"""Background warm-up (biodiv.dashboard.warm): the spare DuckDB instance and the warmer that
computes the default views for each published file, on a real DuckDB file."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from biodiv.dashboard import warm
from biodiv.dashboard.ui import open_reader
from biodiv.store import StoreError, StoreMissing

from helpers_dashboard import EXPECTED, build_fixture_db


@pytest.fixture()
def fixture_db(tmp_path, monkeypatch):
    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.setenv("BIODIV_DB", str(db))
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    return db


def test_spare_instance_has_spatial_and_is_replaced():
    con = warm.take_instance()
    assert con.execute("SELECT ST_AsText(ST_Point(3.5, 43.6))").fetchone()[0] == "POINT (3.5 43.6)"
    con.close()
    for _ in range(300):  # a new spare is loaded in the background
        with warm._spare_lock:
            if warm._spare is not None:
                break
        time.sleep(0.05)
    assert warm._spare is not None
    spare = warm._spare
    con = warm.take_instance()
    assert con is spare
    con.close()


def test_reader_on_a_spare_instance(fixture_db, tmp_path):
    con = open_reader(fixture_db)
    n = con.execute("SELECT count(*) FROM observations WHERE removed_at IS NULL AND in_territory").fetchone()[0]
    assert n == EXPECTED["observations"]
    con.close()
    with pytest.raises(StoreMissing):
        open_reader(tmp_path / "absent.duckdb")
    (tmp_path / "not.duckdb").write_text("not a database")
    with pytest.raises(StoreError, match="not a readable DuckDB database"):
        open_reader(tmp_path / "not.duckdb")


def test_warmer_warms_each_published_file_once(fixture_db, tmp_path):
    w = warm.Warmer(fixture_db)
    assert w.poll() is True
    first = w.warmed[-1]
    assert w.poll() is False                        # same file: nothing to do
    copy = tmp_path / "new.duckdb"                  # a writer publishes a new file (atomic rename)
    shutil.copy(fixture_db, copy)
    os.replace(copy, fixture_db)
    assert w.poll() is True and w.warmed[-1] != first
    assert [d.path for d in w.warmed] == [str(fixture_db)] * 2

    fixture_db.unlink()                             # no file: nothing, no error
    assert w.poll() is False
    (fixture_db).write_text("half-written")         # unreadable: recorded, the page will say why
    assert w.poll() is True


def test_warmer_thread_starts_and_stops(fixture_db):
    w = warm.Warmer(fixture_db, interval=0.05).start()
    try:
        for _ in range(600):
            if w.warmed:
                break
            time.sleep(0.05)
        assert w.warmed
    finally:
        w.stop()
