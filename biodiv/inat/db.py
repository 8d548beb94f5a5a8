"""Every SQL statement of the harvester: territory bbox, cursors, runs, upserts, taxa.

Why here and not in ``harvest.py``: the orchestration reads as a story (fetch a page,
store it with its cursor, go on) while the details of idempotent upserts live in one
place. A page travels as one list per column so DuckDB ingests 200 rows in one statement.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any, Iterable

import duckdb

from biodiv.errors import BiodivError
from biodiv.inat.parse import LINEAGE_RANKS, OBSERVATION_COLUMNS, TAXON_COLUMNS, compress_text, decompress_text

# SQL types of the page columns: a page travels as one Python list per column, unnested
# by DuckDB (``unnest($n::TYPE[])``). Why not Arrow tables: registering a 200-row Arrow
# table costs ~4x more CPU than binding lists, and pyarrow alone weighs ~37 MB of memory.
OBSERVATION_TYPES = {
    "id": "BIGINT", "uuid": "VARCHAR", "observed_on": "DATE", "observed_at": "TIMESTAMPTZ",
    "created_at": "TIMESTAMPTZ", "updated_at": "TIMESTAMPTZ", "quality_grade": "VARCHAR",
    "taxon_id": "BIGINT", "lon": "DOUBLE", "lat": "DOUBLE", "positional_accuracy": "DOUBLE",
    "geoprivacy": "VARCHAR", "taxon_geoprivacy": "VARCHAR", "obscured": "BOOLEAN", "captive": "BOOLEAN",
    "place_guess": "VARCHAR", "user_id": "BIGINT", "user_login": "VARCHAR", "license_code": "VARCHAR",
    "photo_url": "VARCHAR", "photo_license": "VARCHAR", "uri": "VARCHAR", "identifications_count": "INTEGER",
    "identifications_agree": "INTEGER", "identifications_disagree": "INTEGER",
    "user_name": "VARCHAR", "time_zone": "VARCHAR", "photo_attribution": "VARCHAR",
    "identified_by": "VARCHAR", "identified_at": "TIMESTAMPTZ", "description": "VARCHAR",
}
TAXON_TYPES = {
    "id": "BIGINT", "name": "VARCHAR", "common_name_fr": "VARCHAR", "rank": "VARCHAR",
    "rank_level": "DOUBLE", "iconic_taxon_name": "VARCHAR", "ancestor_ids": "BIGINT[]",
    "species_id": "BIGINT", "conservation_status": "VARCHAR", "threatened": "BOOLEAN",
    "endemic": "BOOLEAN", "introduced": "BOOLEAN", "native": "BOOLEAN",
    "photo_url": "VARCHAR", "wikipedia_url": "VARCHAR",
}
STATUS_TYPES = {
    "taxon_id": "BIGINT", "source": "VARCHAR", "kind": "VARCHAR", "code": "VARCHAR",
    "label": "VARCHAR", "scope": "VARCHAR", "ref_id": "VARCHAR",
}


def _unnest(types: dict[str, str], first: int = 1) -> str:
    """``unnest($1::T1[]) AS c1, …``: a select list turning column lists into rows."""
    return ", ".join(f"unnest(${i}::{t}[]) AS {c}" for i, (c, t) in enumerate(types.items(), first))


def _columns(rows: list[dict], names: Iterable[str]) -> list[list]:
    return [[r[n] for r in rows] for n in names]


# A change in any of these means the links to areas must be recomputed.
LOCATION_COLUMNS = ("lon", "lat", "taxon_id", "obscured", "positional_accuracy")


class TerritoryMissing(BiodivError):
    pass


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------------------
# territory
# ---------------------------------------------------------------------------

def territory_bbox(con: duckdb.DuckDBPyConnection) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of the territory outline, or a one-line error saying what to run."""
    row = con.execute("SELECT xmin, ymin, xmax, ymax FROM territory WHERE id = 1").fetchone()
    if row is None:
        raise TerritoryMissing("no territory is defined yet: run `biodiv init` first")
    if any(v is None for v in row):
        raise TerritoryMissing(
            "the territory has no outline yet: run `biodiv areas fetch` (or `biodiv update`, which does it)"
        )
    return tuple(float(v) for v in row)  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# cursors (harvest_state)
