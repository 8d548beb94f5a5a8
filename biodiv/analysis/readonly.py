"""Ad-hoc SQL that can only read: the guard behind ``biodiv sql``, ``biodiv query run`` and
the exports' connection.

Why several layers: each one alone has a known hole in DuckDB 1.5.5, together they close
them. Checked by tests/test_analysis_sql.py, one test per escape.

1. **Statement whitelist, before anything runs** (:func:`check_read_only`). Every statement
   is parsed first (``extract_statements``, on a private parser connection that cannot
   touch files: ``IMPORT DATABASE`` reads files while it is being parsed) and only reads
   are accepted: SELECT, ``WITH … SELECT``, FROM-first, VALUES, DESCRIBE, SHOW, SUMMARIZE,
   PIVOT with an ``IN`` list, the PRAGMAs DuckDB itself rewrites into a SELECT
   (``PRAGMA table_info``), and EXPLAIN [ANALYZE] of one of those. Refused: ATTACH,
   DETACH, USE, SET, RESET, COPY, EXPORT, IMPORT, CREATE, INSERT, UPDATE, DELETE, DROP,
   ALTER, MERGE, PRAGMA, INSTALL, LOAD, CALL, CHECKPOINT, VACUUM, PREPARE/EXECUTE,
   transactions. Why: ``enable_external_access = false`` still lets a session attach the
   path of a file that is already attached, so ``USE memory; DETACH biodiv; ATTACH
   '<db>' AS b2; DELETE FROM b2.observations`` rewrote the published database; and the
   temp directory (``.tmp/`` in the current directory by default) stays writable with
   COPY and ATTACH.
2. **Table functions by allowlist, anywhere in the query** (:func:`_check_tree`). Each
   SELECT is serialised to DuckDB's own syntax tree (``json_serialize_sql``) and every
   table function, in subqueries, CTEs, joins and DESCRIBE/SUMMARIZE targets alike, must
   be one that reads nothing but memory or the catalog (``range``, ``unnest``,
   ``duckdb_tables``…). Refused: ``read_csv``, ``read_parquet``, ``read_json``,
   ``read_text``, ``read_blob``, ``glob``, ``ST_Read``, ``query``, ``checkpoint``… and
   ``FROM 'file.csv'`` (a table name that looks like a path is a replacement scan). Why:
   ``read_blob('<db path>')`` reads the attached file despite the disabled file access,
   and ``query()`` / ``json_execute_serialized_sql()`` run SQL the whitelist never saw.
3. **Connection settings, then locked** (:func:`open_reader`, :func:`lock_down`). The
   memory limit, the temp-file limit and a private temp directory (created by DuckDB on
   first spill and removed on close, so ``.tmp/`` in the current directory is never an
   allowed path) are set first, the database is attached READ_ONLY, then
   ``enable_external_access = false`` and ``lock_configuration = true``: no file outside
   the database is reachable and no setting can be changed back, even by something the
   two layers above would miss.
4. **Limits on what a read may cost** (:func:`run_read`). A timer interrupts the query
   after ``sql.timeout_seconds`` (a runaway cross join used to run forever); printed
   results stop at ``sql.max_rows`` rows, applied as a LIMIT so DuckDB stops early and
   never materialises the rest (a 3M-row result took 1.7 GB of RAM); the memory limit
   bounds DuckDB's own buffers.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import duckdb
import pandas as pd

from biodiv.errors import BiodivError


class QueryError(BiodivError):
    """A named query or ad-hoc SQL that cannot run (one-line message)."""


class SqlRefused(QueryError):
    """SQL that is not a plain read, refused before anything ran."""


class QueryTimeout(QueryError):
    """A read stopped by the time limit."""


@dataclass(frozen=True)
class Limits:
    """What one read may cost (``[sql]`` in biodiv.toml)."""

    timeout_seconds: float = 60.0
    max_rows: int = 10_000
    memory_limit: str = "1GB"
    temp_limit: str = "2GB"
    max_result_bytes: int | None = 256_000_000   # the result's size in memory, checked before it is formatted


READS = "SELECT, WITH … SELECT, FROM, VALUES, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE, PIVOT … IN (…)"

# Table functions that read only memory or the catalog. Everything else (read_csv,
# read_parquet, read_json*, read_text, read_blob, read_duckdb, glob, parquet_*, sniff_csv,
# ST_Read*, shapefile_meta, query, query_table, json_execute_serialized_sql, checkpoint,
# enable_logging, arrow/pandas scans, functions of extensions added later…) is refused.
SAFE_TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest", "repeat", "repeat_row", "summary",
    "json_each", "json_tree", "test_all_types", "icu_calendar_names", "pg_timezone_names",
    "duckdb_columns", "duckdb_constraints", "duckdb_coordinate_systems",
    "duckdb_dependencies", "duckdb_functions", "duckdb_indexes",
    "duckdb_keywords", "duckdb_memory", "duckdb_optimizers", "duckdb_schemas",
    "duckdb_sequences", "duckdb_tables",
    "duckdb_types", "duckdb_variables", "duckdb_views",
    "pragma_collations", "pragma_database_size", "pragma_metadata_info", "pragma_platform",
    "pragma_show", "pragma_storage_info", "pragma_table_info", "pragma_user_agent",
    "pragma_version", "pragma_rtree_index_info", "st_drivers", "st_generatepoints",
})
# Left out of the list above on purpose: duckdb_databases (file paths), duckdb_settings
# (temp and home directories, allowed paths), duckdb_extensions (install paths in the
# home folder), duckdb_temporary_files (temp paths): the console never shows a path.
# Scalar functions with a side effect on the session (the log, a sequence), and one that
# discloses the machine's paths (current_setting('home_directory'), 'temp_directory').
UNSAFE_SCALAR_FUNCTIONS = frozenset({"write_log", "nextval"})
PATH_SCALAR_FUNCTIONS = frozenset({"current_setting"})
# A table name DuckDB would turn into a file scan (FROM 'obs.csv', FROM 'data/*.parquet').
_FILE_LIKE = re.compile(r"[./\\:*?~]")
_EXPLAIN = re.compile(
    r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\(\s*(?:FORMAT|ANALY[SZ]E)\b[^()]*\)\s*)?(?P<inner>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_PARSER_CONFIG = {
    "enable_external_access": False,
    "temp_directory": "",   # no temp directory, so no allowed directory at all
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "lock_configuration": True,
}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------
# Layers 1 and 2: what the SQL is, before it runs
# ---------------------------------------------------------------------------

def check_read_only(sql: str) -> str:
    """The text of the one read statement in ``sql``; :class:`SqlRefused` otherwise.

    Run what this returns (for a PRAGMA that DuckDB rewrites, the rewritten SELECT), so
    that what was checked is what runs.
    """
    if not sql or not sql.strip():
        raise QueryError("empty SQL")
    parser = duckdb.connect(":memory:", config=_PARSER_CONFIG)
    try:
        texts = [_check_statement(parser, s, sql) for s in _parse(parser, sql)]
    finally:
        parser.close()
    if not texts:
        raise QueryError("empty SQL (only comments)")
    if len(texts) > 1:
        raise SqlRefused(f"SQL refused: one statement at a time, got {len(texts)}")
    return texts[0]


def _parse(parser: duckdb.DuckDBPyConnection, sql: str) -> list:
    try:
        return parser.extract_statements(sql)
    except duckdb.PermissionException as exc:
        # IMPORT DATABASE / PRAGMA import_database read their files while being parsed
        raise SqlRefused(
            f"SQL refused (read-only): IMPORT and other statements that read files are not allowed ({_first_line(exc)})"
        ) from None
    except duckdb.Error as exc:
        raise QueryError(f"SQL failed: {_first_line(exc)}") from None


def _keyword(text: str) -> str:
    words = re.sub(r"--[^\n]*|/\*.*?\*/", " ", text, flags=re.DOTALL).split()
    return words[0].upper() if words else "?"


def _check_statement(parser: duckdb.DuckDBPyConnection, statement, whole: str) -> str:
    kind = statement.type
    text = statement.query
    if kind == duckdb.StatementType.SELECT and text.strip():
        _check_tree(parser, text)
        return text
    if kind == duckdb.StatementType.EXPLAIN:
        m = _EXPLAIN.match(text)
        inner = _parse(parser, m.group("inner")) if m and m.group("inner").strip() else []
        if len(inner) != 1:
            raise SqlRefused("SQL refused (read-only): EXPLAIN only of one read statement")
        _check_statement(parser, inner[0], whole)
        return text
    if kind == duckdb.StatementType.CREATE and not text.strip():
        # what a PIVOT without an IN list expands to: it creates an ENUM type first
        raise SqlRefused(
            "SQL refused (read-only): PIVOT needs an explicit list here, e.g. PIVOT t ON year IN (2023, 2024) USING count(*)"
        )
    word = _keyword(text if text.strip() else whole)  # statements DuckDB generates have no text
    raise SqlRefused(f"SQL refused (read-only): {word} is not a read; allowed: {READS}")


def _check_tree(parser: duckdb.DuckDBPyConnection, text: str) -> None:
    """Walk DuckDB's syntax tree of a SELECT: every table function and table name."""
    try:
        raw = parser.execute("SELECT json_serialize_sql($q)", {"q": text}).fetchone()[0]
    except duckdb.Error as exc:
        raise QueryError(f"SQL failed: {_first_line(exc)}") from None
    tree = json.loads(raw)
    if tree.get("error"):
        raise SqlRefused(f"SQL refused: it could not be checked ({tree.get('error_message', '?')})")
    for node in _nodes(tree):
        if node.get("type") == "TABLE_FUNCTION":
            name = str((node.get("function") or {}).get("function_name", "")).lower()
            if name not in SAFE_TABLE_FUNCTIONS:
                raise SqlRefused(
                    f"SQL refused (read-only): {name}() reads files or runs other SQL; "
                    "query the database's own tables and views"
                )
        elif node.get("type") == "BASE_TABLE" and _FILE_LIKE.search(str(node.get("table_name", ""))):
            raise SqlRefused(
                f"SQL refused (read-only): '{node['table_name']}' names a file; "
                "query the database's own tables and views"
            )
        elif node.get("class") == "FUNCTION" and str(node.get("function_name", "")).lower() in UNSAFE_SCALAR_FUNCTIONS:
            raise SqlRefused(f"SQL refused (read-only): {node['function_name']}() changes the session")
        elif node.get("class") == "FUNCTION" and str(node.get("function_name", "")).lower() in PATH_SCALAR_FUNCTIONS:
            raise SqlRefused(f"SQL refused: {node['function_name']}() shows the machine's settings and paths")


