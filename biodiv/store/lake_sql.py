"""The migrations and the writers' SQL, as DuckLake 1.5.5 accepts them (pure: no lake opened).

Why a translation step rather than a second set of migrations or of writer queries: the
numbered migrations stay the one schema, and every module keeps its one SQL text. DuckLake
1.5.5 refuses, with "not supported/implemented": PRIMARY KEY and UNIQUE constraints, CHECK
constraints, sequences, user-defined types (ENUM), indexes, and RETURNING on INSERT, UPDATE,
DELETE and MERGE; without a key, ``INSERT … ON CONFLICT`` and ``INSERT OR REPLACE`` cannot
bind either. Views, macros, DEFAULT constants, NOT NULL, GEOMETRY/JSON/list columns, ALTER
TABLE, UPDATE, DELETE and MERGE INTO work. So:

* :class:`LakeSchema` applies the migrations to a scratch in-memory DuckDB (which accepts all
  of it), and for each ``CREATE TABLE`` emits the table as DuckDB then holds it, minus what
  DuckLake refuses: key, unique and check constraints dropped (their columns recorded, so
  upserts still know their conflict target), ``DEFAULT nextval(…)`` dropped (the writer gets
  a temporary sequence started past the stored maximum), ENUM columns become VARCHAR (the
  enum's labels sort the same way here: 'certain' < 'edge'); sequences, types and indexes
  are skipped; anything else runs as written.
* :func:`translate` rewrites one writer statement: ``INSERT … ON CONFLICT``/``OR REPLACE``/
  ``OR IGNORE`` into ``MERGE INTO`` on the recorded key; a sequence column the INSERT leaves
  out gets ``nextval``; RETURNING is answered from a temporary table filled before the write
  (the rows an UPDATE/DELETE is about to touch, or the rows an INSERT is about to add);
  ``::enum`` casts become ``::VARCHAR``; ``CHECKPOINT`` is dropped (DuckLake writes Parquet
  files at each commit: there is no write-ahead log to fold in).

Uniqueness is therefore the writers' job on DuckLake (they already write each key once: the
upserts above keep it), and one writer at a time is still required (``Store`` holds a lock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import duckdb

from biodiv.store.engine import migrations

RETURNING_TABLE = "temp.main._lake_returning"


class LakeUnsupported(Exception):
    """A statement shape the translation does not cover (a programming error, not user input)."""


# ---------------------------------------------------------------------------
# top-level scanning (outside quotes, comments and parentheses)
# ---------------------------------------------------------------------------

def _depth_map(sql: str) -> list[int]:
    """Per character: parenthesis depth, or -1 inside a string, quoted name or comment."""
    out = [0] * len(sql)
    depth, i, n = 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":
            j = i + 1
            while j < n and not (sql[j] == c and (j + 1 >= n or sql[j + 1] != c)):
                j += 2 if sql[j] == c else 1
            for k in range(i, min(j + 1, n)):
                out[k] = -1
            i = j + 1
            continue
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = -1
            i = j
            continue
        if c == "(":
            out[i] = depth
            depth += 1
        elif c == ")":
            depth -= 1
            out[i] = depth
        else:
            out[i] = depth
        i += 1
    return out


def _find_top(sql: str, pattern: str, start: int = 0, depths: list[int] | None = None) -> re.Match | None:
    """First match of ``pattern`` (case-insensitive, word-bounded) at depth 0 from ``start``."""
    depths = depths if depths is not None else _depth_map(sql)
    for m in re.finditer(rf"(?<![\w$.]){pattern}(?!\w)", sql[start:], re.I | re.S):
        if depths[start + m.start()] == 0:
            return _Shifted(m, start)
    return None


class _Shifted:
    """A match whose positions are relative to the whole statement."""

    def __init__(self, m: re.Match, offset: int):
        self._m, self._o = m, offset

    def start(self, g: int = 0) -> int:
        return self._m.start(g) + self._o

    def end(self, g: int = 0) -> int:
        return self._m.end(g) + self._o

    def group(self, g: int = 0) -> str:
        return self._m.group(g)


def count_placeholders(sql: str) -> int:
    """Number of ``?`` placeholders outside strings and comments."""
    depths = _depth_map(sql)
    return sum(1 for i, c in enumerate(sql) if c == "?" and depths[i] >= 0)


# ---------------------------------------------------------------------------
# the schema, as DuckLake takes it
# ---------------------------------------------------------------------------

@dataclass
class LakeSchema:
    """Lake DDL per migration, and what the dropped DDL meant (keys, sequences, enums)."""

    statements: dict[int, list[str]] = field(default_factory=dict)
    keys: dict[str, list[str]] = field(default_factory=dict)          # table -> conflict target
    sequences: dict[str, tuple[str, str]] = field(default_factory=dict)  # table -> (column, sequence)
    columns: dict[str, list[str]] = field(default_factory=dict)       # table -> columns, in order
    enums: set[str] = field(default_factory=set)

    @property
    def tables(self) -> list[str]:
        return list(self.columns)


def _table_ddl(scratch: duckdb.DuckDBPyConnection, table: str, schema: LakeSchema) -> str:
    # no bound parameter: DuckDB's client imports pandas on the first one (biodiv.pandas_guard)
    quoted = table.replace("'", "''")
    cols = scratch.execute(
        "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
        f"WHERE database_name = 'memory' AND table_name = '{quoted}' ORDER BY column_index"
    ).fetchall()
    enum_types = {r[0].lower() for r in scratch.execute(
        "SELECT type_name FROM duckdb_types() WHERE logical_type = 'ENUM' AND database_name = 'memory'"
    ).fetchall()}
    schema.enums |= enum_types
    parts = []
    for name, dtype, nullable, default in cols:
        dtype = "VARCHAR" if dtype.lower() in enum_types or dtype.upper().startswith("ENUM(") else dtype
        text = f"{name} {dtype}"
        if not nullable:
            text += " NOT NULL"
        if default is not None:
            seq = re.fullmatch(r"nextval\('([^']+)'\)", default)
            if seq:
                schema.sequences[table] = (name, seq.group(1))
            else:
                text += f" DEFAULT {default}"
        parts.append(text)
    return f"CREATE TABLE {table} ({', '.join(parts)})"


def _record_keys(scratch: duckdb.DuckDBPyConnection, schema: LakeSchema) -> None:
    """Keys and columns of every table as the scratch database holds them now."""
    schema.keys.clear()
    rows = scratch.execute(
        "SELECT table_name, constraint_type, constraint_column_names FROM duckdb_constraints() "
        "WHERE database_name = 'memory' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE') "
        "ORDER BY table_name, constraint_type = 'UNIQUE', constraint_index"
    ).fetchall()
    for table, _kind, cols in rows:
        schema.keys.setdefault(table, list(cols))   # the primary key first, else the first UNIQUE
    schema.columns = {}
    for table, col in scratch.execute(
        "SELECT c.table_name, c.column_name FROM duckdb_columns() c JOIN duckdb_tables() t "
        "ON t.database_name = c.database_name AND t.schema_name = c.schema_name AND t.table_name = c.table_name "
        "WHERE c.database_name = 'memory' ORDER BY t.table_oid, c.column_index"
    ).fetchall():
        schema.columns.setdefault(table, []).append(col)


@lru_cache(maxsize=1)
def lake_schema() -> LakeSchema:
    """The migrations of ``biodiv/store/migrations`` rewritten for DuckLake (computed once)."""
    schema = LakeSchema()
    scratch = duckdb.connect(":memory:")
    try:
        for m in migrations():
            out = []
            for stmt in duckdb.extract_statements(m.sql):
                text = stmt.query.strip().rstrip(";")
                before = {r[0] for r in scratch.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory'").fetchall()}
                scratch.execute(text)
                kind = stmt.type.name
                body = re.sub(r"--[^\n]*", "", text).strip()
                if kind == "CREATE" and re.match(r"CREATE\s+(OR\s+REPLACE\s+)?TABLE\b", body, re.I):
                    after = {r[0] for r in scratch.execute(
                        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory'").fetchall()}
                    for table in sorted(after - before):
                        out.append(_table_ddl(scratch, table, schema))
                elif kind == "CREATE" and re.match(r"CREATE\s+(UNIQUE\s+)?(SEQUENCE|TYPE|INDEX)\b", body, re.I):
                    continue
                elif kind == "CREATE" and re.match(r"CREATE\s+(UNIQUE\s+)?INDEX\b", body, re.I):
                    continue
                elif kind == "INSERT":
                    out.extend(step.sql for step in translate(text, schema))
                else:
                    out.append(_enum_casts(text, schema.enums))
                _record_keys(scratch, schema)
            schema.statements[m.version] = out
    finally:
        scratch.close()
    return schema


def _enum_casts(sql: str, enums: set[str]) -> str:
    for name in enums:
        sql = re.sub(rf"::\s*{name}\b", "::VARCHAR", sql, flags=re.I)
        sql = re.sub(rf"\bAS\s+{name}\s*\)", "AS VARCHAR)", sql, flags=re.I)
    return sql


# ---------------------------------------------------------------------------
# writer statements
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One statement to run; ``params`` says which of the caller's parameters it takes:
    ``all``, ``none``, ``first:N`` (the first N ``?``), ``skip:N`` (all but the first N)."""

    sql: str
    params: str = "all"


