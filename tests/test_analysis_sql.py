"""`biodiv sql` and `biodiv query`: read-only, no file access, clear one-line errors, and the
store is neither changed nor locked by a reader.

The escapes tested below are the ones found by attacking the project as a hostile analyst
would (issue 11) plus the neighbours of each: every one is refused before anything runs,
and leaves the database byte-identical and no file behind."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time

import duckdb
import pandas as pd
import pytest

from biodiv.analysis.queries import QueryError, lock_down, run_sql
from biodiv.analysis.readonly import Limits, QueryTimeout, SqlRefused, check_read_only, open_reader
from helpers_analysis import build_fixture, cli_invoke, copy_store


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("sql") / "template.duckdb").path


@pytest.fixture
def fx(template_db, tmp_path):
    return copy_store(template_db, tmp_path)


def test_sql_counts_observations(fx, tmp_path, monkeypatch):
    result = cli_invoke(["sql", "SELECT count(*) AS n FROM observations", "--format", "csv"], fx, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["n", "9"]
    result = cli_invoke(["sql", "SELECT count(*) AS n FROM v_observations", "--format", "csv"], fx, tmp_path,
                        monkeypatch)
    assert result.output.splitlines() == ["n", "8"]  # one observation is removed
    result = cli_invoke(["sql", "SELECT count(*) AS n FROM v_observations"], fx, tmp_path, monkeypatch)
    assert "1 row(s)" in result.output


def test_insert_through_the_real_cli_fails_cleanly_and_changes_nothing(fx, tmp_path):
    before = fx.path.read_bytes()
    env = dict(os.environ, BIODIV_DB=str(fx.path), BIODIV_CONFIG=str(tmp_path / "absent.toml"))
    proc = subprocess.run(
        [sys.executable, "-m", "biodiv", "sql", "INSERT INTO meta VALUES ('hacked', 'yes')"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "read-only" in lines[0]
    assert "Traceback" not in proc.stderr
    assert fx.path.read_bytes() == before
    assert not fx.wip_path.exists()
    with fx.read() as con:
        assert con.execute("SELECT count(*) FROM meta WHERE key = 'hacked'").fetchone()[0] == 0


@pytest.mark.parametrize("statement", [
    "UPDATE observations SET quality_grade = 'casual'",
    "DELETE FROM taxa",
    "DROP VIEW v_observations",
    "CREATE TABLE x AS SELECT 1",
])
def test_writes_are_refused(fx, tmp_path, monkeypatch, statement):
    result = cli_invoke(["sql", statement], fx, tmp_path, monkeypatch)
    assert isinstance(result.exception, QueryError)
    assert "read-only" in str(result.exception) and "\n" not in str(result.exception)


def test_no_file_can_be_read_written_or_attached(fx, tmp_path):
    con = lock_down(fx.reader())
    try:
        for statement in (
            f"COPY observations TO '{tmp_path / 'leak.csv'}'",
            f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
            f"SELECT * FROM read_csv('{fx.path}')",
            "SET enable_external_access = true",
        ):
            with pytest.raises(QueryError):
                run_sql(con, statement)
    finally:
        con.close()
    assert not (tmp_path / "leak.csv").exists() and not (tmp_path / "other.duckdb").exists()


def test_bad_sql_is_one_line(fx, tmp_path, monkeypatch):
    result = cli_invoke(["sql", "SELEC 1"], fx, tmp_path, monkeypatch)
    assert isinstance(result.exception, QueryError)
    assert str(result.exception).startswith("SQL failed: Parser Error") and "\n" not in str(result.exception)
    result = cli_invoke(["sql", "SELECT nope FROM observations"], fx, tmp_path, monkeypatch)
    assert isinstance(result.exception, QueryError) and "nope" in str(result.exception)
    result = cli_invoke(["sql", "  "], fx, tmp_path, monkeypatch)
    assert isinstance(result.exception, QueryError) and "no SQL given" in str(result.exception)


def test_a_reader_never_locks_the_store(fx):
    reader = fx.reader()
    try:
        with fx.write() as con:  # a harvest publishing while an analyst reads
            con.execute("INSERT INTO meta VALUES ('k', 'v')")
        assert reader.execute("SELECT count(*) FROM meta WHERE key = 'k'").fetchone()[0] == 0  # own snapshot
    finally:
        reader.close()
    with fx.read() as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "v"


def test_missing_database_is_a_clear_message(tmp_path, monkeypatch):
    from biodiv.store.database import Store, StoreMissing

    result = cli_invoke(["sql", "SELECT 1"], Store(tmp_path / "none.duckdb"), tmp_path, monkeypatch)
    assert isinstance(result.exception, StoreMissing)


def test_geometry_comes_out_as_wkt_and_dates_as_dates(fx):
    con = lock_down(fx.reader())
    try:
        df = run_sql(con, "SELECT code, geom, DATE '2024-01-02' AS d FROM areas WHERE code = '34001'")
    finally:
        con.close()
    assert df.loc[0, "geom"].startswith("POLYGON ((3.4 43.5")
    assert str(df.loc[0, "d"]) == "2024-01-02"


def test_sql_from_file_and_stdin(fx, tmp_path, monkeypatch):
    sql_file = tmp_path / "q.sql"
    sql_file.write_text("SELECT count(*) AS n FROM taxa", encoding="utf-8")
    result = cli_invoke(["sql", "--file", str(sql_file), "-f", "csv"], fx, tmp_path, monkeypatch)
    assert result.output.splitlines() == ["n", "7"]
    result = cli_invoke(["sql", "-", "-f", "csv"], fx, tmp_path, monkeypatch, input="SELECT 41 + 1 AS x")
    assert result.output.splitlines() == ["x", "42"]


def test_query_run_formats(fx, tmp_path, monkeypatch):
    args = ["query", "run", "species_by_area", "--param", "area=34002"]
    csv_out = cli_invoke(args + ["--format", "csv"], fx, tmp_path, monkeypatch)
    assert csv_out.exit_code == 0, csv_out.output
    df = pd.read_csv(io.StringIO(csv_out.output))
    assert list(df["scientific_name"]) == ["Aquila fasciata", "Quercus ilex"]
    js = cli_invoke(args + ["--format", "json"], fx, tmp_path, monkeypatch)
    records = json.loads(js.output)
    assert records[1]["n_observations"] == 2 and records[0]["last_observed"].startswith("2025-05-05")
    md = cli_invoke(args + ["--format", "markdown"], fx, tmp_path, monkeypatch)
    assert md.output.splitlines()[0].startswith("| taxon_id | scientific_name |")
    out = tmp_path / "gignac.csv"
    written = cli_invoke(args + ["--format", "csv", "--out", str(out)], fx, tmp_path, monkeypatch)
    assert written.exit_code == 0 and pd.read_csv(out).shape == (2, 13)
    table = cli_invoke(args, fx, tmp_path, monkeypatch)
    assert "Aigle de Bonelli" in table.output and "2 row(s)" in table.output


def test_query_run_errors(fx, tmp_path, monkeypatch):
    result = cli_invoke(["query", "run", "species_by_area", "--param", "area"], fx, tmp_path, monkeypatch)
    assert isinstance(result.exception, QueryError) and "name=value" in str(result.exception)
    result = cli_invoke(["query", "run", "species_by_area", "-p", "area=34001", "-p", "colour=red"], fx, tmp_path, monkeypatch)
    assert isinstance(result.exception, QueryError) and "unknown parameter 'colour'" in str(result.exception)
    result = cli_invoke(["query", "run", "nope"], fx, tmp_path, monkeypatch)
    assert isinstance(result.exception, QueryError) and "unknown query 'nope'" in str(result.exception)


def test_query_list(fx, tmp_path, monkeypatch):
    from biodiv.analysis.queries import list_queries

    result = cli_invoke(["query", "list"], fx, tmp_path, monkeypatch)
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == len(list_queries())
    assert any(line.startswith("species_by_area  Species per area") for line in lines)
    verbose = cli_invoke(["query", "list", "--verbose"], fx, tmp_path, monkeypatch)
    assert "--param area=<VARCHAR> (required)" in verbose.output


# ---------------------------------------------------------------------------
# Escapes (issue 11): refused before anything runs, nothing changed, no file written
# ---------------------------------------------------------------------------

def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root) -> dict[str, str]:
    """Every file under ``root`` with its hash (to prove nothing was written or changed)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def hostile_cwd(tmp_path):
    """A current directory holding a ``.tmp/`` folder (DuckDB's default temp directory,
    which file-access-disabled DuckDB still lets a session write to) with a CSV in it."""
    tmp = tmp_path / ".tmp"
    tmp.mkdir()
    (tmp / "secret.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp / "schema.sql").write_text("CREATE TABLE hacked (a INTEGER);\n", encoding="utf-8")
    (tmp / "load.sql").write_text("", encoding="utf-8")
    return tmp_path


ESCAPES = [
    # the published database rewritten through its own path (exited 0, halved observations)
    "USE memory; DETACH biodiv; ATTACH '{db}' AS b2; DELETE FROM b2.observations WHERE id % 2 = 0",
    "DETACH biodiv", "DETACH DATABASE IF EXISTS biodiv", "ATTACH '{db}' AS b2", "USE memory",
    "SELECT 1; DELETE FROM observations",
    # files written into ./.tmp (succeeded)
    "COPY observations TO '.tmp/x.csv'", "COPY (SELECT 1) TO '.tmp/x.csv'",
    "ATTACH '.tmp/e.duckdb' AS e", "EXPORT DATABASE '.tmp/exp'", "IMPORT DATABASE '.tmp'",
    "PRAGMA import_database('.tmp')", "COPY FROM DATABASE biodiv TO memory",
    # schema and data changes
    "CREATE TABLE x AS SELECT 1", "CREATE MACRO m() AS 1", "CREATE SECRET (TYPE s3)",
    "INSERT INTO meta VALUES ('hacked', 'yes')", "UPDATE taxa SET name = 'x'", "DELETE FROM taxa",
    "DROP VIEW v_observations", "ALTER TABLE observations ADD COLUMN x INTEGER",
    "MERGE INTO taxa USING taxa t2 ON taxa.id = t2.id WHEN MATCHED THEN DELETE",
    "EXPLAIN ANALYZE DELETE FROM taxa", "EXPLAIN (FORMAT json) DELETE FROM taxa",
    "EXPLAIN /* hidden */ DELETE FROM taxa",
    # settings, extensions, maintenance, sessions
    "SET enable_external_access = true", "RESET lock_configuration", "SET memory_limit = '100GB'",
    "PRAGMA memory_limit = '100GB'", "PRAGMA enable_profiling", "SET VARIABLE x = 1",
    "INSTALL httpfs", "LOAD spatial", "LOAD '.tmp/evil.duckdb_extension'", "UPDATE EXTENSIONS",
    "CALL checkpoint()", "CHECKPOINT", "FORCE CHECKPOINT", "VACUUM", "ANALYZE",
    "BEGIN TRANSACTION", "PREPARE p AS DELETE FROM taxa", "EXECUTE p",
    # functions that read files or run other SQL, also nested in a read
    "SELECT * FROM read_csv('.tmp/secret.csv')", "SELECT * FROM read_csv_auto('.tmp/secret.csv')",
    "SELECT * FROM read_parquet('x.parquet')", "FROM read_json('x.json')",
    "SELECT * FROM read_text('/etc/hostname')", "SELECT * FROM read_blob('{db}')",
    "SELECT * FROM read_duckdb('{db}')", "SELECT * FROM glob('*')", "FROM sniff_csv('.tmp/secret.csv')",
    "FROM parquet_metadata('x.parquet')", "SELECT * FROM ST_Read('.tmp/secret.csv')",
    "FROM sqlite_scan('x.db', 't')", "SELECT * FROM query('SELECT 1')",
    "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
    "FROM '.tmp/secret.csv'", "SELECT * FROM 'biodiv.duckdb'", 'SELECT * FROM ".tmp/secret.csv"',
    "SELECT count(*) FROM observations WHERE id IN (SELECT a FROM read_csv('.tmp/secret.csv'))",
    "WITH x AS (SELECT * FROM read_text('/etc/hostname')) SELECT * FROM x",
    "SELECT (SELECT content FROM read_text('/etc/hostname'))",
    "SELECT * FROM taxa, LATERAL read_csv('.tmp/secret.csv')",
    "SELECT * FROM system.main.read_csv('.tmp/secret.csv')",
    "DESCRIBE SELECT * FROM read_csv('.tmp/secret.csv')", "SUMMARIZE FROM read_blob('{db}')",
    "EXPLAIN SELECT * FROM read_csv('.tmp/secret.csv')",
    "UNPIVOT (FROM read_csv('.tmp/secret.csv')) ON a INTO NAME k VALUE v",
    "SELECT write_log('x')", "SELECT * FROM duckdb_secrets()",
    "PIVOT observations ON quality_grade USING count(*)",  # creates an ENUM type first
]


@pytest.mark.parametrize("template", ESCAPES)
def test_escapes_are_refused_and_change_nothing(fx, hostile_cwd, monkeypatch, template):
    statement = template.format(db=fx.path)
    before_db, before_files = _digest(fx.path), _files(hostile_cwd)
    result = cli_invoke(["sql", statement], fx, hostile_cwd, monkeypatch)
    assert isinstance(result.exception, SqlRefused), (statement, result.exception, result.output)
    message = str(result.exception)
    assert message.startswith("SQL refused") and "\n" not in message
    assert _digest(fx.path) == before_db
    assert _files(hostile_cwd) == before_files  # no file written, none changed (the db included)
    assert not fx.wip_path.exists()


def test_the_rewrite_escape_through_the_real_cli(fx, hostile_cwd):
    """The attack of issue 11, as typed: exit 1, one red line naming what was refused."""
    before = _digest(fx.path)
    env = dict(os.environ, BIODIV_DB=str(fx.path), BIODIV_CONFIG=str(hostile_cwd / "absent.toml"))
    statement = ESCAPES[0].format(db=fx.path)
    proc = subprocess.run([sys.executable, "-m", "biodiv", "sql", statement],
                          capture_output=True, text=True, env=env, cwd=hostile_cwd, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("error: SQL refused (read-only): USE is not a read")
    assert proc.stdout == ""
    assert _digest(fx.path) == before
    with fx.read() as con:
        assert con.execute("SELECT count(*) FROM observations").fetchone()[0] == 9


@pytest.mark.parametrize("statement", [
    "SELECT 1", "SELECT 1;", "/* a comment */ SELECT 1 -- and another\n", "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
    "FROM observations LIMIT 1", "VALUES (1), (2)", "DESCRIBE observations", "SHOW TABLES", "SHOW ALL TABLES",
    "SUMMARIZE taxa", "EXPLAIN SELECT * FROM taxa", "EXPLAIN ANALYZE SELECT count(*) FROM taxa",
    "PRAGMA table_info('taxa')", "PRAGMA show_tables",
    "PIVOT observations ON quality_grade IN ('research', 'casual') USING count(*)",
    "UNPIVOT (SELECT id, name FROM taxa) ON name INTO NAME k VALUE v",
    "SELECT * FROM range(3)", "SELECT table_name FROM duckdb_tables()", "SELECT * FROM information_schema.tables",
    "SELECT ST_AsText(geom) FROM areas", "SELECT * FROM biodiv.main.taxa", "SELECT 'a.csv' AS name",
    "SELECT * FROM taxa t JOIN LATERAL (SELECT t.id * 2 AS double_id) x ON true",
])
def test_reads_are_accepted(fx, tmp_path, monkeypatch, statement):
    result = cli_invoke(["sql", statement, "--format", "csv"], fx, tmp_path, monkeypatch)
    assert result.exit_code == 0, (statement, result.exception)
    assert len(result.stdout.splitlines()) >= 2  # a header and at least one row


def test_what_runs_is_what_was_checked():
    # DuckDB rewrites some PRAGMAs into a SELECT: that SELECT is checked and returned
    assert "pragma_table_info" in check_read_only("PRAGMA table_info('taxa')")
    # words inside strings and comments are no statements
    assert check_read_only("SELECT 'DELETE FROM taxa' AS text -- DROP TABLE taxa").startswith("SELECT")


def test_a_query_file_that_writes_is_refused(fx, tmp_path, monkeypatch):
    folder = tmp_path / "queries"
    folder.mkdir()
    (folder / "evil.sql").write_text(
        "-- title: Evil\n-- title_fr: Méchante\n-- description: Looks like a query.\n"
        "-- column: n | nothing\n\nDELETE FROM taxa\n", encoding="utf-8")
    monkeypatch.setenv("BIODIV_QUERIES_DIR", str(folder))
    before = _digest(fx.path)
    result = cli_invoke(["query", "run", "evil"], fx, tmp_path, monkeypatch)
    assert isinstance(result.exception, SqlRefused) and "DELETE is not a read" in str(result.exception)
    assert _digest(fx.path) == before


def test_the_connection_itself_is_locked(fx, hostile_cwd, monkeypatch):
    """Layer 3 alone (statements run raw, without the whitelist): no file reachable through
    ./.tmp, no setting can be changed back, the configured bounds are in force."""
    monkeypatch.chdir(hostile_cwd)
    before = _files(hostile_cwd)
    con = open_reader(fx, Limits(memory_limit="64MB", temp_limit="100MB"))
    try:
        for raw in ("COPY (SELECT 1) TO '.tmp/x.csv'", "ATTACH '.tmp/e.duckdb' AS e",
                    "SELECT * FROM read_csv('.tmp/secret.csv')"):
            with pytest.raises(duckdb.PermissionException):
                con.execute(raw)
        for raw in ("SET enable_external_access = true", "SET memory_limit = '10GB'",
                    "SET temp_directory = '.tmp'"):
            with pytest.raises(duckdb.InvalidInputException, match="locked"):
                con.execute(raw)
        memory, temp_dir, temp_max = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory'), "
            "current_setting('max_temp_directory_size')").fetchone()
        assert (memory, temp_max) == ("61.0 MiB", "95.3 MiB")  # 64 MB and 100 MB, in MiB
        assert "biodiv-sql-" in temp_dir and not os.path.exists(temp_dir)  # created on first spill only
        # no progress bar drawn on stdout (it would land in the CSV of a long query)
        assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False
        with pytest.raises(duckdb.Error):
            con.execute("INSERT INTO meta VALUES ('k', 'v')")  # attached READ_ONLY
    finally:
        con.close()
    assert _files(hostile_cwd) == before


# ---------------------------------------------------------------------------
# Limits: time, rows
# ---------------------------------------------------------------------------

def _config(tmp_path, text: str):
    path = tmp_path / "biodiv.toml"
    path.write_text(text, encoding="utf-8")
    return path


CROSS_JOIN = "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b"


def test_a_runaway_cross_join_is_stopped(fx, tmp_path, monkeypatch):
    cfg = _config(tmp_path, "[sql]\ntimeout_seconds = 0.5\n")
    before = _digest(fx.path)
    result = cli_invoke(["--config", str(cfg), "sql", CROSS_JOIN], fx, tmp_path, monkeypatch)
    assert isinstance(result.exception, QueryTimeout)
    assert str(result.exception) == "query stopped after 0.5 s (sql.timeout_seconds in biodiv.toml)"
    assert _digest(fx.path) == before


def test_the_timeout_through_the_real_cli(fx, tmp_path):
    cfg = _config(tmp_path, "[sql]\ntimeout_seconds = 1\n")
    env = dict(os.environ, BIODIV_DB=str(fx.path))
    proc = subprocess.run([sys.executable, "-m", "biodiv", "--config", str(cfg), "sql", CROSS_JOIN],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: query stopped after 1 s (sql.timeout_seconds in biodiv.toml)"


def test_the_timer_does_not_outlive_a_quick_query(fx):
    con = open_reader(fx, Limits(timeout_seconds=0.2))
    try:
        assert len(run_sql(con, "SELECT * FROM taxa", Limits(timeout_seconds=0.2))) == 7
        time.sleep(0.4)  # the timer of the finished query would fire now: it must not
        assert run_sql(con, "SELECT count(*) AS n FROM taxa", Limits(timeout_seconds=5)).loc[0, "n"] == 7
    finally:
        con.close()


def test_printed_rows_stop_at_the_limit_with_a_note(fx, tmp_path, monkeypatch):
    result = cli_invoke(["sql", "SELECT range AS i FROM range(25000)", "-f", "csv"], fx, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.exception
    lines = result.stdout.splitlines()
    assert lines[0] == "i" and len(lines) == 10_001 and lines[-1] == "9999"
    assert "only the first 10,000 rows are shown" in result.stderr
    assert "--max-rows" in result.stderr and "sql.max_rows" in result.stderr and "biodiv export" in result.stderr
    # under the limit: no note
    small = cli_invoke(["sql", "SELECT range AS i FROM range(10000)", "-f", "csv"], fx, tmp_path, monkeypatch)
    assert len(small.stdout.splitlines()) == 10_001 and "only the first" not in small.stderr


def test_the_row_limit_is_configurable_and_never_materialises_the_rest(fx, tmp_path, monkeypatch):
    cfg = _config(tmp_path, "[sql]\nmax_rows = 20\ntimeout_seconds = 30\n")
    # a trillion rows: only a limit pushed into DuckDB lets this return (else: the timeout)
    huge = "SELECT range AS i FROM range(1000000000000)"
    result = cli_invoke(["--config", str(cfg), "sql", huge, "-f", "csv"], fx, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.exception
    assert result.stdout.splitlines()[1:] == [str(i) for i in range(20)]
    assert "only the first 20 rows" in result.stderr
    flag = cli_invoke(["--config", str(cfg), "sql", huge, "--max-rows", "3", "-f", "json"], fx, tmp_path, monkeypatch)
    assert [r["i"] for r in json.loads(flag.stdout)] == [0, 1, 2]
    named = cli_invoke(["--config", str(cfg), "query", "run", "commune_richness", "--max-rows", "1", "-f", "csv"],
                       fx, tmp_path, monkeypatch)
    assert named.exit_code == 0 and len(named.stdout.splitlines()) == 2
    assert "only the first 1 rows" in named.stderr
