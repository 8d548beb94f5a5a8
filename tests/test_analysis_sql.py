"""`biodiv sql` and `biodiv query`: read-only, no file access, clear one-line errors, and the
store is neither changed nor locked by a reader."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from biodiv.analysis.queries import QueryError, lock_down, run_sql
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
    result = cli_invoke(["sql", "SELECT count(*) AS n FROM v_observations"], fx, tmp_path, monkeypatch)
    assert "8" in result.output and "1 row(s)" in result.output  # one observation is removed


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
