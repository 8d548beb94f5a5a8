"""Background warm-up (biodiv.dashboard.warm): the warmer that computes the default views for
each published file, the plain reader instances and the one spatial instance
(biodiv.dashboard.spatial), on a real DuckDB file."""

from __future__ import annotations

import os
import shutil
import time

import duckdb
import pytest

from biodiv.dashboard import data, spatial, ui, warm
from biodiv.dashboard.ui import Db, open_reader
from biodiv.store.database import StoreError, StoreMissing

from helpers_dashboard import EXPECTED, build_fixture_db


@pytest.fixture()
def fixture_db(tmp_path, monkeypatch):
    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.setenv("BIODIV_DB", str(db))
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    return db


def spatial_loaded(con) -> bool:
    return con.execute(
        "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'spatial'").fetchone()[0]


def identity(path):
    st = os.stat(path)
    return Db(str(path), st.st_ino, st.st_mtime_ns, st.st_size)


def test_reader_is_a_plain_instance(fixture_db, tmp_path):
    con = open_reader(fixture_db)
    n = con.execute("SELECT count(*) FROM observations WHERE removed_at IS NULL AND in_territory").fetchone()[0]
    assert n == EXPECTED["observations"]
    assert not spatial_loaded(con)          # no LOAD spatial paid per published file
    con.close()
    with pytest.raises(StoreMissing):
        open_reader(tmp_path / "absent.duckdb")
    (tmp_path / "not.duckdb").write_text("not a database")
    with pytest.raises(StoreError, match="not a readable DuckDB database"):
        open_reader(tmp_path / "not.duckdb")


def test_outlines_read_on_the_spatial_instance_follow_each_published_file(fixture_db, tmp_path):
    first = identity(fixture_db)
    names = [f["properties"]["name"] for f in spatial.run(first, data.area_features, "commune")["features"]]
    assert names == ["Alpha", "Beta", "Gamma"]
    for round_ in range(spatial.KEEP + 1):   # a writer publishes new files (atomic rename)
        copy = tmp_path / "new.duckdb"
        shutil.copy(fixture_db, copy)
        con = duckdb.connect(str(copy))
        con.execute("UPDATE areas SET name = ? WHERE code = 'T0001'", [f"Alpha {round_}"])
        con.close()
        os.replace(copy, fixture_db)
        db = identity(fixture_db)
        fc = spatial.run(db, data.area_features, "commune")
        assert fc["features"][0]["properties"]["name"] == f"Alpha {round_}"
        assert fc["features"][0]["geometry"]["type"] == "Polygon"
    # older files are detached: at most KEEP stay attached, the newest last
    assert len(spatial.attached()) <= spatial.KEEP and spatial.attached()[-1] == db
    assert first not in spatial.attached()


def test_default_views_leave_the_reader_without_spatial(fixture_db):
    """The outlines (spatial functions) of the default views ran elsewhere: the reader of the
    file never loaded the extension."""
    w = warm.Warmer(fixture_db)
    assert w.poll() is True
    db = w.warmed[-1]
    assert ui.q(db, data.area_features, "commune")["features"]
    assert not spatial_loaded(ui._connection(db))


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
