"""Moving a whole store between backends: one DuckDB file <-> a DuckLake (``biodiv store migrate``).

Why a copy of every table rather than an export/import: both sides run the same numbered
migrations, so each table has the same columns on both, and ``INSERT … BY NAME`` moves it
in one statement (ENUM <-> VARCHAR casts are implicit). The source is only read.
"""

from __future__ import annotations

from pathlib import Path

from biodiv.store import lake_sql
from biodiv.store.database import CATALOG, Store, StoreError
from biodiv.store.lake import LakeSpec, _quote, load_extension

SOURCE = "biodiv_source"
# a target holding rows in these already has a store (migrations themselves seed only
# small tables such as area_types and meta, which the copy replaces)
DATA_TABLES = ("territory", "areas", "observations", "taxa", "runs")


def _tables() -> list[str]:
    return [t for t in lake_sql.lake_schema().tables if t != "schema_migrations"]


def _refuse_if_filled(con, where: str) -> None:
    filled = [t for t in DATA_TABLES if con.execute(f"SELECT count(*) FROM {CATALOG}.{t}").fetchone()[0]]
    if filled:
        raise StoreError(
            f"{where} already holds data (tables {', '.join(filled[:4])}): "
            "migrate into a new, empty target, or move that one away first")


def _copy_all(con) -> dict[str, int]:
    counts = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for t in _tables():
            con.execute(f"DELETE FROM {CATALOG}.{t}")
            con.execute(f"INSERT INTO {CATALOG}.{t} BY NAME SELECT * FROM {SOURCE}.{t}")
            counts[t] = con.execute(f"SELECT count(*) FROM {CATALOG}.{t}").fetchone()[0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return counts


def file_to_lake(source: Path, target: Store) -> dict[str, int]:
    """Copy the database file ``source`` into the (new or empty) DuckLake ``target``."""
    if target.lake is None:
        raise StoreError("the target of a migration to DuckLake must be a DuckLake store ([store] backend)")
    Store(source).reader().close()          # exists, readable, current schema (one-line errors)
    with target.write(create=True) as con:
        raw = con._con
        _refuse_if_filled(raw, f"the DuckLake {target.lake.spec.display}")
        raw.execute(f"ATTACH '{_quote(str(source))}' AS {SOURCE} (READ_ONLY)")
        try:
            counts = _copy_all(raw)
        finally:
            raw.execute(f"DETACH {SOURCE}")
    return counts


def lake_to_file(source: LakeSpec, target: Path) -> dict[str, int]:
    """Copy the DuckLake ``source`` into a new database file ``target`` (one file for an analyst)."""
    if target.exists():
        raise StoreError(f"{target} already exists: choose a new file for the copy")
    Store(target.with_suffix(".check"), lake=source).reader().close()
    store = Store(target)
    with store.write(create=True) as con:
        load_extension(con, "ducklake", "duckdb_extension_ducklake")
        if source.kind == "sqlite":
            load_extension(con, "sqlite_scanner", "duckdb_extension_sqlite_scanner")
        else:
            load_extension(con, "postgres_scanner", "duckdb_extension_postgres_scanner")
        con.execute(f"ATTACH 'ducklake:{_quote(source.catalog)}' AS {SOURCE} (READ_ONLY)")
        try:
            counts = _copy_all(con)
        finally:
            con.execute(f"DETACH {SOURCE}")
        # sequences: past the copied ids, as if the rows had been inserted here
        for table, (column, seq) in lake_sql.lake_schema().sequences.items():
            top = con.execute(f"SELECT coalesce(max({column}), 0) FROM {table}").fetchone()[0]
            if top:
                con.execute(f"SELECT max(nextval('{seq}')) FROM range(?)", [int(top)]).fetchone()
    return counts
