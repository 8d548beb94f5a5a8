"""Spatial attach: link observations to every area they fall in (``observation_areas``).

Why not a SQL join: DuckDB's ``JOIN … ON ST_Contains`` on raw commune polygons costs about
38 s per million points (technical notes). Points and polygons are read once from DuckDB,
projected to the territory's metric CRS (:mod:`biodiv.attach.crs`), tested in numpy/shapely by
:mod:`biodiv.attach.precision` against each area's grid index (built once, cached by
:mod:`biodiv.attach.area_cache`), and the links are written back in one transaction from numpy
columns, in passes of :data:`CHUNK` observations so that memory does not grow with N.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import duckdb
import numpy as np
import shapely

from biodiv.attach import area_cache
from biodiv.attach import crs
from biodiv.attach.crs import territory_crs
from biodiv.attach import precision
from biodiv.pandas_guard import without_pandas
from biodiv.store.database import cursor, transaction


@dataclass
class AttachStats:
    observations: int = 0        # observations examined
    links: int = 0               # links written
    certain: int = 0
    edge: int = 0
    obscured: int = 0            # obscured observations examined
    no_coordinates: int = 0
    outside: int = 0             # with coordinates but in no commune of the territory
    seconds: float = 0.0         # end to end
    seconds_read: float = 0.0
    seconds_compute: float = 0.0
    seconds_write: float = 0.0
    areas_indexed: int = 0       # area indexes (re)built because missing or stale
    seconds_index: float = 0.0   # part of seconds_compute spent building them


def _area_types(con: duckdb.DuckDBPyConnection, area_types: list[str] | None) -> list[str]:
    present = [r[0] for r in con.execute("SELECT DISTINCT type FROM areas ORDER BY 1").fetchall()]
    return present if area_types is None else [t for t in area_types if t in present]


def _load_areas(con, types: list[str]):
    if not types:
        return [], [], np.empty(0, dtype=np.int64), np.empty(0, dtype=bool), np.empty(0, dtype=bool)
    rows = con.execute(
        """SELECT id, type = 'commune' AS is_commune, coalesce(in_territory, false), ST_AsWKB(geom)
           FROM areas WHERE list_contains($types, type) ORDER BY id""",
        {"types": types},
    ).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    is_commune = np.array([r[1] for r in rows], dtype=bool)
    member = np.array([r[2] for r in rows], dtype=bool)
    wkbs = [bytes(r[3]) for r in rows]
    return list(shapely.from_wkb(wkbs)), wkbs, ids, is_commune, member


def _scope(all_observations: bool) -> str:
    """The SQL condition on ``observations`` of the rows an attach reads and then marks."""
    return "true" if all_observations else "needs_attach"


# Observations per pass. Each pass holds its points, candidate links and flags in numpy
# (~140 bytes per observation at the peak), so memory stays bounded whatever N; all passes
# write in the one transaction, so an attach is still all or nothing.
CHUNK = 100_000


def _pass_bounds(con: duckdb.DuckDBPyConnection, all_observations: bool) -> list[tuple[int, int]]:
    """The id range of each pass: :data:`CHUNK` observations to attach each, in id order
    (reading only the ids: 8 bytes an observation)."""
    ids = con.execute(f"SELECT id FROM observations WHERE {_scope(all_observations)} ORDER BY id").fetchnumpy()["id"]
    ids = np.asarray(ids, dtype=np.int64)
    return [(int(ids[k]), int(ids[min(k + CHUNK, ids.size) - 1])) for k in range(0, ids.size, CHUNK)]


def _read_observations(con: duckdb.DuckDBPyConnection, all_observations: bool,
                       bounds: tuple[int, int] | None):
    """(ids, lon, lat, accuracy, obscured) of the observations to attach with an id in
    ``bounds`` (None: none), as plain numpy arrays: NaN marks NULL (no coordinates, unknown
    accuracy) from here on, no masks. Pages are stored in id order, so the range reads few
    row groups."""
    lo, hi = bounds if bounds else (0, -1)
    obs = con.execute(
        f"""SELECT id, coalesce(lon, 'NaN'::DOUBLE) AS lon, coalesce(lat, 'NaN'::DOUBLE) AS lat,
                   coalesce(positional_accuracy, 'NaN'::DOUBLE) AS acc, coalesce(obscured, false) AS obscured
            FROM observations WHERE {_scope(all_observations)} AND id BETWEEN {lo} AND {hi}"""
    ).fetchnumpy()
    return (np.asarray(obs["id"], dtype=np.int64), np.asarray(obs["lon"], dtype=float),
            np.asarray(obs["lat"], dtype=float), np.asarray(obs["acc"], dtype=float),
            np.asarray(obs["obscured"], dtype=bool))


def _first_pass(con: duckdb.DuckDBPyConnection, all_observations: bool):
    bounds = _pass_bounds(con, all_observations)
    return bounds, _read_observations(con, all_observations, bounds[0] if bounds else None)


def _prepared_union(geoms: list):
    """The union of ``geoms``, prepared for point tests (None when there are none)."""
    if not geoms:
        return None
    union = shapely.union_all(geoms)
    shapely.prepare(union)
    return union


def _points_in(union, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Which points fall in the prepared ``union`` (all False when it is None)."""
    if union is None or lon.size == 0:
        return np.zeros(lon.size, dtype=bool)
    return shapely.intersects_xy(union, lon, lat)


