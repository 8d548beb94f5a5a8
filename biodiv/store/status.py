"""What is in the database: the facts behind ``biodiv status`` (one read-only pass)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from biodiv.store.database import schema_version


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
    return {
        "database": str(path) if path else None,
        "size_bytes": path.stat().st_size if path and path.exists() else None,
        "schema_version": schema_version(con),
        "demo": bool(demo and demo[0] == "true"),
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
        "runs": [
            {"kind": r[0], "started_at": str(r[1]), "finished_at": str(r[2]) if r[2] else None,
             "status": r[3], "stats": json.loads(r[4]) if r[4] else None, "message": r[5]}
            for r in runs
        ],
    }