def _nodes(tree: Any) -> Iterator[dict]:
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# ---------------------------------------------------------------------------
# Layer 3: the connection
# ---------------------------------------------------------------------------

def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def open_reader(store, limits: Limits | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection on ``store``'s published file, bounded and locked down.

    The settings are applied before the file is attached and the configuration locked,
    since nothing can change them afterwards. The caller closes the connection.
    """
    limits = limits or Limits()
    temp_dir = Path(tempfile.gettempdir()) / f"biodiv-sql-{os.getpid()}-{secrets.token_hex(6)}"
    con = read_only_instance(temp_dir.with_name(temp_dir.name + ".duckdb"))
    try:
        for setting, value, key in (
            ("memory_limit", limits.memory_limit, "sql.memory_limit"),
            ("max_temp_directory_size", limits.temp_limit, "sql.temp_limit"),
            ("temp_directory", str(temp_dir), None),
        ):
            try:
                con.execute(f"SET {setting} = {_quote(value)}")
            except duckdb.Error as exc:
                raise QueryError(f"{key} = {value!r} is not a size DuckDB accepts ({_first_line(exc)})") from None
        con = store.reader(con)
        return lock_down(con)
    except BaseException:
        con.close()
        raise


def read_only_instance(anchor: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB instance that is read-only as a whole, with spatial loaded.

    Why: a read-only ATTACH of the store is not enough on its own. Once file access is
    disabled DuckDB still allows the paths it had attached, so ``USE memory; DETACH biodiv;
    ATTACH '<db path>' AS b2; DELETE FROM b2.observations`` reopened the store read-write
    and deleted every row (the statement check stopped it, this layer did not). In an
    instance opened with ``access_mode = READ_ONLY`` every later ATTACH is read-only
    whatever its spelling or options. DuckDB refuses that mode for an in-memory database,
    so the instance is an empty database file (``anchor``, 12 KB, created then removed at
    once: the open instance keeps it; unique per reader, so DuckDB's one-instance-per-path
    cache never shares it)."""
    from biodiv.store.database import connect

    duckdb.connect(str(anchor)).close()
    try:
        return connect(anchor, read_only=True)
    finally:
        anchor.unlink(missing_ok=True)
        Path(f"{anchor}.wal").unlink(missing_ok=True)


def lock_down(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Forbid file access (ATTACH, COPY TO, read_csv...) and any further settings change.

    Python replacement scans (a bare name resolving to a DataFrame variable of the
    calling code) and DuckDB's progress bar on stdout are switched off too. DuckDB shares one instance between the
    connections a process opens on the same file, so these settings hold for that
    file's other open connections in this process too; calling it again is harmless.
    """
    external, locked = con.execute(
        "SELECT current_setting('enable_external_access'), current_setting('lock_configuration')"
    ).fetchone()
    if locked and not external:
        return con  # already locked down (another connection on the same instance)
    if locked:
        raise QueryError("the database configuration is locked with file access enabled: refusing ad-hoc SQL")
    con.execute("SET python_enable_replacements = false")
    # DuckDB draws a progress bar on stdout for queries over 2 s: it would end up in the CSV
    con.execute("SET enable_progress_bar = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


# ---------------------------------------------------------------------------
# Layer 4: running a read within limits
# ---------------------------------------------------------------------------

@contextmanager
def time_limit(con: duckdb.DuckDBPyConnection, seconds: float | None) -> Iterator[None]:
    """Interrupt whatever ``con`` runs after ``seconds`` (``None``/0: no limit)."""
    if not seconds:
        yield
        return
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def stop() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                con.interrupt()

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.InterruptException:
        if state["fired"]:
            raise QueryTimeout(
                f"query stopped after {seconds:g} s (sql.timeout_seconds in biodiv.toml)"
            ) from None
        raise
    finally:
        with lock:
            state["done"] = True
        timer.cancel()


@dataclass
class ReadResult:
    frame: pd.DataFrame
    truncated: bool      # more rows than ``max_rows`` exist; only the first ones are in frame
    max_rows: int | None


def run_read(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
    what: str = "SQL",
) -> ReadResult:
    """Check ``sql`` (:func:`check_read_only`), then run it within ``limits``.

    Geometry columns come back as WKT text and DATE columns as dates. At most
    ``limits.max_rows`` rows are fetched (``None``/0: all of them).
    """
    limits = limits or Limits()
    text = check_read_only(sql)
    max_rows = limits.max_rows or None
    try:
        with time_limit(con, limits.timeout_seconds):
            rel = con.sql(text, params=dict(params) if params else None)
            geo = [c for c, t in zip(rel.columns, rel.types) if str(t).upper().startswith("GEOMETRY")]
            if geo:
                rel = rel.project(", ".join(
                    f"ST_AsText({_ident(c)}) AS {_ident(c)}" if c in geo else _ident(c) for c in rel.columns
                ))
            dates = [c for c, t in zip(rel.columns, rel.types) if str(t) == "DATE"]
            df = (rel.limit(max_rows + 1) if max_rows else rel).fetchdf()
    except duckdb.Error as exc:
        msg = _first_line(exc)
        if "read-only" in msg or "read_only" in msg:
            msg = f"the database is opened read-only here, statements that write are refused ({msg})"
        raise QueryError(f"{what} failed: {msg}") from None
    truncated = bool(max_rows) and len(df) > max_rows
    if truncated:
        df = df.iloc[:max_rows].copy()
    return ReadResult(dates_as_dates(df, dates), truncated, max_rows)


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def dates_as_dates(df: pd.DataFrame, date_columns: list[str]) -> pd.DataFrame:
    """DuckDB DATE columns arrive as midnight timestamps: turn them back into dates."""
    for col in date_columns:
        if col in df.columns and pd.api.types.is_datetime64_any_dtype(df[col]):
            values = df[col].dt.date.astype(object)
            df[col] = values.where(df[col].notna(), None)
    return df
