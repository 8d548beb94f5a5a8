"""Named SQL queries: the ``queries/*.sql`` files, their headers, and running them read-only.

Why files: analysts read and extend plain SQL, and the CLI (``biodiv query``) and the
dashboard show the very same queries. Each file starts with a header of SQL comments::

    -- title: Species per area
    -- title_fr: Espèces par zone
    -- description: Every species observed in an area, with counts and statuses.
    -- param: area VARCHAR | INSEE code of a commune or Natura 2000 site code
    -- param: quality VARCHAR = verifiable [any|verifiable|research|needs_id|casual] | Quality grades kept
    -- column: scientific_name | Scientific name of the species

A ``param`` without ``= default`` is required; ``= NULL`` makes it optional. Parameters are
bound by DuckDB as prepared parameters (``$area`` in the SQL), never pasted into the text,
and their values are converted to the declared type first (a bad value is a one-line
:class:`BiodivError`). Every connection used here is read-only and cannot touch files.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import duckdb
import pandas as pd

from biodiv.errors import BiodivError


class QueryError(BiodivError):
    """A named query or ad-hoc SQL that cannot run (one-line message)."""


QUERIES_ENV = "BIODIV_QUERIES_DIR"
TYPES = ("VARCHAR", "INTEGER", "BIGINT", "DOUBLE", "DATE", "BOOLEAN")
HEADER_KEYS = ("title", "title_fr", "description", "param", "column")
_PARAM_RE = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[A-Za-z]+)"
    r"(?:\s*=\s*(?P<default>[^\[|]*?))?"
    r"\s*(?:\[(?P<choices>[^\]]+)\])?"
    r"\s*\|\s*(?P<desc>.+)$"
)
_COLUMN_RE = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)\s*\|\s*(?P<desc>.+)$")
_SQL_PARAM_RE = re.compile(r"\$([a-z_][a-z0-9_]*)")


def queries_dir() -> Path:
    """``$BIODIV_QUERIES_DIR``, else the ``queries/`` folder at the project root."""
    env = os.environ.get(QUERIES_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "queries"


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    description: str
    default: Any = None
    required: bool = True
    choices: tuple[str, ...] = ()

    def convert(self, value: Any, query: str = "") -> Any:
        """The value as the declared type (strings from the command line are parsed)."""
        if value is None or (isinstance(value, str) and value.strip().upper() == "NULL"):
            if self.required:
                raise QueryError(f"parameter {self.name!r} of query {query!r} is required")
            return None
        where = f"parameter {self.name!r} of query {query!r}"
        try:
            converted = _convert(self.type, value)
        except (TypeError, ValueError):
            raise QueryError(
                f"{where} expects {self.type}{_TYPE_HINTS.get(self.type, '')}, got {value!r}"
            ) from None
        if self.choices and str(converted) not in self.choices:
            raise QueryError(f"{where} must be one of {', '.join(self.choices)}; got {value!r}")
        return converted


_TYPE_HINTS = {"DATE": " (YYYY-MM-DD)", "BOOLEAN": " (true/false)"}


def _convert(type_: str, value: Any) -> Any:
    if type_ == "VARCHAR":
        return str(value)
    if type_ in ("INTEGER", "BIGINT"):
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        return int(str(value).strip()) if isinstance(value, str) else int(value)
    if type_ == "DOUBLE":
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    if type_ == "DATE":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value).strip())
    if type_ == "BOOLEAN":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "oui", "t", "y"):
            return True
        if text in ("false", "0", "no", "non", "f", "n"):
            return False
        raise ValueError(value)
    raise ValueError(type_)


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    title_fr: str
    description: str
    params: tuple[Param, ...]
    columns: tuple[tuple[str, str], ...]
    sql: str
    path: Path | None = None

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise QueryError(f"unknown parameter {name!r} for query {self.name!r} (known: {known})")

    def bind(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        """Declared parameters with their converted values (defaults filled in)."""
        values = dict(values or {})
        for name in values:
            self.param(name)  # raises on unknown names
        bound = {}
        for p in self.params:
            bound[p.name] = p.convert(values[p.name], self.name) if p.name in values else (
                p.convert(p.default, self.name) if not p.required else p.convert(None, self.name)
            )
        return bound


def parse_query(text: str, name: str, path: Path | None = None) -> Query:
    """Parse one query file; a missing or malformed header is a :class:`QueryError`."""
    where = str(path) if path else name
    info: dict[str, list[str]] = {k: [] for k in HEADER_KEYS}
    last_key = None
    body_start = 0
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            body_start = i + 1
            last_key = None
            continue
        if not stripped.startswith("--"):
            break
        content = stripped[2:].strip()
        m = re.match(r"^([a-z_]+):\s*(.*)$", content)
        if m and m.group(1) in HEADER_KEYS:
            last_key = m.group(1)
            info[last_key].append(m.group(2).strip())
        elif last_key in ("description",) and content:
            info[last_key][-1] += " " + content  # continuation line
        body_start = i + 1
    sql = "\n".join(lines[body_start:]).strip().rstrip(";").strip()
    for key in ("title", "title_fr", "description"):
        if not info[key] or not info[key][0]:
            raise QueryError(f"query file {where} lacks a '-- {key}:' header line")
    if not info["column"]:
        raise QueryError(f"query file {where} lacks '-- column: name | description' header lines")
    if not sql:
        raise QueryError(f"query file {where} has a header but no SQL")
    params = []
    for raw in info["param"]:
        m = _PARAM_RE.match(raw)
        if not m:
            raise QueryError(
                f"query file {where}: bad param line {raw!r} "
                "(expected 'name TYPE [= default] [a|b] | description')"
            )
        type_ = m.group("type").upper()
        if type_ not in TYPES:
            raise QueryError(f"query file {where}: param {m.group('name')} has unknown type {type_}")
        default_text = m.group("default")
        choices = tuple(c.strip() for c in (m.group("choices") or "").split("|") if c.strip())
        p = Param(
            name=m.group("name"),
            type=type_,
            description=m.group("desc").strip(),
            default=None if default_text is None or default_text.strip().upper() == "NULL"
            else default_text.strip().strip("'"),
            required=default_text is None,
            choices=choices,
        )
        if not p.required and p.default is not None:
            p.convert(p.default, name)  # the default itself must be valid
        params.append(p)
    columns = []
    for raw in info["column"]:
        m = _COLUMN_RE.match(raw)
        if not m:
            raise QueryError(f"query file {where}: bad column line {raw!r} (expected 'name | description')")
        columns.append((m.group("name"), m.group("desc").strip()))
    declared = {p.name for p in params}
    used = set(_SQL_PARAM_RE.findall(_strip_sql_comments(sql)))
    if used - declared:
        raise QueryError(f"query file {where} uses undeclared parameter(s): {', '.join(sorted(used - declared))}")
    if declared - used:
        raise QueryError(f"query file {where} declares unused parameter(s): {', '.join(sorted(declared - used))}")
    return Query(
        name=name,
        title=info["title"][0],
        title_fr=info["title_fr"][0],
        description=info["description"][0],
        params=tuple(params),
        columns=tuple(columns),
        sql=sql,
        path=path,
    )


def _strip_sql_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def list_queries(directory: Path | None = None) -> list[Query]:
    """Every named query, sorted by name (a malformed file raises, naming the file)."""
    folder = directory or queries_dir()
    if not folder.is_dir():
        raise QueryError(f"no query folder at {folder} (set ${QUERIES_ENV})")
    return [
        parse_query(p.read_text(encoding="utf-8"), p.stem, p) for p in sorted(folder.glob("*.sql"))
    ]


def load_query(name: str, directory: Path | None = None) -> Query:
    folder = directory or queries_dir()
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise QueryError(f"bad query name {name!r}")
    path = folder / f"{name}.sql"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(folder.glob("*.sql")))
        raise QueryError(f"unknown query {name!r} (known: {known})")
    return parse_query(path.read_text(encoding="utf-8"), name, path)


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

def lock_down(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Forbid file access (ATTACH, COPY TO, read_csv...) and further settings changes.

    Together with a read-only connection this means ad-hoc SQL can neither change the
    store nor write or read any other file. Spatial must be loaded before.

    DuckDB shares one database instance between the connections a process opens on the
    same file, so these settings hold for that file's other open connections in this
    process too (until all are closed); calling it again is harmless.
    """
    external, locked = con.execute(
        "SELECT current_setting('enable_external_access'), current_setting('lock_configuration')"
    ).fetchone()
    if locked and not external:
        return con  # already locked down (another connection on the same instance)
    if locked:
        raise QueryError("the database configuration is locked with file access enabled: refusing ad-hoc SQL")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def run_query(
    con: duckdb.DuckDBPyConnection, name: str | Query, params: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Run a named query with its parameters bound and type-checked; returns a DataFrame."""
    query = name if isinstance(name, Query) else load_query(name)
    bound = query.bind(params)
    if bound.get("area") is not None:
        _check_area(con, bound["area"])
    try:
        cur = con.execute(query.sql, bound)
        return _dates_as_dates(cur.fetchdf(), [d[0] for d in cur.description if str(d[1]) == "DATE"])
    except duckdb.Error as exc:
        raise QueryError(f"query {query.name!r} failed: {_first_line(exc)}") from None


def _dates_as_dates(df: pd.DataFrame, date_columns: list[str]) -> pd.DataFrame:
    """DuckDB DATE columns arrive as midnight timestamps: turn them back into dates."""
    for col in date_columns:
        if col in df.columns and pd.api.types.is_datetime64_any_dtype(df[col]):
            values = df[col].dt.date.astype(object)
            df[col] = values.where(df[col].notna(), None)
    return df


def _check_area(con: duckdb.DuckDBPyConnection, code: str) -> None:
    found = con.execute("SELECT count(*) FROM areas WHERE code = $c", {"c": code}).fetchone()[0]
    if not found:
        raise QueryError(
            f"unknown area code {code!r}: use an INSEE commune code or a Natura 2000 site code "
            "present in the database"
        )


def run_sql(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame | None:
    """Run ad-hoc SQL; geometry columns come back as WKT text. ``None`` if no result set."""
    if not sql or not sql.strip():
        raise QueryError("empty SQL")
    try:
        rel = con.sql(sql)
        if rel is None:
            return None
        geo = [c for c, t in zip(rel.columns, rel.types) if str(t).upper().startswith("GEOMETRY")]
        if geo:
            exprs = ", ".join(
                f'ST_AsText("{c}") AS "{c}"' if c in geo else f'"{c}"' for c in rel.columns
            )
            rel = rel.project(exprs)
        dates = [c for c, t in zip(rel.columns, rel.types) if str(t) == "DATE"]
        return _dates_as_dates(rel.fetchdf(), dates)
    except duckdb.Error as exc:
        msg = _first_line(exc)
        if "read-only" in msg or "read_only" in msg:
            msg = f"the database is opened read-only here, statements that write are refused ({msg})"
        raise QueryError(f"SQL failed: {msg}") from None


def describe(query: Query) -> str:
    """Multi-line help text of a query (used by ``biodiv query list --verbose``)."""
    lines = [f"{query.name}: {query.title}", f"  {query.description}"]
    for p in query.params:
        req = "required" if p.required else f"default {p.default if p.default is not None else 'NULL'}"
        choices = f" [{'|'.join(p.choices)}]" if p.choices else ""
        lines.append(f"  --param {p.name}=<{p.type}>{choices} ({req}): {p.description}")
    lines.append("  columns: " + ", ".join(c for c, _ in query.columns))
    return "\n".join(lines)