# ---------------------------------------------------------------------------

STATE_FIELDS = ("mode", "id_above", "updated_since", "run_id", "started_at", "in_progress", "last_success_at",
                "query")


TIMESTAMP_FIELDS = ("updated_since", "started_at", "last_success_at")


def load_state(con, scope: str) -> dict[str, Any]:
    # TIMESTAMPTZ values are read as UTC epoch microseconds: no pytz needed
    fields = STATE_FIELDS
    try:
        cols = ", ".join(f"epoch_us({f})" if f in TIMESTAMP_FIELDS else f for f in fields)
        row = con.execute(f"SELECT {cols} FROM harvest_state WHERE scope = ?", [scope]).fetchone()
    except duckdb.BinderException:
        # a published store not yet migrated to 010 (read by the no-change probe): no query column
        fields = tuple(f for f in STATE_FIELDS if f != "query")
        cols = ", ".join(f"epoch_us({f})" if f in TIMESTAMP_FIELDS else f for f in fields)
        row = con.execute(f"SELECT {cols} FROM harvest_state WHERE scope = ?", [scope]).fetchone()
    if row is None:
        return {f: None for f in STATE_FIELDS} | {"in_progress": False}
    state = {"query": None} | dict(zip(fields, row))
    for f in TIMESTAMP_FIELDS:
        if state[f] is not None:
            state[f] = datetime.fromtimestamp(state[f] / 1e6, tz=timezone.utc)
    return state


def save_state(con, scope: str, **values: Any) -> None:
    unknown = set(values) - set(STATE_FIELDS)
    if unknown:
        raise ValueError(f"unknown harvest_state fields {unknown}")
    names = ["scope", *values]
    sets = ", ".join(f"{k} = excluded.{k}" for k in values) or "scope = excluded.scope"
    con.execute(
        f"INSERT INTO harvest_state ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
        f"ON CONFLICT (scope) DO UPDATE SET {sets}",
        [scope, *values.values()],
    )


# ---------------------------------------------------------------------------
# runs and the daily request budget
# ---------------------------------------------------------------------------

def start_run(con, kind: str, params: dict) -> int:
    # a run left 'running' by a killed process is over: say so
    con.execute(
        "UPDATE runs SET status = 'interrupted', finished_at = coalesce(finished_at, current_timestamp) "
        "WHERE kind = ? AND status = 'running'", [kind],
    )
    return con.execute(
        "INSERT INTO runs (kind, started_at, status, params, stats) VALUES (?, ?, 'running', ?, '{}') RETURNING id",
        [kind, utcnow(), json.dumps(params, default=str)],
    ).fetchone()[0]


def save_run_stats(con, run_id: int, stats: dict) -> None:
    con.execute("UPDATE runs SET stats = ? WHERE id = ?", [json.dumps(stats, default=str), run_id])


def finish_run(con, run_id: int, status: str, stats: dict, message: str | None = None) -> None:
    con.execute(
        "UPDATE runs SET status = ?, finished_at = ?, stats = ?, message = ? WHERE id = ?",
        [status, utcnow(), json.dumps(stats, default=str), message, run_id],
    )


def requests_on(con, day: date, exclude_run: int | None = None) -> int:
    """iNaturalist requests already spent on ``day`` (UTC) by every run, from runs.stats."""
    key = day.isoformat()
    row = con.execute(
        "SELECT coalesce(sum(TRY_CAST(json_extract_string(stats, ?) AS BIGINT)), 0) FROM runs "
        "WHERE id IS DISTINCT FROM ? AND stats IS NOT NULL",
        [f'$.requests_by_day."{key}"', exclude_run],
    ).fetchone()
    return int(row[0] or 0)


