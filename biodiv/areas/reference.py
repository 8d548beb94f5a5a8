"""Reference areas (communes, Natura 2000, ZNIEFF, custom zonings) in the database.

Why this shape: a layer is first read and checked without the database
(:mod:`biodiv.areas.layers`), then :func:`write_areas` replaces the areas of its type in one
transaction (ids of codes that survive are kept), re-flags the territory, and the
observation links of that type are recomputed (:mod:`biodiv.attach.links`). Bad input is refused
before anything is written. :func:`fetch_areas` does the same with the layers of the
public services, downloaded (and cached) by :mod:`biodiv.areas.sources`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import geopandas as gpd
import pandas as pd
import shapely

from biodiv.areas.layers import (  # noqa: F401  (re-exported: the public names of this area)
    FIELD_GUESSES,
    AreaImportError,
    PreparedAreas,
    merge_duplicate_codes,
    prepare_areas,
    read_layer,
    swap_axes_if_needed,
    to_wgs84,
)
from biodiv.store.database import transaction
from biodiv.areas.territory import read_territory, refresh_territory_outline

REFERENCE_TYPES = ("commune", "n2000_zsc", "n2000_zps")


def check_type(con: duckdb.DuckDBPyConnection | None, area_type: str) -> None:
    known = (
        [r[0] for r in con.execute("SELECT code FROM area_types ORDER BY code").fetchall()]
        if con is not None
        else list(FIELD_GUESSES)
    )
    if area_type not in known:
        raise AreaImportError(f"unknown area type {area_type!r}; known types: {', '.join(known)}")


# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------

def write_areas(
    con: duckdb.DuckDBPyConnection, prepared: PreparedAreas, source: str | None, source_date: date | None,
    append: bool = False,
) -> dict:
    """Replace the areas of ``prepared.area_type`` (one transaction) and re-flag the territory;
    with ``append``, add them to those already loaded instead (a code already loaded is refused).

    Codes present before and after keep their ``areas.id`` (links and bookmarks stay
    meaningful); vanished codes are deleted with their observation links. The frame may
    carry its own ``source``/``source_date`` per row (several files, :func:`combine_loaded`).
    """
    rows = prepared.frame
    if "source" not in rows.columns:
        rows = rows.assign(source=source, source_date=source_date)
    if append:
        refuse_loaded_codes(con, prepared.area_type, rows["code"].tolist())
    with transaction(con):
        con.register("_new_areas", rows)
        try:
            if not append:
                con.execute(
                    """
                    DELETE FROM observation_areas WHERE area_id IN (
                        SELECT id FROM areas WHERE type = $t AND code NOT IN (SELECT code FROM _new_areas))
                    """,
                    {"t": prepared.area_type},
                )
                con.execute(
                    "DELETE FROM areas WHERE type = $t AND code NOT IN (SELECT code FROM _new_areas)",
                    {"t": prepared.area_type},
                )
            con.execute(
                """
                INSERT INTO areas (type, code, name, geom, area_km2, xmin, ymin, xmax, ymax,
                                   in_territory, source, source_date, loaded_at)
                SELECT $t, code, name, ST_GeomFromWKB(wkb), area_km2, xmin, ymin, xmax, ymax,
                       NULL, source, CAST(source_date AS DATE), current_timestamp
                FROM _new_areas
                ON CONFLICT (type, code) DO UPDATE SET
                    name = excluded.name, geom = excluded.geom, area_km2 = excluded.area_km2,
                    xmin = excluded.xmin, ymin = excluded.ymin, xmax = excluded.xmax, ymax = excluded.ymax,
                    source = excluded.source, source_date = excluded.source_date,
                    loaded_at = excluded.loaded_at
                """,
                {"t": prepared.area_type},
            )
        finally:
            con.unregister("_new_areas")
        territory = refresh_territory_outline(con)
    flags = con.execute(
        "SELECT count(*), count(*) FILTER (in_territory), coalesce(sum(area_km2), 0) FROM areas WHERE type = ?",
        [prepared.area_type],
    ).fetchone()
    return {
        "type": prepared.area_type,
        "count": flags[0],
        "in_territory": flags[1],
        "outside_territory": flags[0] - flags[1],
        "area_km2": round(flags[2], 3),
        "repaired": prepared.repaired,
        "code_field": prepared.code_field,
        "name_field": prepared.name_field,
        "source_crs": prepared.source_crs,
        "source": source,
        "source_date": source_date.isoformat() if source_date else None,
        "missing_codes": territory.get("missing_codes", []) if prepared.area_type == "commune" else [],
        "territory_km2": territory.get("area_km2"),
        "notes": prepared.notes,
    }


def refuse_loaded_codes(con: duckdb.DuckDBPyConnection, area_type: str, codes: list[str]) -> None:
    """``--append``: refuse codes already loaded for ``area_type`` (one line naming them).

    Why refuse rather than overwrite: appending the same department twice, or two files
    that share border communes, is a mistake to see, not to resolve silently."""
    clash = con.execute(
        "SELECT code, any_value(source) FROM areas WHERE type = $t AND list_contains($codes, code) "
        "GROUP BY code ORDER BY code",
        {"t": area_type, "codes": [str(c) for c in codes]},
    ).fetchall()
    if clash:
        shown = ", ".join(c for c, _ in clash[:10]) + (", ..." if len(clash) > 10 else "")
        raise AreaImportError(
            f"{len(clash)} {area_type} code(s) already loaded ({shown}; from {clash[0][1]}): --append only adds "
            "new codes; import all the files at once without --append to replace the layer"
        )


def reattach(con: duckdb.DuckDBPyConnection, area_types: list[str] | None) -> dict | None:
    """Recompute observation links for ``area_types`` (biodiv.attach.links, when it exists)."""
    try:
        from biodiv.attach.links import attach
    except ModuleNotFoundError as exc:
        if exc.name == "biodiv.attach.links":
            return None
        raise
    return attach(con, all_observations=True, area_types=area_types)


def record_run(con: duckdb.DuckDBPyConnection, kind: str, started: datetime, params: dict, stats: Any) -> None:
    con.execute(
        "INSERT INTO runs (kind, started_at, finished_at, status, params, stats) VALUES (?, ?, ?, 'ok', ?, ?)",
        [kind, started, datetime.now(timezone.utc), json.dumps(params, default=str), json.dumps(stats, default=str)],
    )


def import_frame(
    con: duckdb.DuckDBPyConnection,
    frame: gpd.GeoDataFrame,
    area_type: str,
    code_field: str | None = None,
    name_field: str | None = None,
    source: str | None = None,
    source_date: date | None = None,
    label: str = "the layer",
    allow_empty: bool = False,
) -> dict:
    """Check, write and attach a layer already in memory (see :func:`import_file`)."""
    check_type(con, area_type)
    prepared = prepare_areas(frame, area_type, code_field, name_field, label=label, allow_empty=allow_empty)
    return store_prepared(con, prepared, source, source_date)


def store_prepared(
    con: duckdb.DuckDBPyConnection, prepared: PreparedAreas, source: str | None, source_date: date | None,
    append: bool = False,
) -> dict:
    """Write checked areas, then recompute the observation links of their type."""
    stats = write_areas(con, prepared, source, source_date, append=append)
    stats["attach"] = reattach(con, [prepared.area_type])
    return stats


@dataclass
class LoadedFile:
    """A local layer read and checked, not yet written (see :func:`load_file`)."""

    prepared: PreparedAreas
    source: str
    source_date: date


def load_file(
    path: Path | str,
    area_type: str,
    code_field: str | None = None,
    name_field: str | None = None,
    source: str | None = None,
    source_date: date | None = None,
    layer: str | None = None,
) -> LoadedFile:
    """Read and check a local layer without touching the database.

    The CLI calls it before opening the writer, so that a bad file never even creates
    a working copy. ``source_date`` defaults to the file's modification date.
    """
    path = Path(path)
    if area_type not in FIELD_GUESSES:
        raise AreaImportError(f"unknown area type {area_type!r}; known types: {', '.join(FIELD_GUESSES)}")
    frame = read_layer(path, layer)
    label = f"{path} (layer {layer})" if layer else str(path)
    prepared = prepare_areas(frame, area_type, code_field, name_field, label=label)
    return LoadedFile(
        prepared,
        source or str(path.resolve()),
        source_date or date.fromtimestamp(path.stat().st_mtime),
    )


def combine_loaded(loaded: list[LoadedFile]) -> LoadedFile:
    """Several checked files of one type as one layer (a territory spanning departments:
    boundaries are distributed per department), each row keeping its file as source.

    A code present in two files is refused (one line naming the codes and files): the
    files overlap, and which geometry is right is the user's call."""
    if len(loaded) == 1:
        return loaded[0]
    types = {lf.prepared.area_type for lf in loaded}
    if len(types) != 1:
        raise AreaImportError(f"the files hold different area types ({', '.join(sorted(types))})")
    frames = [lf.prepared.frame.assign(source=lf.source, source_date=lf.source_date) for lf in loaded]
    rows = pd.concat(frames, ignore_index=True)
    dup = rows[rows["code"].duplicated(keep=False)]
    if len(dup):
        codes = sorted(dup["code"].unique())
        files = sorted({Path(src).name for src in dup["source"]})
        raise AreaImportError(
            f"{len(codes)} code(s) in more than one file ({', '.join(codes[:10])}{', ...' if len(codes) > 10 else ''}"
            f"; files {', '.join(files)}): one feature per area, remove them from all files but one"
        )
    first = loaded[0].prepared
    crs = sorted({lf.prepared.source_crs for lf in loaded if lf.prepared.source_crs})
    prepared = PreparedAreas(
        first.area_type, rows, first.code_field, first.name_field, ", ".join(crs) or None,
        sum(lf.prepared.repaired for lf in loaded),
        [f"{Path(lf.source).name}: {note}" for lf in loaded for note in lf.prepared.notes],
    )
    return LoadedFile(prepared, "; ".join(lf.source for lf in loaded), max(lf.source_date for lf in loaded))


