"""The reader's connection holds on its own, and the SQL console shows no path (issue 22, item 10).

``open_reader`` is attacked directly, without the statement check in front of it: the
store detached and attached again under every spelling of its path (as is, ``//``, a
symlink, ``/./``), read-write, then rows deleted. Every attempt fails and the file keeps
its hash. Then, through the real CLI, every way DuckDB offers to read the machine's paths
(``current_setting``, ``duckdb_databases()``, ``duckdb_settings()``, ``duckdb_extensions()``,
``duckdb_temporary_files()``) is refused and no path is printed."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from biodiv.analysis.readonly import open_reader
from biodiv.store.database import Store
from helpers_analysis import build_fixture
from helpers_hardening import cli, sha256, write_config


@pytest.fixture
def fixture_store(tmp_path) -> Store:
    return build_fixture(tmp_path / "data" / "biodiv.duckdb")


def _spellings(db: Path, tmp_path: Path) -> list[str]:
    link = tmp_path / "link.duckdb"
    if not link.exists():
        link.symlink_to(db)
    return [str(db), f"{db.parent}//{db.name}", str(link), f"{db.parent}/./{db.name}",
            f"{db.parent}/../{db.parent.name}/{db.name}"]


def _count(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM observations").fetchone()[0]
    finally:
        con.close()


def test_the_reader_connection_cannot_reopen_the_store_for_writing(fixture_store, tmp_path):
    db = fixture_store.path
    before, n = sha256(db), _count(db)
    for spelling in _spellings(db, tmp_path):
        for options in ("", " (READ_WRITE)"):
            con = open_reader(fixture_store)
            try:
                home = con.execute("SELECT database_name FROM duckdb_databases() "
                                   "WHERE NOT internal AND database_name <> 'biodiv'").fetchone()
                steps = [f"USE {home[0] if home else 'memory'}", "DETACH biodiv",
                         f"ATTACH '{spelling}' AS b2{options}", "DELETE FROM b2.observations",
                         "CREATE TABLE b2.hacked (a INTEGER)", "DROP TABLE b2.observation_areas"]
                for step in steps:
                    try:
                        con.execute(step)
                    except duckdb.Error:
                        pass
            finally:
                con.close()
            assert sha256(db) == before, (spelling, options)
    assert _count(db) == n


PATH_DISCLOSURES = [
    "SELECT current_setting('home_directory')",
    "SELECT current_setting('temp_directory')",
    "SELECT path FROM duckdb_databases()",
    "FROM duckdb_databases()",
    "FROM duckdb_settings()",
    "SELECT value FROM duckdb_settings() WHERE name = 'allowed_paths'",
    "FROM duckdb_extensions()",
    "FROM duckdb_temporary_files()",
    "SELECT * FROM (SELECT current_setting('temp_directory') AS t)",
]


@pytest.mark.parametrize("statement", PATH_DISCLOSURES)
def test_the_console_shows_no_path(fixture_store, tmp_path, statement, monkeypatch, capsys):
    cfg_file = write_config(tmp_path, db=fixture_store.path)
    code, out, err = cli(["sql", statement, "--format", "csv"], cfg_file, monkeypatch, capsys)
    assert code == 1 and "refused" in err, (out, err)
    for secret in (str(fixture_store.path.parent), str(Path.home()), "/tmp", os.getcwd()):
        assert secret not in out
