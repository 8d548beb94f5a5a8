"""The DuckLake backend itself: the SQL translation, a killed harvest, readers in other
processes during writes, moving between backends, snapshots, compaction, bad input.

Real parts: a SQLite-catalog DuckLake with a local data path, the real CLI in subprocesses,
the stand-in iNaturalist server over 127.0.0.1 (tests/helpers_harvest.py).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import duckdb
import pytest

pytest.importorskip("duckdb_extension_ducklake")

from biodiv.config import Config, ConfigError, StoreConfig, load_config  # noqa: E402
from biodiv.errors import BiodivError  # noqa: E402
from biodiv.inat.harvest import harvest  # noqa: E402
from biodiv.store import lake_sql  # noqa: E402
from biodiv.store.database import Store, StoreError  # noqa: E402
from biodiv.store.lake import LakeSpec, live_files  # noqa: E402
from biodiv.store.lake_copy import file_to_lake, lake_to_file  # noqa: E402
from helpers_harvest import ObservationSet, StandInInat, Taxonomy, harvest_config, make_territory  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def lake_config(cfg: Config) -> Config:
    cfg.store_ = StoreConfig(backend="ducklake", catalog="sqlite:catalog.sqlite", data_path="lake")
    cfg.source_file = Path(cfg.db_path).parent / "biodiv.toml"
    return cfg


def new_lake(cfg: Config) -> Store:
    store = cfg.store()
    with store.write(create=True) as con:
        make_territory(con)
    return store


# ---------------------------------------------------------------------------
# the translation (pure)
# ---------------------------------------------------------------------------

def test_migrations_translate_to_ddl_ducklake_accepts():
    schema = lake_sql.lake_schema()
    ddl = " ".join(s for stmts in schema.statements.values() for s in stmts).upper()
    for refused in ("PRIMARY KEY", "UNIQUE", "CHECK (", "CREATE SEQUENCE", "CREATE TYPE", "NEXTVAL", "LINK_RELATION"):
        assert refused not in ddl, refused
    assert schema.keys["areas"] == ["id"] and "observations" not in schema.keys   # 009 dropped its key
    assert schema.keys["taxon_statuses"] == ["taxon_id", "source", "code", "scope"]
    assert schema.sequences == {"areas": ("id", "areas_id_seq"), "runs": ("id", "runs_id_seq")}
    assert "attached_at" not in schema.columns["observations"]      # 005's ALTER TABLE ran too
    assert any("CREATE VIEW v_observations" in s for s in schema.statements[3])
    assert any("CREATE OR REPLACE MACRO name_key" in s for s in schema.statements[3])


def test_upserts_become_merge_on_the_recorded_key():
    schema = lake_sql.lake_schema()
    [step] = lake_sql.translate(
        "INSERT INTO harvest_state (scope, id_above) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET id_above = excluded.id_above",
        schema)
    assert step.sql.startswith("MERGE INTO harvest_state USING (VALUES (?, ?)) AS excluded(scope, id_above)")
    assert "WHEN MATCHED THEN UPDATE SET id_above = excluded.id_above" in step.sql
    [step] = lake_sql.translate("INSERT OR REPLACE INTO meta VALUES ('demo', 'true')", schema)
    assert "ON (meta.key IS NOT DISTINCT FROM excluded.key)" in step.sql and "SET value = excluded.value" in step.sql
    [step] = lake_sql.translate("INSERT INTO taxon_statuses (taxon_id, source, kind, code, scope) "
                                "SELECT 1, 's', 'k', 'c', '' ON CONFLICT DO NOTHING", schema)
    assert "WHEN MATCHED" not in step.sql and "excluded.scope" in step.sql
    # a sequence column left out gets its temporary sequence; only for rows really inserted
    [step] = lake_sql.translate("INSERT INTO areas (type, code, geom) SELECT 'c', '1', NULL "
                                "ON CONFLICT (type, code) DO UPDATE SET geom = excluded.geom", schema)
    assert "INSERT (id, type, code, geom) VALUES (nextval('areas_id_seq'), excluded.type" in step.sql


def test_returning_is_answered_from_rows_kept_before_the_write():
    schema = lake_sql.lake_schema()
    steps = lake_sql.translate("INSERT INTO runs (kind, status) VALUES (?, 'running') RETURNING id", schema)
    assert [s.params for s in steps] == ["all", "none", "none"]
    assert "nextval('runs_id_seq') AS id" in steps[0].sql and steps[2].sql.startswith("SELECT id FROM")
    steps = lake_sql.translate(
        "UPDATE observations SET removed_at = ? WHERE id BETWEEN ? AND ? RETURNING id", schema)
    assert steps[0].params == "skip:1" and "WHERE id BETWEEN ? AND ?" in steps[0].sql
    assert steps[1].sql == "UPDATE observations SET removed_at = ? WHERE id BETWEEN ? AND ?"
    assert lake_sql.step_params(steps[0], steps[0].sql, ["t", 1, 2]) == [1, 2]
    assert lake_sql.step_params(steps[0], steps[0].sql, {"when": 1, "low": 2}) == {}
    assert lake_sql.translate("CHECKPOINT", schema) == [] and lake_sql.translate("CHECKPOINT biodiv", schema) == []
    [step] = lake_sql.translate("SELECT 'certain'::link_relation", schema)
    assert step.sql == "SELECT 'certain'::VARCHAR"


def test_writer_statements_run_on_a_lake(tmp_path):
    """The translated statements really run: ids from the sequences, upserts, RETURNING."""
    store = lake_config(Config(db_path=str(tmp_path / "biodiv.duckdb"))).store()
    with store.write(create=True) as con:
        make_territory(con)
        ids = [r[0] for r in con.execute("SELECT id FROM areas ORDER BY id").fetchall()]
        assert ids == [1, 2]
        first = con.execute("INSERT INTO runs (kind) VALUES ('x') RETURNING id").fetchone()[0]
        second = con.execute("INSERT INTO runs (kind) VALUES ('x') RETURNING id").fetchone()[0]
        assert (first, second) == (1, 2)
        con.execute("INSERT OR REPLACE INTO meta VALUES ('k', 'a')")
        con.execute("INSERT OR REPLACE INTO meta VALUES ('k', 'b')")
        assert con.execute("SELECT * FROM meta WHERE key = 'k'").fetchall() == [("k", "b")]
        done = con.execute("UPDATE runs SET status = $s WHERE kind = $k RETURNING id", {"s": "ok", "k": "x"}).fetchall()
        assert sorted(done) == [(1,), (2,)]
    with store.write() as con:          # a new writer continues the sequences past the stored ids
        assert con.execute("INSERT INTO runs (kind) VALUES ('y') RETURNING id").fetchone()[0] == 3


# ---------------------------------------------------------------------------
# harvests: same result as the file, kill -9, readers in other processes
# ---------------------------------------------------------------------------

def _table(store: Store, sql: str):
    with store.read() as con:
        return con.execute(sql).fetchall()


@pytest.mark.shared
def test_harvest_and_attach_give_the_same_tables_on_both_backends(tmp_path, shared_data):
    tax = Taxonomy(30)
    obs = ObservationSet(500, tax)
    stores = {}
    with StandInInat(obs, tax) as api:
        for backend in ("file", "ducklake"):
            d = tmp_path / backend
            d.mkdir()
            cfg = harvest_config(d, api.url)
            if backend == "ducklake":
                lake_config(cfg)
            store = new_lake(cfg) if backend == "ducklake" else _new_file(cfg)
            with store.write() as con:
                summary = harvest(cfg, con, progress=False)
            assert summary["new"] == 500
            stores[backend] = store
    for sql in (
        "SELECT id, uuid, taxon_id, lon, lat, ST_AsText(geom), obscured, needs_attach, in_territory FROM observations ORDER BY id",
        "SELECT id, md5(raw) FROM observation_raw ORDER BY id",
        "SELECT * EXCLUDE (fetched_at, statuses_at) FROM taxa ORDER BY id",
        "SELECT observation_id, area_id, relation::VARCHAR FROM observation_areas ORDER BY ALL",
        "SELECT scope, mode, id_above, in_progress FROM harvest_state ORDER BY scope",
        "SELECT id, kind, status FROM runs ORDER BY id",
        "SELECT id, commune_code, n2000_codes FROM v_observations ORDER BY id",
    ):
        assert _table(stores["file"], sql) == _table(stores["ducklake"], sql), sql


def _new_file(cfg: Config) -> Store:
    store = cfg.store()
    with store.write(create=True) as con:
        make_territory(con)
    return store


def _cli(cfg_file: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "biodiv", "--config", str(cfg_file), *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


READER = textwrap.dedent("""
    import sys, time
    from biodiv.config import load_config
    store = load_config(sys.argv[1]).store()
    errors, counts, deadline = [], [], time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline:
        try:
            with store.read() as con:
                n, d = con.execute("SELECT count(*), count(DISTINCT id) FROM observations").fetchone()
                r = con.execute("SELECT count(*) FROM observation_raw").fetchone()[0]
                counts.append((n, d, r))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    print(repr((errors, counts)))
