"""Migration 009: observations and observation_raw without a key, and the harvest's upsert
that keeps each id written once without one (biodiv.inat.db.upsert_observations)."""

from __future__ import annotations

import pytest

from biodiv.inat import db
from biodiv.inat.client import RequestCounter
from biodiv.inat.fields import OBSERVATION_FIELDS
from biodiv.inat.harvest import HarvestRun, _store_page
from biodiv.store.database import Store, connect, migrations
from helpers_harvest import ObservationSet, Taxonomy, harvest_config, make_territory, v2_answer

pytestmark = pytest.mark.shared   # the records are built from the real responses


def _keys(con, table: str) -> list:
    return con.execute(
        "SELECT constraint_type FROM duckdb_constraints() WHERE table_name = ? "
        "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')", [table]).fetchall()


def _fill(cfg, obs: ObservationSet, ids: list[int]) -> None:
    with Store(cfg.db).write(create=True) as con:
        if not con.execute("SELECT count(*) FROM territory").fetchone()[0]:
            make_territory(con)
        run = HarvestRun(cfg, con, db.start_run(con, "harvest", {}), RequestCounter())
        _store_page(con, run, [v2_answer(obs.record(i), OBSERVATION_FIELDS) for i in ids], 0)


def test_a_store_at_007_loses_its_keys_and_keeps_every_row(tmp_path):
    obs = ObservationSet(300, Taxonomy(30))
    cfg = harvest_config(tmp_path, "http://127.0.0.1:9/v1")
    _fill(cfg, obs, obs.ids()[:250])
    with Store(cfg.db).read() as con:
        want_obs = con.execute("SELECT * FROM observations ORDER BY id").fetchall()
        want_raw = con.execute("SELECT * FROM observation_raw ORDER BY id").fetchall()
        columns = con.execute("SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
                              "WHERE table_name = 'observations' ORDER BY column_index").fetchall()
        assert _keys(con, "observations") == [] and _keys(con, "observation_raw") == []

    # the same store as biodiv before 009 wrote it: keyed tables, schema version 8
    old = tmp_path / "old.duckdb"
    con = connect(old)
    for m in migrations():
        if m.version <= 8:
            con.execute(m.sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [m.version, m.name])
    con.execute(f"ATTACH '{cfg.db}' AS new (READ_ONLY)")
    con.execute("INSERT INTO observations SELECT * FROM new.observations")
    con.execute("INSERT INTO observation_raw SELECT * FROM new.observation_raw")
    assert _keys(con, "observations") and _keys(con, "observation_raw")
    con.close()

    with Store(old).write() as con:     # applies 009
        assert 9 in {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    with Store(old).read() as con:
        assert con.execute("SELECT * FROM observations ORDER BY id").fetchall() == want_obs
        assert con.execute("SELECT * FROM observation_raw ORDER BY id").fetchall() == want_raw
        assert con.execute("SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
                           "WHERE table_name = 'observations' ORDER BY column_index").fetchall() == columns
        assert _keys(con, "observations") == [] and _keys(con, "observation_raw") == []
        assert con.execute("SELECT count(*) FROM v_observations").fetchone()[0] == 250   # views follow


def test_pages_sent_again_changed_or_repeated_write_each_id_once(tmp_path):
    tax = Taxonomy(30)
    obs = ObservationSet(400, tax)
    cfg = harvest_config(tmp_path, "http://127.0.0.1:9/v1")
    ids = obs.ids()
    _fill(cfg, obs, ids[:200])
    _fill(cfg, obs, ids[100:300])            # overlaps the first page by 100 ids
    moved = ids[150]
    rec = obs.record(moved)
    rec["geojson"]["coordinates"] = [rec["geojson"]["coordinates"][0] + 0.01, rec["geojson"]["coordinates"][1]]
    rec["location"] = f"{rec['geojson']['coordinates'][1]},{rec['geojson']['coordinates'][0]}"
    obs.put(rec)
    with Store(cfg.db).write() as con:
        con.execute("UPDATE observations SET needs_attach = false")
    with Store(cfg.db).write() as con:       # a new id twice in one page, and the moved record
        run = HarvestRun(cfg, con, db.start_run(con, "harvest", {}), RequestCounter())
        page = [v2_answer(obs.record(i), OBSERVATION_FIELDS) for i in [ids[140], ids[350], ids[350], moved]]
        _store_page(con, run, page, 0)
        counts = run.stats
    with Store(cfg.db).read() as con:
        n, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM observations").fetchone()
        raw_n, raw_distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM observation_raw").fetchone()
        assert (n, distinct) == (301, 301) and (raw_n, raw_distinct) == (301, 301)
        assert sorted(r[0] for r in con.execute("SELECT id FROM observations WHERE needs_attach").fetchall()) \
            == sorted([moved, ids[350]])
        lon = con.execute("SELECT lon FROM observations WHERE id = ?", [moved]).fetchone()[0]
        assert lon == pytest.approx(rec["geojson"]["coordinates"][0])
    assert counts["new"] >= 1 and counts["updated"] >= 1