_INSERT = re.compile(
    r"^\s*INSERT\s+(?:OR\s+(?P<or>REPLACE|IGNORE)\s+)?INTO\s+(?P<table>[\w.]+)\s*", re.I | re.S)
_UPDATE = re.compile(r"^\s*(?P<verb>UPDATE|DELETE\s+FROM)\s+(?P<table>[\w.]+)\b", re.I | re.S)


def _bare(table: str) -> str:
    return table.split(".")[-1].lower()


def translate(sql: str, schema: LakeSchema) -> list[Step]:
    """The statements that do on DuckLake what ``sql`` does on a DuckDB file."""
    return list(_translate(sql, schema))


def _translate(sql: str, schema: LakeSchema) -> tuple[Step, ...]:
    text = _enum_casts(sql.strip().rstrip(";").rstrip(), schema.enums)
    code = re.sub(r"--[^\n]*", "", text).strip()
    if re.fullmatch(r"CHECKPOINT(\s+\w+)?|FORCE\s+CHECKPOINT(\s+\w+)?", code, re.I):
        return ()
    if _INSERT.match(code):
        return _insert(code, schema)
    m = _UPDATE.match(code)
    if m:
        depths = _depth_map(code)
        ret = _find_top(code, r"RETURNING\b", depths=depths)
        if ret is not None:
            return _returning_update(code, m, ret, depths)
    return (Step(text),)


