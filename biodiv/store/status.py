"""What is in the database: the facts behind ``biodiv status`` (one read-only pass)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from biodiv.store.database import schema_version

# What each run records of its footprint (runs.stats): iNaturalist requests, bytes received
# over the network, bytes written to disk (REEN reporting).
FOOTPRINT_KEYS = ("requests", "bytes_downloaded", "bytes_written")


def collect_status(con: duckdb.DuckDBPyConnection, path: Path | None = None) -> dict:
    """Territory, areas per type, observation counts and the last runs, as plain data."""
    territory = con.execute(
        "SELECT name, epci_siren, len(insee_codes), area_km2, geom IS NOT NULL FROM territory"
    ).fetchone()
    areas = con.execute(
        """SELECT a.type, t.label, count(*), round(sum(a.area_km2), 1),
                  count(*) FILTER (WHERE a.in_territory), max(a.source), max(a.source_date)
           FROM areas a LEFT JOIN area_types t ON t.code = a.type
           GROUP BY ALL ORDER BY a.type"""
    ).fetchall()
    obs = con.execute(
        """SELECT count(*) FILTER (WHERE removed_at IS NULL),
                  count(*) FILTER (WHERE removed_at IS NOT NULL),
                  count(*) FILTER (WHERE removed_at IS NULL AND NOT needs_attach),
                  count(*) FILTER (WHERE removed_at IS NULL AND needs_attach),
                  count(*) FILTER (WHERE removed_at IS NULL AND in_territory),
                  count(*) FILTER (WHERE removed_at IS NULL AND NOT in_territory),
                  count(*) FILTER (WHERE removed_at IS NULL AND obscured),
                  count(*) FILTER (WHERE removed_at IS NULL AND lon IS NULL),
                  min(observed_on), max(observed_on), max(updated_at)
           FROM observations"""
    ).fetchone()
    runs = con.execute(
        """SELECT kind, started_at, finished_at, status, stats, message
           FROM runs ORDER BY id DESC LIMIT 8"""
    ).fetchall()
    demo = con.execute("SELECT value FROM meta WHERE key = 'demo'").fetchone()
    footprint = con.execute(
        f"""SELECT count(*), {', '.join(f"coalesce(sum(TRY_CAST(json_extract_string(stats, '$.{k}') AS BIGINT)), 0)"
                                        for k in FOOTPRINT_KEYS)}
            FROM runs WHERE started_at >= now() - INTERVAL 30 DAY"""
    ).fetchone()
    footprint = list(footprint)
    recent = []
    if path is not None:
        # no-change runs recorded beside the store, not merged into runs yet (biodiv.inat.probe)
        from datetime import datetime, timedelta, timezone

        from biodiv.store.runs import read_live_status, read_pending

        merged = {r[0] for r in con.execute(
            "SELECT json_extract_string(params, '$.probe_id') FROM runs WHERE params IS NOT NULL").fetchall()}
        limit = datetime.now(timezone.utc) - timedelta(days=30)
        for e in read_pending(path):
            if e["probe_id"] in merged:
                continue
            recent.append(e)
            if datetime.fromisoformat(e["started_at"]) >= limit:
                footprint[0] += 1
                for i, k in enumerate(FOOTPRINT_KEYS, 1):
                    footprint[i] += int((e.get("stats") or {}).get(k) or 0)
        live = read_live_status(path) or {}
        attempts = {r[0] for r in con.execute(
            "SELECT json_extract_string(params, '$.live_attempt_at') FROM runs WHERE params IS NOT NULL").fetchall()}
        if live.get("status") == "failed" and isinstance(live.get("attempt_at"), str) \
                and live["attempt_at"] not in attempts:   # a failed live round no writer has recorded yet
            recent.append({"kind": "update", "started_at": live["attempt_at"], "finished_at": live["attempt_at"],
                           "status": "failed", "message": live.get("message"), "probe_id": None})
    lake = None
    if con.execute("SELECT any_value(type) FROM duckdb_databases() WHERE database_name = current_database()"
                   ).fetchone()[0] == "ducklake":
        from biodiv.store.lake import snapshot_summary

        lake = snapshot_summary(con)
    return {
        "database": str(path) if path else None,
        "size_bytes": path.stat().st_size if path and path.exists() else None,
        "schema_version": schema_version(con),
        "demo": bool(demo and demo[0] == "true"),
        "lake": lake,   # DuckLake backend: snapshots and data files (None: one DuckDB file)
        "territory": None if territory is None else {
            "name": territory[0], "epci_siren": territory[1], "communes": territory[2],
            "area_km2": territory[3], "has_outline": territory[4],
        },
        "areas": [
            {"type": r[0], "label": r[1], "count": r[2], "km2": r[3], "in_territory": r[4],
             "source": r[5], "date": str(r[6]) if r[6] else None}
            for r in areas
        ],
        "observations": dict(zip(
            ["total", "removed", "attached", "pending_attach", "in_territory", "outside",
             "obscured", "no_coordinates", "first_observed", "last_observed", "last_updated"],
            [str(v) if v is not None and not isinstance(v, int) else v for v in obs],
        )),
        "taxa": con.execute("SELECT count(*) FROM taxa").fetchone()[0],
        "sensitivity": _sensitivity(con),
        "quarantine": _quarantine(con),
        "footprint_30_days": dict(zip(("runs", *FOOTPRINT_KEYS), footprint)),
        "runs": sorted([
            {"kind": r[0], "started_at": str(r[1]), "finished_at": str(r[2]) if r[2] else None,
             "status": r[3], "stats": json.loads(r[4]) if r[4] else None, "message": r[5]}
            for r in runs
        ] + [{"kind": e.get("kind", "harvest"), "started_at": e["started_at"], "finished_at": e.get("finished_at"),
              "status": e.get("status", "ok"), "stats": e.get("stats"), "message": e.get("message")}
             for e in recent], key=lambda r: r["started_at"].replace("T", " "), reverse=True)[:8],
    }


def _sensitivity(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The SINP sensitivity referentials imported, the cautious default the last computation
    applied, and the observations of the territory per stored level (biodiv.sensitivity);
    None on a store older than migration 011."""
    if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'sensitivity_rules'"
                       ).fetchone()[0]:
        return None
    refs = con.execute("SELECT source, n_rules, CAST(imported_at AS VARCHAR) FROM sensitivity_imports ORDER BY source"
                       ).fetchall()
    computed = con.execute("SELECT value FROM meta WHERE key = 'sensitivity_computed_at'").fetchone()
    rows = con.execute(
        """SELECT s.level, s.cautious, count(*) FROM observation_sensitivity s JOIN observations o ON o.id = s.observation_id
           WHERE o.removed_at IS NULL AND o.in_territory GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
    return {
        "referentials": [{"source": r[0], "rules": r[1], "imported_at": r[2]} for r in refs],
        "computed_at": computed[0] if computed else None,
        "levels": {int(k): sum(n for lvl, _, n in rows if lvl == k) for k in sorted({r[0] for r in rows if r[0] > 0})},
        "cautious": sum(n for _, c, n in rows if c),   # observations the cautious default covers
    }


def _quarantine(con: duckdb.DuckDBPyConnection) -> dict:
    """Records the harvest kept aside (migration 010): how many, and the latest reasons."""
    try:
        rows = con.execute("SELECT id, reason, attempts FROM quarantine ORDER BY last_seen_at DESC, id").fetchall()
    except duckdb.CatalogException:      # a store older than migration 010
        rows = []
    return {"count": len(rows), "records": [{"id": r[0], "reason": r[1], "attempts": r[2]} for r in rows[:5]]}
