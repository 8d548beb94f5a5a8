"""`biodiv attach`, `status` and `migrate` through the real CLI entry point (subprocess)."""

import json
import os
import subprocess
import sys

import pytest

from biodiv.store.database import Store, connect, latest_version, migrations


def run(args, db, check=True):
    env = {**os.environ, "BIODIV_DB": str(db)}
    env.pop("BIODIV_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "biodiv", *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr + proc.stdout)
    return proc


def _db(tmp_path):
    store = Store(tmp_path / "biodiv.duckdb")
    with store.write(create=True) as con:
        con.execute("""INSERT INTO territory (name, insee_codes) VALUES ('Test', ['99001'])""")
        con.execute("""INSERT INTO areas (type, code, name, geom, in_territory, area_km2) VALUES
            ('commune', '99001', 'Alpha', ST_GeomFromText('POLYGON((3 43, 3.1 43, 3.1 43.1, 3 43.1, 3 43))'), true, 90.5)""")
        con.execute("""INSERT INTO observations (id, lon, lat, geom, positional_accuracy) VALUES
            (1, 3.05, 43.05, ST_Point(3.05, 43.05), 10), (2, 5.0, 45.0, ST_Point(5.0, 45.0), 10)""")
    return store


def test_attach_then_status(tmp_path):
    store = _db(tmp_path)
    out = run(["attach"], store.path).stdout
    assert "attached 2 observations: 1 links (1 certain, 0 edge), 1 outside the territory" in out
    assert "1 area indexes built" in out                      # first attach: the index is built...
    again = run(["attach", "--all"], store.path).stdout
    assert "attached 2 observations" in again and "indexes built" not in again   # ...then reused
    st = json.loads(run(["status", "--json"], store.path).stdout)
    assert st["territory"]["name"] == "Test"
    assert st["areas"][0]["type"] == "commune" and st["areas"][0]["count"] == 1
    assert st["observations"]["total"] == 2 and st["observations"]["outside"] == 1
    assert st["observations"]["in_territory"] == 1 and st["observations"]["pending_attach"] == 0
    assert st["runs"][0]["kind"] == "attach" and st["runs"][0]["status"] == "ok"
    human = run(["status"], store.path).stdout
    assert "Test" in human and "1 outside" in human


def test_status_without_database_says_what_to_run(tmp_path):
    proc = run(["status"], tmp_path / "none.duckdb", check=False)
    assert proc.returncode == 1
    assert "biodiv init" in proc.stderr and "Traceback" not in proc.stderr


def test_corrupt_database_is_reported_and_left_alone(tmp_path):
    bad = tmp_path / "biodiv.duckdb"
    bad.write_bytes(b"this is not a duckdb file" * 100)
    before = bad.read_bytes()
    for cmd in (["status"], ["attach"]):
        proc = run(cmd, bad, check=False)
        assert proc.returncode == 1
        assert "not a readable DuckDB database" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert bad.read_bytes() == before
    assert not (tmp_path / "biodiv.duckdb.wip").exists()


def test_second_writer_is_refused_while_one_writes(tmp_path):
    store = _db(tmp_path)
    with store.write():
        proc = run(["attach"], store.path, check=False)
    assert proc.returncode == 1 and "another biodiv command is writing" in proc.stderr


def test_old_schema_is_upgraded_by_migrate(tmp_path):
    if latest_version() < 2:
        pytest.skip("no migration after 001 yet")
    store = Store(tmp_path / "old.duckdb")
    con = connect(store.path)
    con.execute(migrations()[0].sql)
    con.execute("INSERT INTO schema_migrations (version, name) VALUES (1, 'foundation')")
    con.close()
    proc = run(["status"], store.path, check=False)
    assert proc.returncode == 1 and "biodiv migrate" in proc.stderr
    assert "schema version" in run(["migrate"], store.path).stdout
    st = json.loads(run(["status", "--json"], store.path).stdout)
    assert st["schema_version"] == latest_version()


def test_usage_errors_exit_2_without_traceback(tmp_path):
    for args in (["no-such-command"], ["attach", "--no-such-option"]):
        proc = run(args, tmp_path / "x.duckdb", check=False)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr and "Usage" in proc.stderr


def test_update_on_a_fresh_machine_offline_offers_the_demo(tmp_path):
    """The main job starts with `init`; with no network it says so and offers the demo."""
    cfg = tmp_path / "biodiv.toml"
    cfg.write_text('db_path = "data/biodiv.duckdb"\n[sources]\ngeo_api_url = "http://127.0.0.1:9"\ntimeout = 2\n')
    env = {**os.environ, "BIODIV_CONFIG": str(cfg)}
    env.pop("BIODIV_DB", None)
    proc = subprocess.run([sys.executable, "-m", "biodiv", "update", "--no-progress"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 1
    assert "unreachable" in proc.stderr and "biodiv demo" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "biodiv.duckdb").exists()
    assert cfg.read_text().count("geo_api_url") == 1  # config untouched