def _in_prepared(union_future, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """:func:`_points_in` once the side thread has built the union."""
    return _points_in(union_future.result(), lon, lat)


def _in_union(geoms: list, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Which points fall in the union of ``geoms`` (all False when there are none)."""
    return _points_in(_prepared_union(geoms) if lon.size else None, lon, lat)


def attach(
    con: duckdb.DuckDBPyConnection,
    *,
    all_observations: bool = False,
    area_types: list[str] | None = None,
    log_run: bool = True,
) -> dict:
    """Compute the links of pending observations (``needs_attach``), or of all of them.

    ``area_types`` limits the work to some kinds of area (after a re-import of one layer);
    ``in_territory`` is recomputed whenever communes are part of the work. Everything is
    written in one transaction; links to areas that no longer exist are dropped. pandas is
    kept out (DuckDB would import it for nothing: ~0.4 s when ``biodiv attach`` runs alone).
    """
    with without_pandas():
        return _attach(con, all_observations, area_types, log_run)


@dataclass
class _Areas:
    """The areas of one attach, loaded and indexed once for all its passes."""

    types: list[str]
    geoms: list
    ids: np.ndarray
    is_commune: np.ndarray
    in_territory: np.ndarray
    metric: object
    indexes: list


def _attach(con: duckdb.DuckDBPyConnection, all_observations: bool, area_types: list[str] | None,
            log_run: bool) -> dict:
    started = time.perf_counter()
    stats = AttachStats()
    # The first pass's observations are read on a second connection to the same database,
    # on a thread, while this one reads and decodes the areas' indexes (DuckDB runs both at
    # once). No caller holds an open transaction here (the write below begins one), so both
    # see the same committed state.
    reader = cursor(con)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="attach-read") as pool:
            pending = pool.submit(_first_pass, reader, all_observations)
            types = _area_types(con, area_types)
            geoms, wkbs, area_ids, is_commune, area_in_territory = _load_areas(con, types)
            metric = territory_crs(con)
            cached = area_cache.fetch(con, area_ids)
            projected = list(crs.project_geometry(np.asarray(geoms, dtype=object), metric))
            indexes, prints = area_cache.assemble(cached, area_ids, wkbs, projected, metric)
            bounds, chunk = pending.result()
    finally:
        reader.close()
    areas = _Areas(types, geoms, area_ids, is_commune, area_in_territory, metric, indexes)
    stats.seconds_read = round(time.perf_counter() - started, 3)

    t_index = time.perf_counter()
    stats.areas_indexed = area_cache.complete(con, indexes, prints, area_ids, projected)
    if stats.areas_indexed:
        stats.seconds_index = round(time.perf_counter() - t_index, 3)
        stats.seconds_compute += stats.seconds_index
    membership = area_types is None or "commune" in area_types
    scope = _scope(all_observations)
    with transaction(con):
        con.execute("DELETE FROM observation_areas WHERE area_id NOT IN (SELECT id FROM areas)")
        area_cache.prune(con)
        if all_observations and types:   # every link of these types is recomputed below
            con.execute(
                "DELETE FROM observation_areas WHERE area_id IN (SELECT id FROM areas WHERE list_contains($types, type))",
                {"types": types},
            )
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="attach-obscured") as side:
            # the territory's union, for the obscured points' published position: built
            # once on the side thread, first in its queue, while the first pass matches
            member = [g for g, c, t in zip(geoms, is_commune, area_in_territory) if c and t]
            union = side.submit(_prepared_union, member)
            for k in range(max(len(bounds), 1)):
                if k:
                    t_read = time.perf_counter()
                    chunk = _read_observations(con, all_observations, bounds[k])
                    stats.seconds_read += time.perf_counter() - t_read
                _attach_pass(con, areas, chunk, scope, membership, all_observations, stats, side, union)
        stats.seconds_read = round(stats.seconds_read, 3)
        stats.seconds_compute = round(stats.seconds_compute, 3)
        stats.certain = stats.links - stats.edge
        if log_run:
            # in the same transaction (one commit, one log flush): the logged timings
            # therefore stop before the commit, the returned ones include it
            logged = {**asdict(stats), "seconds_write": round(stats.seconds_write, 3),
                      "seconds": round(time.perf_counter() - started, 3)}
            con.execute(
                """INSERT INTO runs (kind, finished_at, status, params, stats)
                   VALUES ('attach', now(), 'ok', $params, $stats)""",
                {
                    "params": json.dumps({"all": all_observations, "area_types": types}),
                    "stats": json.dumps(logged),
                },
            )
        t_commit = time.perf_counter()
    stats.seconds_write = round(stats.seconds_write + time.perf_counter() - t_commit, 3)
    stats.seconds = round(time.perf_counter() - started, 3)
    return asdict(stats)


def _attach_pass(con, areas: _Areas, chunk, scope: str, membership: bool, all_observations: bool,
                 stats: AttachStats, side: ThreadPoolExecutor, union) -> None:
    """Links and territory flags of one pass's observations, written in the caller's transaction."""
    t_compute = time.perf_counter()
    ids, lon, lat, acc, obscured = chunk
    has_xy = ~(np.isnan(lon) | np.isnan(lat))
    stats.observations += int(ids.size)
    stats.no_coordinates += int((~has_xy).sum())
    stats.obscured += int((obscured & has_xy).sum())
    is_commune, area_in_territory = areas.is_commune, areas.in_territory

    # obscured points (whole 0.2° cell inside, in WGS84) and the territory test of their
    # published point, on the side thread, beside the precise points' matching
    hidden = np.flatnonzero(has_xy & obscured)
    member_commune = is_commune & area_in_territory
    obscured_links = side.submit(precision.match_cells, list(enumerate(areas.geoms)), lon[hidden], lat[hidden])
    hidden_in_territory = side.submit(_in_prepared, union, lon[hidden], lat[hidden])

    # precise points, in the territory's metric projection (Lambert-93 in metropolitan France)
    precise = np.flatnonzero(has_xy & ~obscured)
    x, y = crs.project(lon[precise], lat[precise], areas.metric)
    p_pt, p_area, p_certain = precision.match_points(areas.indexes, x, y, acc[precise])
    c_pt, c_area = obscured_links.result()

    # positions are into ``precise`` and ``hidden``: each id array is gathered once
    link_ids = np.concatenate([ids[precise][p_pt], ids[hidden][c_pt]])
    link_area = np.concatenate([p_area, c_area])
    link_certain = np.concatenate([p_certain, np.ones(c_pt.size, dtype=bool)])
    stats.links += int(link_ids.size)
    stats.edge += int(link_ids.size - link_certain.sum())

    # -- territory membership: the published point in a member commune ----------
    # decided whenever communes are part of the work; with no member commune loaded it is
    # unknown (NULL), never left as it was for a territory that has since changed
    communes_done = bool(is_commune.any() and area_in_territory.any())
    if communes_done:
        in_terr = np.zeros(ids.size, dtype=bool)
        in_precise = np.zeros(precise.size, dtype=bool)
        in_precise[p_pt[member_commune[p_area]]] = True
        in_terr[precise] = in_precise
        # obscured points: territory level follows the published point, like iNaturalist places
        in_terr[hidden] = hidden_in_territory.result()
        stats.outside += int((has_xy & ~in_terr).sum())

    # numpy columns registered as-is: no pyarrow (nor pandas) in the process, and the
    # fastest path measured for 2M links (the relation is spelled out in SQL)
    links = {
        "observation_id": link_ids,
        "area_id": areas.ids.astype(np.int32)[link_area],
        "certain": link_certain,
    }
    inside = {"id": ids[in_terr] if communes_done else ids[:0]}
    t_write = time.perf_counter()
    stats.seconds_compute += t_write - t_compute
    if ids.size == 0:
        return
    # the rows of this pass: those of the scope in its id range (no other writer runs)
    rows = f"{scope} AND id BETWEEN {int(ids.min())} AND {int(ids.max())}"
    con.register("_attach_links", links)
    con.register("_attach_inside", inside)
    try:
        if areas.types and not all_observations:
            con.execute(
                f"""DELETE FROM observation_areas
                    WHERE area_id IN (SELECT id FROM areas WHERE list_contains($types, type))
                      AND observation_id IN (SELECT id FROM observations WHERE {rows})""",
                {"types": areas.types},
            )
        con.execute(
            f"""INSERT INTO observation_areas
                SELECT observation_id, area_id,
                       if(certain, '{precision.CERTAIN}'::link_relation, '{precision.EDGE}'::link_relation)
                FROM _attach_links"""
        )
        # one pass over the rows read sets their flags: a semi-join on the ids inside
        # the territory was measured ~20% faster than joining a table of every flag
        flag = """, in_territory = CASE WHEN coalesce(isnan(lon) OR isnan(lat), true) THEN NULL
                                      ELSE id IN (SELECT id FROM _attach_inside) END"""
        if membership and not communes_done:
            flag = ", in_territory = NULL"
        con.execute(f"""UPDATE observations SET needs_attach = false
                        {flag if membership else ""} WHERE {rows}""")
    finally:
        con.unregister("_attach_links")
        con.unregister("_attach_inside")
    stats.seconds_write += time.perf_counter() - t_write


def refresh_territory_flags(con: duckdb.DuckDBPyConnection) -> None:
    """Re-flag the attached observations in/out of the territory after it changed, inside
    the caller's transaction (the one that changed it).

    Why no attach: links go to every area, member or not, so a new territory only
    changes which communes count. A precise point is in the territory when one of its
    commune links is to a member commune; an obscured one when its published point lies in
    a member commune, tested by the same function as :func:`attach`, so both agree. With no
    member commune loaded, membership is unknown (NULL). Observations still waiting for
    attach (``needs_attach``) get theirs from it.
    """
    members = [bytes(r[0]) for r in con.execute(
        "SELECT ST_AsWKB(geom) FROM areas WHERE type = 'commune' AND in_territory ORDER BY id").fetchall()]
    if not members:
        con.execute("UPDATE observations SET in_territory = NULL WHERE NOT needs_attach AND in_territory IS NOT NULL")
        return
    hidden = con.execute(
        """SELECT id, lon, lat FROM observations
           WHERE NOT needs_attach AND coalesce(obscured, false) AND NOT coalesce(isnan(lon) OR isnan(lat), true)"""
    ).fetchnumpy()
    ids = np.asarray(hidden["id"], dtype=np.int64)
    inside = _in_union(list(shapely.from_wkb(members)), np.asarray(hidden["lon"], dtype=float),
                       np.asarray(hidden["lat"], dtype=float))
    con.register("_flags_hidden_inside", {"id": ids[inside]})
    try:
        con.execute(
            """UPDATE observations SET in_territory = CASE
                   WHEN coalesce(isnan(lon) OR isnan(lat), true) THEN NULL
                   WHEN coalesce(obscured, false) THEN id IN (SELECT id FROM _flags_hidden_inside)
                   ELSE id IN (SELECT oa.observation_id FROM observation_areas oa
                               JOIN areas a ON a.id = oa.area_id AND a.type = 'commune' AND a.in_territory)
               END
               WHERE NOT needs_attach"""
        )
    finally:
        con.unregister("_flags_hidden_inside")