""")


@pytest.mark.shared
def test_sigkill_during_a_harvest_loses_nothing_and_readers_never_fail(tmp_path, shared_data):
    """kill -9 on a page: the committed pages stay, the resumed run fetches the rest, no id
    twice; two reader processes loop meanwhile and see only committed pages, never an error."""
    tax = Taxonomy(40)
    n = 1200   # six pages
    obs = ObservationSet(n, tax, seed=5)
    with StandInInat(obs, tax) as api:
        cfg = lake_config(harvest_config(tmp_path, api.url))
        new_lake(cfg)
        cfg_file = cfg.save(tmp_path / "biodiv.toml")
        assert load_config(cfg_file).store().lake is not None
        readers = [subprocess.Popen([sys.executable, "-c", READER, str(cfg_file), "25"], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        proc = _cli(cfg_file, "harvest", "--no-progress")

        def maybe_kill(server):
            if server.obs_pages == 4:
                threading.Timer(0.02, proc.send_signal, [signal.SIGKILL]).start()

        api.on_request = maybe_kill
        proc.wait(timeout=240)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        api.on_request = None
        store = cfg.store()
        kept = _table(store, "SELECT count(*), count(DISTINCT id) FROM observations")[0]
        assert 0 < kept[0] < n and kept[0] == kept[1] and kept[0] % 200 == 0   # whole pages only

        resumed = _cli(cfg_file, "harvest", "--no-progress")
        out, err = resumed.communicate(timeout=240)
        assert resumed.returncode == 0, err
        assert "resumed" in out
        total, distinct, raws = _table(
            store, "SELECT count(*), count(DISTINCT id), (SELECT count(*) FROM observation_raw) FROM observations")[0]
        assert (total, distinct, raws) == (n, n, n)
        assert [r[0] for r in _table(store, "SELECT id FROM observations ORDER BY id")] == obs.ids()
        statuses = [r[0] for r in _table(store, "SELECT status FROM runs WHERE kind = 'harvest' ORDER BY id")]
        assert statuses == ["interrupted", "ok"]
        for r in readers:
            out, err = r.communicate(timeout=120)
            assert r.returncode == 0, err
            errors, counts = eval(out.strip().splitlines()[-1])
            assert errors == [] and counts
            assert all(c[0] == c[1] and c[0] % 200 == 0 or c[0] == n for c in counts)  # committed pages only
            assert [c[0] for c in counts] == sorted(c[0] for c in counts)          # never backwards


# ---------------------------------------------------------------------------
# moving between backends, snapshots, compaction
# ---------------------------------------------------------------------------

@pytest.mark.shared
def test_store_migrate_to_ducklake_and_back_keeps_every_row(tmp_path, shared_data):
    tax = Taxonomy(20)
    obs = ObservationSet(300, tax)
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url)
        source = _new_file(cfg)
        with source.write() as con:
            harvest(cfg, con, progress=False)
    cfg_file = cfg.save(tmp_path / "biodiv.toml")
    text = cfg_file.read_text() + '\n[store]\ncatalog = "sqlite:catalog.sqlite"\ndata_path = "lake"\n'
    cfg_file.write_text(text)
    proc = _cli(cfg_file, "store", "migrate", "--to", "ducklake")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "300 observations" in out and 'backend = "ducklake"' in out
    cfg_file.write_text(text.replace("[store]\n", '[store]\nbackend = "ducklake"\n'))
    lake = load_config(cfg_file).store()
    assert lake.lake is not None
    back = tmp_path / "back.duckdb"
    proc = _cli(cfg_file, "store", "migrate", "--to", "file", "--output", str(back))
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    tables = [t for t in lake_sql.lake_schema().tables]
    for t in tables:
        order = "ORDER BY ALL" if t not in ("observation_raw",) else "ORDER BY id"
        sql = f"SELECT * FROM {t} {order}" if t != "observation_raw" else f"SELECT id, md5(raw) FROM {t} {order}"
        if t == "schema_migrations":
            sql = "SELECT version, name FROM schema_migrations ORDER BY version"
        file_rows = _table(source, sql)
        assert _table(lake, sql) == file_rows, t
        assert _table(Store(back), sql) == file_rows, t
    # the copy back is a working file: its sequences continue past the copied ids
    with Store(back).write() as con:
        top = con.execute("SELECT max(id) FROM runs").fetchone()[0]
        assert con.execute("INSERT INTO runs (kind) VALUES ('x') RETURNING id").fetchone()[0] == top + 1
    # and neither direction overwrites a target that holds data
    with pytest.raises(StoreError, match="already holds data"):
        file_to_lake(source.path, lake)
    with pytest.raises(StoreError, match="already exists"):
        lake_to_file(lake.lake.spec, back)


def test_status_shows_snapshots_and_maintenance_merges_files(tmp_path):
    cfg = lake_config(Config(db_path=str(tmp_path / "biodiv.duckdb")))
    store = new_lake(cfg)
    for i in range(6):
        with store.write() as con:
            con.execute("INSERT INTO observations (id, lon, lat) SELECT range, 3.5, 43.6 FROM range(?, ?)",
                        [i * 100, i * 100 + 100])
    with store.read() as con:
        files_before = live_files(con)[0]
    assert files_before >= 6
    cfg_file = cfg.save(tmp_path / "biodiv.toml")
    proc = _cli(cfg_file, "status", "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lake = json.loads(out)["lake"]
    assert lake["snapshots"] > 6 and lake["data_files"] == files_before
    assert Path(lake["data_path"]) == tmp_path / "lake"
    proc = _cli(cfg_file, "status")
    out, _ = proc.communicate(timeout=120)
    assert "DuckLake" in out and "snapshots" in out
    proc = _cli(cfg_file, "store", "maintenance", "--expire-older-than", "0 seconds")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    with store.read() as con:
        files_after = live_files(con)[0]
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM observations").fetchone() == (600, 600)
    assert files_after < files_before
    assert f"data files: {files_before} -> {files_after}" in out
    parquet = list((tmp_path / "lake").rglob("*.parquet"))
    assert len(parquet) <= files_after + 1       # expired snapshots' files deleted from disk


# ---------------------------------------------------------------------------
# bad input: one line, nothing lost
# ---------------------------------------------------------------------------

def test_bad_backend_or_catalog_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match=r'store.backend = "lake": expected one of "file" or "ducklake"'):
        StoreConfig(backend="lake")
    with pytest.raises(ConfigError, match=r'store.catalog = "mysql:x"'):
        StoreConfig(backend="ducklake", catalog="mysql:x")
    bad = tmp_path / "biodiv.toml"
    bad.write_text('[store]\nbackend = "ducklake"\ncatalog = "sqlite:cat.sqlite"\nwat = 1\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in \[store\]: wat"):
        load_config(bad)
    # a SQLite file that is not a DuckLake catalog: refused in one line, left untouched
    other = tmp_path / "other.sqlite"
    import sqlite3

    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE x (a INTEGER)")
    before = other.read_bytes()
    store = Store(other)
    assert store.lake is not None
    with pytest.raises(StoreError) as err:
        store.reader()
    assert "\n" not in str(err.value) and str(other) in str(err.value)
    assert other.read_bytes() == before
    # a file-backend config asking for lake commands
    cfg_file = Config(db_path=str(tmp_path / "f.duckdb")).save(tmp_path / "file.toml")
    proc = _cli(cfg_file, "store", "snapshots")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and len(err.strip().splitlines()) == 1 and "DuckLake" in err


def test_missing_lake_says_what_to_run(tmp_path):
    store = lake_config(Config(db_path=str(tmp_path / "biodiv.duckdb"))).store()
    with pytest.raises(BiodivError, match="biodiv init"):
        store.reader()
    with pytest.raises(BiodivError, match="biodiv init"):
        with store.write():
            pass
    assert not (tmp_path / "catalog.sqlite").exists()


def test_lake_spec_display_hides_a_postgres_password():
    spec = LakeSpec("postgres:dbname=biodiv host=db password=s3cret user=biodiv")
    assert "s3cret" not in spec.display and spec.catalog_file is None
    with pytest.raises(StoreError):
        LakeSpec("ftp:x").kind
    assert duckdb.__version__ == "1.5.5"   # the extension wheels are pinned to this version
