"""A DuckDB file of another program is refused, never modified (issue 22, item 5).

Real DuckDB files of another program (a table ``sales``; one with its own ``observations``
table; one with a Rails-style ``schema_migrations``) given to every command that writes
(``attach``, ``migrate``, ``areas import``, ``refs import``, ``harvest``) and to the readers
(``status``, ``sql``): one line, the file byte-identical, no working copy left."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from helpers_hardening import cli, sha256, write_config

FOREIGN = {
    "sales": "CREATE TABLE sales (id INTEGER, amount DECIMAL(10, 2));"
             "INSERT INTO sales SELECT range, range * 1.5 FROM range(1000);",
    "observations": "CREATE TABLE observations (id INTEGER, species VARCHAR, seen DATE);"
                    "INSERT INTO observations VALUES (1, 'Pica pica', DATE '2024-05-01');",
    "rails": "CREATE TABLE schema_migrations (version VARCHAR PRIMARY KEY);"
             "INSERT INTO schema_migrations VALUES ('20240101120000');"
             "CREATE TABLE users (id INTEGER, email VARCHAR);",
    "other numbering": "CREATE TABLE schema_migrations (version INTEGER, name VARCHAR);"
                       "INSERT INTO schema_migrations VALUES (1, 'create_invoices');"
                       "CREATE TABLE invoices (id INTEGER);",
}


def _foreign(directory: Path, kind: str) -> Path:
    db = directory / "other.duckdb"
    con = duckdb.connect(str(db))
    con.execute(FOREIGN[kind])
    con.close()
    return db


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("kind", list(FOREIGN))
def test_a_file_of_another_program_is_refused_by_every_command(tmp_path, kind, monkeypatch, capsys):
    db = _foreign(tmp_path, kind)
    cfg_file = write_config(tmp_path, db=db)
    before = sha256(db)
    ref = tmp_path / "ref.csv"
    ref.write_text("CD_REF;nomsScientifiques;CD_TYPE_STATUTS\n1;Pica pica;PN\n", encoding="utf-8")
    for args in (["attach"], ["migrate"], ["refs", "import", str(ref)], ["status"],
                 ["sql", "SELECT count(*) FROM observations"], ["harvest", "--no-progress"]):
        code, _, err = cli(args, cfg_file, monkeypatch, capsys)
        line = _one_line(err)
        assert code == 1, (args, err)
        assert "is not a biodiv database" in line and "nothing was changed" in line, (args, line)
        assert sha256(db) == before, args
        assert not db.with_name(db.name + ".wip").exists(), args
        assert not Path(f"{db}.wip.wal").exists()


def test_an_empty_duckdb_file_still_becomes_a_store(tmp_path, monkeypatch, capsys):
    """What the check must not refuse: a DuckDB file with no table at all (init fills it)."""
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    cfg_file = write_config(tmp_path, db=db)
    code, _, err = cli(["migrate"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 0
    con.close()