def store_loaded(con: duckdb.DuckDBPyConnection, loaded: LoadedFile, started: datetime | None = None,
                 append: bool = False) -> dict:
    """Write a :class:`LoadedFile` (replacing its type, or added to it with ``append``),
    attach, and record the run."""
    started = started or datetime.now(timezone.utc)
    check_type(con, loaded.prepared.area_type)
    stats = store_prepared(con, loaded.prepared, loaded.source, loaded.source_date, append=append)
    record_run(con, "areas_import", started,
               {"source": loaded.source, "type": loaded.prepared.area_type, "append": append}, stats)
    return stats


def import_file(
    con: duckdb.DuckDBPyConnection,
    path: Path | str,
    area_type: str,
    code_field: str | None = None,
    name_field: str | None = None,
    source: str | None = None,
    source_date: date | None = None,
    layer: str | None = None,
) -> dict:
    """Import any OGR file (``layer`` of it, when it has several) as the areas of
    ``area_type``, replacing the previous ones.

    Must not be called inside an open transaction (it opens its own). Raises
    :class:`AreaImportError` before writing anything when the file is unusable.
    """
    started = datetime.now(timezone.utc)
    check_type(con, area_type)
    loaded = load_file(path, area_type, code_field, name_field, source, source_date, layer)
    return store_loaded(con, loaded, started)