# ---------------------------------------------------------------------------
# observations
# ---------------------------------------------------------------------------

def upsert_observations(con, rows: list[dict], texts: list[bytes], harvested_at: datetime,
                        may_restore: bool = True) -> dict[str, int]:
    """Insert new observations, update changed ones, leave identical ones untouched.

    ``texts`` are the raw records as compact JSON (:func:`biodiv.inat.parse.raw_json`).
    The raw record is the whole truth about an observation, so "changed" means "its
    JSON differs from the stored one": stored blobs are decompressed and compared as
    text (so a change of zlib level never counts as a change), and only the new or
    changed records are compressed and written. Stored records are read only for the
    page's id range (pages come in id order: DuckDB skips the other row groups), never
    by joining the whole table, whose blobs would all be read.
    ``needs_attach`` becomes true for a new row or when location, accuracy, obscuring
    or taxon changed; ``removed_at`` is cleared for an observation that is back
    (``may_restore=False``: the caller knows no stored observation is marked removed,
    and the statement is skipped). Returns counts ``new``, ``updated``, ``unchanged``,
    ``restored``.
    """
    if not rows:
        return {"new": 0, "updated": 0, "unchanged": 0, "restored": 0}
    ids = [r["id"] for r in rows]
    if len(set(ids)) < len(ids):   # no key to refuse a repeated id: the last copy wins
        last = {oid: i for i, oid in enumerate(ids)}
        keep = sorted(last.values())
        rows, texts, ids = [rows[i] for i in keep], [texts[i] for i in keep], [ids[i] for i in keep]
    lo, hi = min(ids), max(ids)
    stored = dict(con.execute(
        "SELECT id, raw FROM observation_raw WHERE id BETWEEN ? AND ? AND id IN (SELECT unnest(?::BIGINT[]))",
        [lo, hi, ids],
    ).fetchall())
    changed = [i for i, (oid, text) in enumerate(zip(ids, texts))
               if oid not in stored or decompress_text(stored[oid]) != text]
    new = sum(1 for i in ids if i not in stored)
    restored = 0
    if may_restore:
        restored = len(con.execute(
            "UPDATE observations SET removed_at = NULL WHERE id BETWEEN ? AND ? AND removed_at IS NOT NULL "
            "AND id IN (SELECT unnest(?::BIGINT[])) RETURNING id",
            [lo, hi, ids],
        ).fetchall())
    if changed:
        _write_changed(con, rows, ids, texts, changed, stored, harvested_at, lo, hi)
    return {"new": new, "updated": len(changed) - new, "unchanged": len(rows) - len(changed),
            "restored": restored}


