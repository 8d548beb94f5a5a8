"""Background warm-up (biodiv.dashboard.warm): the warmer that computes the default views for
each published file, the plain reader instances and the one spatial instance
(biodiv.dashboard.spatial), on a real DuckDB file."""

from __future__ import annotations

import logging
import os
import shutil
import time
from datetime import date

import duckdb
import pandas as pd
import pytest

from biodiv.dashboard import data, spatial, ui, warm
from biodiv.dashboard.ui import Db, open_reader
from biodiv.store.database import StoreError, StoreMissing

from helpers_dashboard import EXPECTED, EXPECTED_ALL_QUALITIES, build_fixture_db


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
    assert n == EXPECTED_ALL_QUALITIES["observations"]     # every grade: a plain read of the table
    assert not spatial_loaded(con)          # no LOAD spatial paid per published file
    # half the cores: the rest for the browser on the same machine (see ui.READER_THREADS)
    assert con.execute("SELECT current_setting('threads')").fetchone()[0] == ui.READER_THREADS
    assert ui.READER_THREADS == max(1, (os.cpu_count() or 2) // 2)
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


def default_view_queries(f=data.NO_FILTERS):
    """Every query the Vue d'ensemble, Carte and Mode atelier pages make with no filter
    (see their code)."""
    return [
        (data.db_info, ()), (data.date_range, ()), (data.group_options, ui.public_args()),
        (data.species_options, ui.public_args()), (data.area_list, ("commune",)),
        (data.area_list, (("n2000_zsc", "n2000_zps"),)),
        (data.key_figures, (f,)), (data.area_measures, (f, "commune")),
        (data.per_group, (f,)), (data.per_year, (f,)), (data.per_month, (f,)),
        (data.new_species, (date.today().year, f)), (data.territory_bounds, ()),
        (data.area_features, ("commune",)), (data.area_features, ("n2000_zsc",)),
        (data.area_features, ("n2000_zps",)), (data.map_points, (f, ui.point_limit())),
        (data.latest_observations, (40, ui.base_filters(public=True))),   # the Mode atelier is always public
    ]


def computed_directly(path, fn, args):
    """``fn`` on a reader of its own, no cache (spatial queries: on a spatial connection)."""
    con = duckdb.connect(":memory:")
    try:
        if fn.__name__ in ui.SPATIAL_QUERIES:
            con.execute("LOAD spatial")
        con.execute(f"ATTACH '{path}' AS d (READ_ONLY)")
        con.execute("USE d")
        return fn(con, *args)
    finally:
        con.close()


def assert_same(cached, direct, what):
    if isinstance(direct, pd.DataFrame):
        pd.testing.assert_frame_equal(cached, direct, obj=what)
    else:
        assert cached == direct, what


def test_warm_up_leaves_every_default_view_computed_in_the_cache(fixture_db, monkeypatch):
    w = warm.Warmer(fixture_db)
    assert w.poll() is True and w.failed == []
    db = w.warmed[-1]
    assert db == identity(fixture_db)

    # from now on, a query that is not in the cache fails the test instead of running
    asked = []

    def not_warmed(*args, **kwargs):
        pytest.fail(f"{asked[-1]} was not computed by the warm-up")

    monkeypatch.setattr(ui, "cursor", not_warmed)
    monkeypatch.setattr(spatial, "run", not_warmed)
    for fn, args in default_view_queries():
        what = f"{fn.__name__}{args}"
        asked.append(what)
        assert_same(ui.q(db, fn, *args), computed_directly(fixture_db, fn, args), what)
    # and the cached figures are the fixture's known ones, not merely self-consistent
    k = ui.q(db, data.key_figures, data.NO_FILTERS)
    assert (k["observations"], k["species"], k["observers"], k["obscured"], k["drawable"]) == (
        EXPECTED["observations"], EXPECTED["species"], EXPECTED["observers"],
        EXPECTED["obscured"], EXPECTED["drawable"])
    assert len(ui.q(db, data.map_points, data.NO_FILTERS, ui.point_limit())) == EXPECTED["drawable"]


def test_a_failed_warm_up_is_logged_and_not_reported_as_warmed(fixture_db, tmp_path, monkeypatch, caplog):
    def broken(db):
        raise RuntimeError("query planner exploded")

    monkeypatch.setattr(warm, "default_views", broken)
    w = warm.Warmer(fixture_db)
    with caplog.at_level(logging.WARNING, logger="biodiv.dashboard.warm"):
        assert w.poll() is False
    assert w.warmed == [] and w.failed == [identity(fixture_db)]
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert str(fixture_db) in record.getMessage() and "query planner exploded" in record.getMessage()
    caplog.clear()
    assert w.poll() is False and caplog.records == []     # same file: not retried every poll
    monkeypatch.undo()
    monkeypatch.setenv("BIODIV_DB", str(fixture_db))
    copy = tmp_path / "new.duckdb"                         # the next published file is warmed
    shutil.copy(fixture_db, copy)
    os.replace(copy, fixture_db)
    assert w.poll() is True and w.warmed == [identity(fixture_db)]


def test_warmer_warms_each_published_file_once(fixture_db, tmp_path, caplog):
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
    assert w.poll() is False and w.failed == []
    fixture_db.write_text("half-written")           # unreadable: logged, not warmed
    with caplog.at_level(logging.WARNING, logger="biodiv.dashboard.warm"):
        assert w.poll() is False
    assert len(w.warmed) == 2 and w.failed == [identity(fixture_db)]
    assert "not a readable DuckDB database" in caplog.text


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