def missing_types(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Which of commune/n2000_zsc/n2000_zps the territory still lacks (what ``update`` fetches).

    A type is present when some area of it lies in the territory, or when a successful
    ``areas fetch`` covered it since the territory was last (re)defined by ``init`` — a
    territory with no Natura 2000 site must not trigger a fetch on every update.
    """
    present = {
        r[0] for r in con.execute("SELECT DISTINCT type FROM areas WHERE in_territory").fetchall()
    }
    fetched: set[str] = set()
    for (params,) in con.execute(
        """
        SELECT params FROM runs WHERE kind = 'areas_fetch' AND status = 'ok' AND finished_at >= coalesce(
            (SELECT max(finished_at) FROM runs WHERE kind = 'init' AND status = 'ok'), TIMESTAMPTZ '1970-01-01')
        """
    ).fetchall():
        try:
            fetched.update(json.loads(params).get("types") or [])
        except (TypeError, ValueError, AttributeError):
            continue
    return [t for t in REFERENCE_TYPES if t not in present and t not in fetched]


OPTIONAL_TYPES = ("n2000_zsc", "n2000_zps")


class FetchFailure(str):
    """One reference layer :func:`fetch_missing_areas` could not fetch (the message), and
    whether it was ``expected``: a layer this store held before, or a service that answered
    but badly, is a failure (``biodiv update`` exits 3); a layer never loaded whose service
    cannot be reached (offline, or both Natura 2000 layers overseas) is only a warning, so that
    a scheduled offline update does not look broken every night."""

    expected: bool = True

    def __new__(cls, message: str, expected: bool = True) -> "FetchFailure":
        out = super().__new__(cls, message)
        out.expected = expected
        return out


def ever_loaded(con: duckdb.DuckDBPyConnection, area_type: str) -> bool:
    """Whether this store ever held areas of ``area_type`` (rows now, or a successful fetch)."""
    if con.execute("SELECT count(*) FROM areas WHERE type = ?", [area_type]).fetchone()[0]:
        return True
    for (params,) in con.execute("SELECT params FROM runs WHERE kind = 'areas_fetch' AND status = 'ok'").fetchall():
        try:
            if area_type in (json.loads(params).get("types") or []):
                return True
        except (TypeError, ValueError, AttributeError):
            continue
    return False


def fetch_missing_areas(cfg, con: duckdb.DuckDBPyConnection, types: list[str]) -> list[FetchFailure]:
    """What ``biodiv update`` fetches before harvesting: the missing reference layers.

    Communes are required (their outline bounds the harvest and decides the territory):
    their failure stops the update. Natura 2000 layers are optional: each one whose
    service fails is skipped and its reason returned (a :class:`FetchFailure`, ``expected``
    unless the layer was never loaded and the service is unreachable), so that the harvest
    still runs (and the next update tries the layer again, see :func:`missing_types`)."""
    from biodiv.areas.sources import GeoSourceError, ServiceUnreachable

    required = [t for t in types if t not in OPTIONAL_TYPES]
    if required:
        fetch_areas(cfg, con, types=required)
    failures = []
    for t in (t for t in types if t in OPTIONAL_TYPES):
        try:
            fetch_areas(cfg, con, types=[t])
        except GeoSourceError as exc:
            expected = not isinstance(exc, ServiceUnreachable) or ever_loaded(con, t)
            failures.append(FetchFailure(f"{t} sites could not be fetched: {exc}"
                                         + ("" if expected else " (never loaded here: a warning, not a failure)"),
                                         expected))
    return failures


def list_areas(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """One row per area type present: count, total km², sources and latest date."""
    rows = con.execute(
        """
        SELECT a.type, any_value(t.label), count(*), sum(a.area_km2),
               count(*) FILTER (a.in_territory), string_agg(DISTINCT a.source, ', '),
               max(a.source_date), max(a.loaded_at)
        FROM areas a LEFT JOIN area_types t ON t.code = a.type
        GROUP BY a.type ORDER BY a.type
        """
    ).fetchall()
    keys = ("type", "label", "count", "area_km2", "in_territory", "source", "source_date", "loaded_at")
    return [dict(zip(keys, r)) for r in rows]


# ---------------------------------------------------------------------------
# Fetching from the public services
# ---------------------------------------------------------------------------

def fetch_areas(cfg, con: duckdb.DuckDBPyConnection, types: list[str] | None = None, refresh: bool = False) -> list[dict]:
    """Download (or reuse from the cache) and import the reference layers of the territory.

    ``types`` defaults to commune, n2000_zsc and n2000_zps. Communes come first: the
    Natura 2000 request is bounded by the territory outline they define, and only sites
    that truly intersect the outline are kept.
    """
    from biodiv.areas import sources as geo_sources

    started = datetime.now(timezone.utc)
    wanted = list(types or REFERENCE_TYPES)
    for t in wanted:
        if t not in REFERENCE_TYPES:
            raise AreaImportError(f"cannot fetch {t!r} areas; fetchable types: {', '.join(REFERENCE_TYPES)}")
    terr = read_territory(con)
    if terr is None:
        raise AreaImportError("no territory in the database: run `biodiv init` first")
    src = cfg.sources
    results: list[dict] = []
    if "commune" in wanted:
        dl = geo_sources.fetch_commune_boundaries(
            src.geo_api_url, cfg.cache, siren=terr["epci_siren"], insee_codes=list(terr["insee_codes"]),
            refresh=refresh, timeout=src.timeout,
        )
        stats = import_frame(
            con, read_layer(dl.path), "commune", "code", "nom",
            source=dl.url, source_date=dl.fetched_on, label=f"{geo_sources.GEO_API} communes",
        )
        stats["from_cache"] = dl.from_cache
        results.append(stats)
        terr = read_territory(con)
    n2000 = [t for t in wanted if t != "commune"]
    if n2000:
        if not terr or not terr["has_outline"]:
            raise AreaImportError(
                "the territory has no outline yet: fetch or import its commune boundaries first "
                "(`biodiv areas fetch` or `biodiv areas import FILE --type commune`)"
            )
        bbox = (terr["xmin"], terr["ymin"], terr["xmax"], terr["ymax"])
        outline = shapely.from_wkb(
            con.execute("SELECT ST_AsWKB(geom) FROM territory WHERE id = 1").fetchone()[0]
        )
        for t in n2000:
            layer = src.wfs_layer_zsc if t == "n2000_zsc" else src.wfs_layer_zps
            dl = geo_sources.fetch_wfs_layer(
                src.wfs_url, layer, bbox, cfg.cache, refresh=refresh, timeout=src.timeout
            )
            frame = read_layer(dl.path)
            if len(frame):
                frame = swap_axes_if_needed(to_wgs84(frame, layer), bbox)
                frame = merge_duplicate_codes(frame[frame.geometry.intersects(outline)], t)
            stats = import_frame(
                con, frame, t, source=dl.url, source_date=dl.fetched_on, label=f"WFS layer {layer}",
                allow_empty=True,
            )
            stats["from_cache"] = dl.from_cache
            results.append(stats)
    record_run(con, "areas_fetch", started, {"types": wanted, "refresh": refresh}, results)
    return results
