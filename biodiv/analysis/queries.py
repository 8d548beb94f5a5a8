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
:class:`QueryError`). Every query is checked and run by :mod:`biodiv.analysis.readonly`
(reads only, time and row limits).
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

from biodiv.analysis.readonly import (  # noqa: F401  (re-exported)
    Limits, QueryError, ReadResult, SqlRefused, lock_down, open_reader, run_read,
)


QUERIES_ENV = "BIODIV_QUERIES_DIR"

# Quality grades counted when nobody chooses, everywhere: the named queries' ``quality``
# parameter declares it as its default (``-- param: quality VARCHAR = verifiable``, checked
# for every shipped file by tests/test_dashboard_quality.py) and the dashboard's quality
# filter starts from it (``biodiv.dashboard.data.DEFAULT_GRADES``). "verifiable" is
# iNaturalist's own term: research grade + needs ID (casual observations left out).
DEFAULT_QUALITY = "verifiable"
# The ``quality_ok(grade, q)`` macro's levels (migration 003) as the grades each keeps;
# "any" keeps every grade, unknown ones included, so it is the empty selection.
QUALITY_GRADES: dict[str, tuple[str, ...]] = {
    "any": (), "verifiable": ("research", "needs_id"), "research": ("research",),
    "needs_id": ("needs_id",), "casual": ("casual",),
}
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
    """``$BIODIV_QUERIES_DIR``; else the copy an installed package carries
    (``biodiv/analysis/named_queries``, built from ``queries/`` by setup.py); else, in a
    checkout, the ``queries/`` folder at its top (where the files are edited)."""
    env = os.environ.get(QUERIES_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    packaged = here / "named_queries"
    return packaged if packaged.is_dir() else here.parents[1] / "queries"


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

def run_query(
    con: duckdb.DuckDBPyConnection,
    name: str | Query,
    params: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
) -> pd.DataFrame:
    """Run a named query with its parameters bound and type-checked; returns a DataFrame.

    The query file goes through the same read-only check and limits as ad-hoc SQL
    (``$BIODIV_QUERIES_DIR`` can point anywhere). When the result had more than
    ``limits.max_rows`` rows, ``df.attrs["truncated_at"]`` holds that limit.
    """
    query = name if isinstance(name, Query) else load_query(name)
    bound = query.bind(params)
    if bound.get("area") is not None:
        _check_area(con, bound["area"])
    return _frame(run_read(con, query.sql, bound, limits, what=f"query {query.name!r}"))


def _frame(result: ReadResult) -> pd.DataFrame:
    if result.truncated:
        result.frame.attrs["truncated_at"] = result.max_rows
    return result.frame


def _check_area(con: duckdb.DuckDBPyConnection, code: str) -> None:
    found = con.execute("SELECT count(*) FROM areas WHERE code = $c", {"c": code}).fetchone()[0]
    if not found:
        raise QueryError(
            f"unknown area code {code!r}: use an INSEE commune code or a Natura 2000 site code "
            "present in the database"
        )


def run_sql(
    con: duckdb.DuckDBPyConnection, sql: str, limits: Limits | None = None
) -> pd.DataFrame:
    """Run ad-hoc SQL that only reads (:mod:`biodiv.analysis.readonly`); geometry columns
    come back as WKT text. ``df.attrs["truncated_at"]`` as for :func:`run_query`."""
    return _frame(run_read(con, sql, None, limits))


def describe(query: Query) -> str:
    """Multi-line help text of a query (used by ``biodiv query list --verbose``)."""
    lines = [f"{query.name}: {query.title}", f"  {query.description}"]
    for p in query.params:
        req = "required" if p.required else f"default {p.default if p.default is not None else 'NULL'}"
        choices = f" [{'|'.join(p.choices)}]" if p.choices else ""
        lines.append(f"  --param {p.name}=<{p.type}>{choices} ({req}): {p.description}")
    lines.append("  columns: " + ", ".join(c for c, _ in query.columns))
    return "\n".join(lines)