def _insert(sql: str, schema: LakeSchema) -> tuple[Step, ...]:
    m = _INSERT.match(sql)
    table, replace = m.group("table"), (m.group("or") or "").upper()
    pos = m.end()
    cols: list[str] | None = None
    if sql[pos:pos + 1] == "(":
        close = sql.index(")", pos)
        inner = sql[pos + 1:close]
        if re.fullmatch(r"\s*\w+(\s*,\s*\w+)*\s*", inner):
            cols = [c.strip() for c in inner.split(",")]
            pos = close + 1
    depths = _depth_map(sql)
    conflict = _find_top(sql, r"ON\s+CONFLICT\b", pos, depths)
    ret = _find_top(sql, r"RETURNING\b", pos, depths)
    body_end = min(x.start() for x in (conflict, ret) if x is not None) if (conflict or ret) else len(sql)
    body = sql[pos:body_end].strip()
    returning = sql[ret.end():].strip() if ret else None
    name = _bare(table)
    target_cols = cols or schema.columns.get(name)
    if target_cols is None:
        raise LakeUnsupported(f"unknown table {table} in an INSERT for DuckLake")
    seq = schema.sequences.get(name)
    inject = seq if seq and cols is not None and seq[0] not in cols else None

    if conflict is None and not replace:
        if returning is None and inject is None:
            return (Step(sql),)
        sel = f"SELECT nextval('{inject[1]}') AS {inject[0]}, * FROM ({body}) AS src({', '.join(target_cols)})" \
            if inject else f"SELECT * FROM ({body}) AS src({', '.join(target_cols)})"
        all_cols = ([inject[0]] if inject else []) + target_cols
        if returning is None:
            return (Step(f"INSERT INTO {table} ({', '.join(all_cols)}) {sel}"),)
        return (
            Step(f"CREATE OR REPLACE TEMP TABLE _lake_returning AS {sel}"),
            Step(f"INSERT INTO {table} ({', '.join(all_cols)}) SELECT * FROM {RETURNING_TABLE}", "none"),
            Step(f"SELECT {returning} FROM {RETURNING_TABLE}", "none"),
        )
    if returning is not None:
        raise LakeUnsupported("INSERT … ON CONFLICT … RETURNING is not translated for DuckLake")

    # the conflict target and action
    action, where, keys = "nothing", None, None
    if conflict is not None:
        rest = sql[conflict.end():]
        km = re.match(r"\s*\(([^)]*)\)", rest)
        if km:
            keys = [c.strip() for c in km.group(1).split(",")]
            rest = rest[km.end():]
        rest_off = len(sql) - len(rest)
        am = re.match(r"\s*DO\s+(NOTHING|UPDATE\s+SET)\b", rest, re.I)
        if am is None:
            raise LakeUnsupported(f"unrecognised ON CONFLICT clause: {rest[:40]!r}")
        if am.group(1).upper() != "NOTHING":
            action = "update"
            sets_start = rest_off + am.end()
            w = _find_top(sql, r"WHERE\b", sets_start, depths)
            sets = sql[sets_start:w.start() if w else len(sql)].strip()
            where = sql[w.end():].strip() if w else None
    elif replace == "REPLACE":
        action = "replace"
    keys = keys or schema.keys.get(name)
    if not keys:
        raise LakeUnsupported(f"no key known for {table}: cannot turn its upsert into MERGE")
    if action == "replace":
        sets = ", ".join(f"{c} = excluded.{c}" for c in target_cols if c not in keys)
        action = "update" if sets else "nothing"
    on = " AND ".join(f"{table}.{k} IS NOT DISTINCT FROM excluded.{k}" for k in keys)
    ins_cols = ([inject[0]] if inject else []) + target_cols
    ins_vals = ([f"nextval('{inject[1]}')"] if inject else []) + [f"excluded.{c}" for c in target_cols]
    merge = f"MERGE INTO {table} USING ({body}) AS excluded({', '.join(target_cols)}) ON ({on})"
    if action == "update":
        merge += f" WHEN MATCHED{' AND (' + where + ')' if where else ''} THEN UPDATE SET {sets}"
    merge += f" WHEN NOT MATCHED THEN INSERT ({', '.join(ins_cols)}) VALUES ({', '.join(ins_vals)})"
    return (Step(merge),)


