"""Reference areas (communes, Natura 2000, ZNIEFF, custom zonings): read, check, store.

Why this shape: an area layer comes from anywhere (an INPN Shapefile in Lambert-93, a
GeoPackage from a colleague, the geo.api.gouv.fr GeoJSON, a WFS page), so every source
goes through the same steps, most of them pure functions on a GeoDataFrame:

1. :func:`read_layer` — any OGR format through pyogrio (a ``.zip`` holding a Shapefile too);
2. :func:`prepare_areas` — reproject to WGS84, repair invalid rings, keep polygonal parts
   (a MultiPolygon stays one area), pick the code/name fields, refuse duplicates, compute
   km² in Lambert-93 and the bbox columns;
3. :func:`write_areas` — replace the areas of that type in one transaction (ids of codes
   that survive are kept), re-flag the territory, then recompute the observation links.

Every check runs before anything is written, so bad input leaves the database untouched.
HTTP lives in :mod:`biodiv.geo_sources`; this module only reads the files it caches.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from biodiv.errors import BiodivError
from biodiv.store import transaction
from biodiv.territory import read_territory, refresh_territory_outline

LAMBERT93 = "EPSG:2154"
WGS84 = "EPSG:4326"
REFERENCE_TYPES = ("commune", "n2000_zsc", "n2000_zps")
READABLE_IN_ZIP = (".shp", ".gpkg", ".geojson", ".json", ".fgb", ".kml", ".gml")

# Default (code, name) attribute names per area type, first match wins.
_N2000 = (("SITECODE", "sitecode", "code", "CODE"), ("SITENAME", "sitename", "nom", "NOM", "name"))
_ZNIEFF = (("ID_MNHN", "id_mnhn", "NM_SFFZN", "nm_sffzn", "code"), ("NOM", "nom", "LB_ZN", "lb_zn", "nom_site"))
FIELD_GUESSES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "commune": (
        ("code", "insee", "INSEE_COM", "insee_com", "CODE_INSEE", "code_insee", "INSEE"),
        ("nom", "NOM", "NOM_COM", "nom_com", "name", "NAME"),
    ),
    "n2000_zsc": _N2000,
    "n2000_zps": _N2000,
    "znieff1": _ZNIEFF,
    "znieff2": _ZNIEFF,
    "custom": (("code", "CODE", "id", "ID"), ("nom", "NOM", "name", "NAME", "libelle", "LIBELLE")),
}


class AreaImportError(BiodivError):
    """An area layer that cannot be imported as it is (one-line reason)."""


@dataclass
class PreparedAreas:
    """Checked areas, ready to write: one row per area, geometry as WKB (WGS84)."""

    area_type: str
    frame: pd.DataFrame                  # code, name, wkb, area_km2, xmin, ymin, xmax, ymax
    code_field: str | None
    name_field: str | None
    source_crs: str | None
    repaired: int = 0
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

def read_layer(path: Path | str) -> gpd.GeoDataFrame:
    """Read the first layer of any OGR-readable file; a ``.zip`` may hold it in a folder."""
    path = Path(path)
    if not path.exists():
        raise AreaImportError(f"{path} does not exist")
    if path.is_file() and path.stat().st_size == 0:
        raise AreaImportError(f"{path} is an empty file")
    target = str(path)
    if path.suffix.lower() == ".zip":
        target = _zip_member(path)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "more than one layer": the first one is read
            frame = gpd.read_file(target, engine="pyogrio")
    except Exception as exc:  # pyogrio.errors.DataSourceError, DataLayerError, ...
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AreaImportError(
            f"cannot read {path}: corrupted or not a geographic file ({first.split(';')[0]})"
        ) from None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        raise AreaImportError(f"{path} has no geometry column: areas need polygons")
    return frame


def _zip_member(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(READABLE_IN_ZIP)]
    except zipfile.BadZipFile:
        raise AreaImportError(f"cannot read {path}: not a valid zip archive") from None
    if not names:
        raise AreaImportError(f"{path} holds no Shapefile, GeoPackage or GeoJSON")
    shp = [n for n in names if n.lower().endswith(".shp")]
    chosen = shp or names
    if len(chosen) > 1:
        raise AreaImportError(f"{path} holds several layers ({', '.join(chosen[:5])}): unzip it and import one")
    return f"/vsizip/{path.resolve()}/{chosen[0]}"


# ---------------------------------------------------------------------------
# Pure preparation
# ---------------------------------------------------------------------------

def check_type(con: duckdb.DuckDBPyConnection | None, area_type: str) -> None:
    known = (
        [r[0] for r in con.execute("SELECT code FROM area_types ORDER BY code").fetchall()]
        if con is not None
        else list(FIELD_GUESSES)
    )
    if area_type not in known:
        raise AreaImportError(f"unknown area type {area_type!r}; known types: {', '.join(known)}")


def to_wgs84(frame: gpd.GeoDataFrame, label: str) -> gpd.GeoDataFrame:
    """Reproject from the declared CRS; with none, accept only coordinates that fit lon/lat."""
    geoms = frame.geometry
    if frame.crs is None:
        xmin, ymin, xmax, ymax = geoms.total_bounds
        if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
            raise AreaImportError(
                f"{label} declares no CRS and its coordinates are not longitude/latitude "
                f"(x {xmin:.0f}..{xmax:.0f}): unknown CRS, add a .prj or convert it to EPSG:4326"
            )
        return frame.set_crs(WGS84)
    try:
        out = frame.to_crs(WGS84)
    except Exception as exc:
        raise AreaImportError(f"{label}: cannot reproject from {frame.crs} ({exc})") from None
    declared = frame.crs.to_string()
    xmin, ymin, xmax, ymax = out.geometry.total_bounds
    if not (np.all(np.isfinite([xmin, ymin, xmax, ymax])) and -180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
        raise AreaImportError(
            f"{label}: coordinates do not fit its declared CRS {declared} "
            f"(x {xmin:.0f}..{xmax:.0f}): wrong CRS, fix the .prj or convert the file"
        )
    aou = frame.crs.area_of_use
    if aou is not None and not shapely.box(xmin, ymin, xmax, ymax).intersects(
        shapely.box(aou.west - 1, aou.south - 1, aou.east + 1, aou.north + 1)
    ):
        raise AreaImportError(
            f"{label}: its features lie outside the area where {declared} is used ({aou.name}): "
            "wrong CRS, fix the .prj or convert the file"
        )
    return out


def polygonal_part(geom):
    """The polygonal part of a geometry (Polygon/MultiPolygon), or None."""
    if geom is None or geom.is_empty:
        return None
    kind = geom.geom_type
    if kind in ("Polygon", "MultiPolygon"):
        return geom
    if kind == "GeometryCollection":
        polys: list = []
        for part in geom.geoms:
            sub = polygonal_part(part)
            if sub is not None:
                polys.extend(getattr(sub, "geoms", [sub]))
        if not polys:
            return None
        return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
    return None


def repair(geoms: Sequence) -> tuple[list, int]:
    """``make_valid`` invalid geometries and keep their polygonal parts; count repairs."""
    arr = shapely.force_2d(np.asarray(geoms, dtype=object))
    invalid = ~shapely.is_valid(arr)
    if invalid.any():
        arr[invalid] = shapely.make_valid(arr[invalid])
    return [polygonal_part(g) for g in arr], int(invalid.sum())


def pick_field(columns: Sequence[str], explicit: str | None, candidates: Sequence[str], what: str, option: str) -> str:
    cols = [c for c in columns if c != "geometry"]
    if explicit:
        if explicit in cols:
            return explicit
        raise AreaImportError(
            f"no field {explicit!r} for the {what}; available fields: {', '.join(cols) or '(none)'}"
        )
    for name in candidates:
        if name in cols:
            return name
    lowered = {c.lower(): c for c in cols}
    for name in candidates:
        if name.lower() in lowered:
            return lowered[name.lower()]
    raise AreaImportError(
        f"cannot guess the {what} field; pass {option} FIELD, available fields: {', '.join(cols) or '(none)'}"
    )


def _as_code(value: Any, area_type: str) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    code = str(value).strip()
    if area_type == "commune" and code.isdigit() and len(code) == 4:
        code = code.zfill(5)  # 1001 read as a number was 01001
    return code or None


def prepare_areas(
    frame: gpd.GeoDataFrame,
    area_type: str,
    code_field: str | None = None,
    name_field: str | None = None,
    label: str = "the layer",
    allow_empty: bool = False,
) -> PreparedAreas:
    """Check and normalise a layer into rows for the ``areas`` table (no I/O)."""
    if area_type not in FIELD_GUESSES:
        raise AreaImportError(f"unknown area type {area_type!r}; known types: {', '.join(FIELD_GUESSES)}")
    if len(frame) == 0:
        if allow_empty:
            empty = pd.DataFrame(columns=["code", "name", "wkb", "area_km2", "xmin", "ymin", "xmax", "ymax"])
            return PreparedAreas(area_type, empty, code_field, name_field, None)
        raise AreaImportError(f"{label} holds no features")
    geoms = frame.geometry
    if geoms.isna().all() or geoms.is_empty.all():
        raise AreaImportError(f"{label} has no geometry: areas need polygons")
    codes_guess, names_guess = FIELD_GUESSES[area_type]
    cfield = pick_field(list(frame.columns), code_field, codes_guess, "area code", "--code-field")
    nfield = pick_field(list(frame.columns), name_field, names_guess, "area name", "--name-field")

    source_crs = frame.crs.to_string() if frame.crs is not None else None
    frame = frame[~(geoms.isna() | geoms.is_empty)]
    frame = to_wgs84(frame, label)
    fixed, repaired = repair(frame.geometry.values)
    bad = [i for i, g in enumerate(fixed) if g is None]
    if len(bad) == len(fixed):
        kinds = sorted(set(frame.geometry.geom_type))
        raise AreaImportError(f"{label} holds only {'/'.join(kinds)} geometries: areas need polygons")
    if bad:
        kinds = sorted(set(frame.geometry.iloc[bad].geom_type))
        raise AreaImportError(
            f"{label}: {len(bad)} feature(s) are {'/'.join(kinds)}, not polygons; areas need polygons only"
        )

    codes = [_as_code(v, area_type) for v in frame[cfield].tolist()]
    if any(c is None for c in codes):
        raise AreaImportError(f"{label}: {sum(c is None for c in codes)} feature(s) have no {cfield!r} code")
    dup = pd.Series(codes)[pd.Series(codes).duplicated()].unique().tolist()
    if dup:
        raise AreaImportError(
            f"{label}: duplicate codes in field {cfield!r} ({', '.join(map(str, dup[:5]))}"
            f"{', ...' if len(dup) > 5 else ''}); one feature per area, merge them first"
        )
    names = [None if pd.isna(v) else str(v).strip() for v in frame[nfield].tolist()]

    wgs = gpd.GeoSeries(fixed, crs=WGS84)
    km2 = wgs.to_crs(LAMBERT93).area.to_numpy() / 1e6
    bounds = wgs.bounds
    out = pd.DataFrame(
        {
            "code": codes,
            "name": names,
            "wkb": shapely.to_wkb(np.asarray(fixed, dtype=object)),
            "area_km2": km2,
            "xmin": bounds["minx"].to_numpy(),
            "ymin": bounds["miny"].to_numpy(),
            "xmax": bounds["maxx"].to_numpy(),
            "ymax": bounds["maxy"].to_numpy(),
        }
    )
    notes = [f"{repaired} invalid geometr{'y' if repaired == 1 else 'ies'} repaired"] if repaired else []
    return PreparedAreas(area_type, out, cfield, nfield, source_crs, repaired, notes)


def swap_axes_if_needed(frame: gpd.GeoDataFrame, ref_bbox: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """Swap lat/lon when a service answered in EPSG:4326 axis order (lat first).

    Decided on the data: if the layer misses ``ref_bbox`` but its swapped version meets it.
    """
    if len(frame) == 0:
        return frame
    ref = shapely.box(*ref_bbox)
    bbox = shapely.box(*frame.geometry.total_bounds)
    if bbox.intersects(ref):
        return frame
    swapped = shapely.transform(frame.geometry.values, lambda c: c[:, ::-1])
    if shapely.box(*shapely.total_bounds(swapped)).intersects(ref):
        return frame.set_geometry(gpd.GeoSeries(swapped, index=frame.index, crs=frame.crs))
    return frame


# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------

def write_areas(
    con: duckdb.DuckDBPyConnection, prepared: PreparedAreas, source: str | None, source_date: date | None
) -> dict:
    """Replace the areas of ``prepared.area_type`` (one transaction) and re-flag the territory.

    Codes present before and after keep their ``areas.id`` (links and bookmarks stay
    meaningful); vanished codes are deleted with their observation links.
    """
    rows = prepared.frame.assign(source=source, source_date=source_date)
    with transaction(con):
        con.register("_new_areas", rows)
        try:
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


def reattach(con: duckdb.DuckDBPyConnection, area_types: list[str] | None) -> dict | None:
    """Recompute observation links for ``area_types`` (biodiv.attach, when it exists)."""
    try:
        from biodiv.attach import attach
    except ModuleNotFoundError as exc:
        if exc.name == "biodiv.attach":
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
    con: duckdb.DuckDBPyConnection, prepared: PreparedAreas, source: str | None, source_date: date | None
) -> dict:
    """Write checked areas, then recompute the observation links of their type."""
    stats = write_areas(con, prepared, source, source_date)
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
) -> LoadedFile:
    """Read and check a local layer without touching the database.

    The CLI calls it before opening the writer, so that a bad file never even creates
    a working copy. ``source_date`` defaults to the file's modification date.
    """
    path = Path(path)
    if area_type not in FIELD_GUESSES:
        raise AreaImportError(f"unknown area type {area_type!r}; known types: {', '.join(FIELD_GUESSES)}")
    frame = read_layer(path)
    prepared = prepare_areas(frame, area_type, code_field, name_field, label=str(path))
    return LoadedFile(
        prepared,
        source or str(path.resolve()),
        source_date or date.fromtimestamp(path.stat().st_mtime),
    )


def store_loaded(con: duckdb.DuckDBPyConnection, loaded: LoadedFile, started: datetime | None = None) -> dict:
    """Write a :class:`LoadedFile` (replacing its type), attach, and record the run."""
    started = started or datetime.now(timezone.utc)
    check_type(con, loaded.prepared.area_type)
    stats = store_prepared(con, loaded.prepared, loaded.source, loaded.source_date)
    record_run(con, "areas_import", started, {"source": loaded.source, "type": loaded.prepared.area_type}, stats)
    return stats


def import_file(
    con: duckdb.DuckDBPyConnection,
    path: Path | str,
    area_type: str,
    code_field: str | None = None,
    name_field: str | None = None,
    source: str | None = None,
    source_date: date | None = None,
) -> dict:
    """Import any OGR file as the areas of ``area_type``, replacing the previous ones.

    Must not be called inside an open transaction (it opens its own). Raises
    :class:`AreaImportError` before writing anything when the file is unusable.
    """
    started = datetime.now(timezone.utc)
    check_type(con, area_type)
    loaded = load_file(path, area_type, code_field, name_field, source, source_date)
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
    from biodiv import geo_sources

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
                frame = frame[frame.geometry.intersects(outline)]
            stats = import_frame(
                con, frame, t, source=dl.url, source_date=dl.fetched_on, label=f"WFS layer {layer}",
                allow_empty=True,
            )
            stats["from_cache"] = dl.from_cache
            results.append(stats)
    record_run(con, "areas_fetch", started, {"types": wanted, "refresh": refresh}, results)
    return results