def _write_changed(con, rows, ids, texts, changed, stored, harvested_at, lo, hi) -> None:
    """Update the changed rows that exist, insert the others (both tables).

    Why no ``ON CONFLICT``: the tables carry no key since migration 009 (a key made every
    checkpoint rewrite the table in memory). Which ids exist is read here, from each table
    over the page's id range (zone maps skip the other row groups), so an id is written
    once even where an older writer left a row in one table only."""
    changed_ids = [ids[i] for i in changed]
    present = {r[0] for r in con.execute(
        "SELECT id FROM observations WHERE id BETWEEN ? AND ? AND id IN (SELECT unnest(?::BIGINT[]))",
        [lo, hi, changed_ids],
    ).fetchall()}
    cols = ", ".join(OBSERVATION_COLUMNS)
    page = f"(SELECT {_unnest(OBSERVATION_TYPES, 2)})"
    geom = "CASE WHEN p.lon IS NULL OR p.lat IS NULL THEN NULL ELSE ST_Point(p.lon, p.lat) END"
    update = [rows[i] for i in changed if ids[i] in present]
    if update:
        moved = " OR ".join(f"observations.{c} IS DISTINCT FROM p.{c}" for c in LOCATION_COLUMNS)
        sets = ", ".join(f"{c} = p.{c}" for c in OBSERVATION_COLUMNS if c != "id")
        con.execute(
            f"""UPDATE observations SET {sets}, geom = {geom}, harvested_at = $1, removed_at = NULL,
                       needs_attach = observations.needs_attach OR {moved}
                FROM {page} AS p WHERE observations.id = p.id""",
            [harvested_at, *_columns(update, OBSERVATION_TYPES)],
        )
    insert = [rows[i] for i in changed if ids[i] not in present]
    if insert:
        con.execute(
            f"""INSERT INTO observations ({cols}, geom, harvested_at, removed_at, needs_attach)
                SELECT {", ".join(f"p.{c}" for c in OBSERVATION_COLUMNS)}, {geom}, $1, NULL, true
                FROM {page} AS p""",
            [harvested_at, *_columns(insert, OBSERVATION_TYPES)],
        )
    # the blobs are bound without a cast: ``?::BLOB[]`` costs ~6 ms per page (DuckDB
    # re-casts each element), and Python bytes already bind as BLOB
    blobs = {ids[i]: compress_text(texts[i]) for i in changed}
    again = [oid for oid in changed_ids if oid in stored]
    if again:
        con.execute(
            "UPDATE observation_raw SET raw = p.raw FROM (SELECT unnest(?::BIGINT[]) AS id, unnest(?) AS raw) AS p "
            "WHERE observation_raw.id = p.id",
            [again, [blobs[oid] for oid in again]],
        )
    first = [oid for oid in changed_ids if oid not in stored]
    if first:
        con.execute(
            "INSERT INTO observation_raw (id, raw) SELECT unnest(?::BIGINT[]), unnest(?)",
            [first, [blobs[oid] for oid in first]],
        )


def mark_absent_removed(con, present_ids: list[int], low: int, high: int | None, when: datetime) -> dict[str, int]:
    """Reconciliation of one id page covering ids in ``(low, high]`` (``high=None``: no upper end).

    Stored observations of that range missing from ``present_ids`` are soft-deleted;
    present ones that were soft-deleted come back. Returns ``removed``, ``restored``, ``unknown``
    (listed by iNaturalist but not stored: a harvest will bring them).
    """
    present = "(SELECT unnest($ids::BIGINT[]) AS id)"
    removed = con.execute(
        f"""
        UPDATE observations SET removed_at = $when
        WHERE removed_at IS NULL AND id > $low AND ($high IS NULL OR id <= $high)
          AND id NOT IN {present}
        RETURNING id
        """,
        {"when": when, "low": low, "high": high, "ids": present_ids},
    ).fetchall()
    restored = con.execute(
        f"UPDATE observations SET removed_at = NULL WHERE removed_at IS NOT NULL AND id IN {present} RETURNING id",
        {"ids": present_ids},
    ).fetchall()
    unknown = con.execute(
        f"SELECT count(*) FROM {present} p WHERE id NOT IN (SELECT id FROM observations)",
        {"ids": present_ids},
    ).fetchone()[0]
    return {"removed": len(removed), "restored": len(restored), "unknown": int(unknown)}


# ---------------------------------------------------------------------------
# taxa
# ---------------------------------------------------------------------------