def _returning_update(sql: str, m: re.Match, ret, depths: list[int]) -> tuple[Step, ...]:
    """UPDATE/DELETE … RETURNING: the rows it will touch, kept first, then the write."""
    table = m.group("table")
    returning = sql[ret.end():].strip()
    head = sql[:ret.start()].rstrip()
    where = _find_top(head, r"WHERE\b", m.end(), depths)
    if m.group("verb").upper().startswith("DELETE"):
        using = head[m.end():where.start()] if where else ""
        select = f"SELECT {returning} FROM {table}{using}"
        skip = 0
    else:
        set_kw = _find_top(head, r"SET\b", m.end(), depths)
        frm = _find_top(head, r"FROM\b", set_kw.end(), depths)
        stop = frm.start() if frm else (where.start() if where else len(head))
        skip = count_placeholders(head[set_kw.end():stop])
        source = f", {head[frm.end():where.start() if where else len(head)].strip()}" if frm else ""
        select = f"SELECT {returning} FROM {table}{source}"
    if where:
        select += f" WHERE {head[where.end():].strip()}"
    return (
        Step(f"CREATE OR REPLACE TEMP TABLE _lake_returning AS {select}", f"skip:{skip}"),
        Step(head),
        Step(f"SELECT * FROM {RETURNING_TABLE}", "none"),
    )


def step_params(step: Step, step_sql: str, params):
    """The caller's parameters this step takes (``None``: none)."""
    if params is None or step.params == "none":
        return None
    if isinstance(params, dict):
        used = {k: v for k, v in params.items() if re.search(rf"\${re.escape(k)}\b", step_sql)}
        return used
    params = list(params)
    if step.params.startswith("skip:"):
        n = int(step.params[5:])
        if re.search(r"\$\d", step_sql):
            return params   # numbered parameters keep their numbers
        return params[n:]
    return params