def upsert_taxa(con, rows: list[dict], when: datetime) -> int:
    """Insert or refresh taxa (descriptive fields); a changed lineage is resolved again."""
    rows = [r for r in {r["id"]: r for r in rows if r.get("id") is not None}.values()]
    if not rows:
        return 0
    cols = ", ".join(TAXON_COLUMNS)
    con.execute(
        f"""
        INSERT INTO taxa ({cols}, ancestors_resolved, fetched_at)
        SELECT {cols}, false, $1 FROM (SELECT {_unnest(TAXON_TYPES, 2)})
        ON CONFLICT (id) DO UPDATE SET
            {', '.join(f'{c} = coalesce(excluded.{c}, taxa.{c})' for c in TAXON_COLUMNS
                       if c not in ('id', 'ancestor_ids'))},
            ancestor_ids = coalesce(excluded.ancestor_ids, taxa.ancestor_ids),
            ancestors_resolved = taxa.ancestors_resolved
                AND excluded.ancestor_ids IS NOT DISTINCT FROM taxa.ancestor_ids,
            fetched_at = excluded.fetched_at
        """,
        [when, *_columns(rows, TAXON_TYPES)],
    )
    return len(rows)


def known_taxon_ids(con, ids: Iterable[int]) -> set[int]:
    ids = list({int(i) for i in ids})
    if not ids:
        return set()
    return {r[0] for r in con.execute(
        "SELECT t.id FROM taxa t JOIN (SELECT unnest(?::BIGINT[]) AS id) a USING (id)", [ids]).fetchall()}


def unresolved_lineages(con) -> list[list[int]]:
    """ancestor_ids of every taxon whose lineage names are not resolved yet."""
    rows = con.execute(
        "SELECT ancestor_ids FROM taxa WHERE NOT coalesce(ancestors_resolved, false) AND ancestor_ids IS NOT NULL"
    ).fetchall()
    return [list(r[0]) for r in rows]


def taxa_without_statuses(con) -> list[int]:
    """Observed species (and lower ranks) whose complete conservation statuses were never read
    (``statuses_at``, migration 010): an observation embeds at most one status."""
    return [r[0] for r in con.execute(
        """SELECT t.id FROM taxa t
           WHERE t.statuses_at IS NULL AND t.rank_level <= 10
             AND t.id IN (SELECT DISTINCT taxon_id FROM observations WHERE taxon_id IS NOT NULL)
           ORDER BY t.id"""
    ).fetchall()]


def mark_statuses_read(con, ids: Iterable[int], when: datetime) -> None:
    ids = list({int(i) for i in ids})
    if ids:
        con.execute("UPDATE taxa SET statuses_at = ? WHERE id IN (SELECT unnest(?::BIGINT[]))", [when, ids])


def insert_placeholder_taxa(con, ids: Iterable[int], when: datetime) -> None:
    """Ids iNaturalist did not return (inactive taxa): stored empty so they are never asked again."""
    for tid in ids:
        con.execute(
            "INSERT INTO taxa (id, ancestors_resolved, fetched_at) VALUES (?, true, ?) ON CONFLICT (id) DO NOTHING",
            [int(tid), when],
        )


def resolve_lineages(con) -> int:
    """Copy kingdom…genus names (and the species of infraspecific taxa) from ancestor rows.

    A lineage is marked resolved once every ancestor id is stored.
    """
    picks = ",\n".join(
        f"max(a.name) FILTER (WHERE a.rank = '{rank}') AS {rank}_name" for rank in LINEAGE_RANKS
    )
    sets = ", ".join(f"{rank}_name = l.{rank}_name" for rank in LINEAGE_RANKS)
    rows = con.execute(
        f"""
        UPDATE taxa SET {sets},
            species_id = coalesce(taxa.species_id,
                                  CASE WHEN taxa.rank_level < 10 THEN l.species_ancestor END),
            ancestors_resolved = l.complete
        FROM (
            SELECT u.id, {picks},
                   max(a.id) FILTER (WHERE a.rank = 'species' AND a.id <> u.id) AS species_ancestor,
                   count(a.id) = count(*) AS complete
            FROM (SELECT id, unnest(ancestor_ids) AS aid FROM taxa
                  WHERE NOT coalesce(ancestors_resolved, false) AND ancestor_ids IS NOT NULL) u
            LEFT JOIN taxa a ON a.id = u.aid
            GROUP BY u.id
        ) l
        WHERE taxa.id = l.id
        RETURNING taxa.id
        """
    ).fetchall()
    return len(rows)


def store_inat_statuses(con, taxon_ids: Iterable[int], rows: list[dict], replace: bool) -> None:
    """iNaturalist statuses of these taxa.

    ``replace=True`` for complete lists (``/taxa/{id}`` answers): what iNaturalist said
    before is dropped. Observation records embed only the status that applies where the
    observation is, so those are added, never used to delete.
    """
    ids = list({int(i) for i in taxon_ids})
    if not ids:
        return
    if replace:
        con.execute(
            "DELETE FROM taxon_statuses WHERE source = 'inaturalist' AND taxon_id IN (SELECT unnest(?::BIGINT[]))",
            [ids],
        )
    unique = list({(r["taxon_id"], r["code"], r["scope"]): r for r in rows}.values())
    if not unique:
        return
    fields = ", ".join(STATUS_TYPES)
    con.execute(
        f"INSERT INTO taxon_statuses ({fields}) SELECT {_unnest(STATUS_TYPES)} ON CONFLICT DO NOTHING",
        _columns(unique, STATUS_TYPES),
    )


# ---------------------------------------------------------------------------
# quarantine (migration 010)
# ---------------------------------------------------------------------------

def quarantine(con, entries: list[dict], run_id: int | None, when: datetime) -> None:
    """Keep aside records that failed the checks: ``entries`` of ``id`` (or None), ``reason``,
    ``raw`` (JSON text), ``api``. An id already there keeps its ``first_seen_at`` and counts one
    more attempt (no key: the row is replaced, so an id is held once)."""
    if not entries:
        return
    ids = [e["id"] for e in entries if e["id"] is not None]
    before = {r[0]: (r[1], r[2]) for r in con.execute(
        "SELECT id, first_seen_at, attempts FROM quarantine WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]
    ).fetchall()} if ids else {}
    if ids:
        con.execute("DELETE FROM quarantine WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids])
    unique = list({(e["id"] if e["id"] is not None else ("none", i)): e for i, e in enumerate(entries)}.values())
    for e in unique:
        first, attempts = before.get(e["id"], (when, 0))
        con.execute(
            "INSERT INTO quarantine (id, reason, raw, api, first_seen_at, last_seen_at, attempts, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [e["id"], e["reason"], e["raw"], e["api"], first, when, int(attempts or 0) + 1, run_id],
        )


def release_quarantined(con, ids: Iterable[int]) -> int:
    """Drop these ids from the quarantine (stored at last, or no longer public); returns how many."""
    ids = list({int(i) for i in ids})
    if not ids:
        return 0
    held = con.execute("SELECT count(*) FROM quarantine WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]).fetchone()[0]
    if held:
        con.execute("DELETE FROM quarantine WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids])
    return int(held)


def release_idless(con, before_run: int | None) -> int:
    """Drop the quarantined records without a usable id seen by earlier runs: they cannot be
    asked again (their reason stays in those runs' logs). Returns how many."""
    n = con.execute("SELECT count(*) FROM quarantine WHERE id IS NULL AND run_id IS DISTINCT FROM ?",
                    [before_run]).fetchone()[0]
    if n:
        con.execute("DELETE FROM quarantine WHERE id IS NULL AND run_id IS DISTINCT FROM ?", [before_run])
    return int(n)


def quarantined_ids(con, before_run: int | None = None) -> list[int]:
    """Ids held in quarantine (by runs other than ``before_run``), ascending: the next run asks
    for them again by id."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT id FROM quarantine WHERE id IS NOT NULL AND run_id IS DISTINCT FROM ? ORDER BY id",
        [before_run],
    ).fetchall()]


def quarantine_count(con) -> int:
    """Records held in quarantine (0 on a store older than migration 010)."""
    try:
        return int(con.execute("SELECT count(*) FROM quarantine").fetchone()[0])
    except duckdb.CatalogException:
        return 0
