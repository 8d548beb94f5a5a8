"""The per-area spatial index of :mod:`biodiv.attach.precision`, kept in the database.

Why: an area's grid cells (with their exact depths and nearest border points) and its
eroded cores cost several times an attach of a million points to build, and they depend
only on the area's geometry, which changes only when a layer is re-imported. They are
built on the first attach that needs them (``areas import`` and ``areas fetch`` attach at once, so in
practice at import time) and read back afterwards. Each row carries a fingerprint (md5 of
the geometry's WKB, the metric projection and the index format), so an area re-imported
under the same id with a new shape, or a change of projection or index parameters,
rebuilds it.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import duckdb
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from biodiv.attach import precision

def _objects(values) -> np.ndarray:
    """A 1-d object array of ``values`` (bytes, geometries or None), never a 2-d one."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def fingerprint(wkb: bytes, metric_crs: str) -> str:
    return f"{hashlib.md5(wkb).hexdigest()};{metric_crs};{precision.INDEX_FORMAT}"


def fetch(con: duckdb.DuckDBPyConnection, area_ids: np.ndarray) -> dict[int, tuple]:
    """The cached index rows of ``area_ids``: area id -> (fingerprint, cells, depth, near,
    [(radius, core depth, core WKB)])."""
    rows: dict[int, tuple] = {}
    if not len(area_ids):
        return rows
    wanted = {"ids": [int(i) for i in area_ids]}
    cores: dict[int, list] = {}
    for area_id, radius, depth, wkb in con.execute(
        "SELECT area_id, radius, depth, geom FROM area_index_cores WHERE list_contains($ids, area_id)", wanted
    ).fetchall():
        cores.setdefault(area_id, []).append((radius, depth, wkb))
    for area_id, fp, cells, depth, near in con.execute(
        "SELECT area_id, fingerprint, cells, depth, near FROM area_index WHERE list_contains($ids, area_id)",
        wanted,
    ).fetchall():
        rows[area_id] = (fp, cells, depth, near, cores.get(area_id, []))
    return rows


def assemble(
    rows: dict[int, tuple], area_ids: np.ndarray, wkbs: list[bytes], geoms_metric: list[BaseGeometry],
    metric_crs: str,
) -> tuple[list[precision.AreaIndex | None], list[str]]:
    """Indexes rebuilt from the fetched rows whose fingerprint still matches (None where
    an index must be built), and the fingerprint of every area. Geometries are decoded
    and prepared in a few vectorised calls rather than one call per core."""
    prints = [fingerprint(w, metric_crs) for w in wkbs]
    indexes: list[precision.AreaIndex | None] = [None] * len(geoms_metric)
    fresh = [k for k, (area_id, fp) in enumerate(zip(area_ids.tolist(), prints))
             if area_id in rows and rows[area_id][0] == fp]
    if not fresh:
        return indexes, prints
    core_rows = [(k, radius, depth, wkb) for k in fresh for radius, depth, wkb in rows[int(area_ids[k])][4]]
    core_geoms = shapely.from_wkb(_objects([wkb for *_, wkb in core_rows]))   # None: a radius that left nothing
    shapely.prepare(core_geoms)
    cores: dict[int, dict] = {k: {} for k in fresh}
    for (k, radius, depth, _), geom in zip(core_rows, core_geoms):
        cores[k][radius] = None if geom is None else precision.Core(geom, depth)
    polygons = _objects([geoms_metric[k] for k in fresh])
    boundaries = shapely.boundary(polygons)
    shapely.prepare(polygons)
    shapely.prepare(boundaries)
    for k, geom, boundary in zip(fresh, polygons, boundaries):
        _, cells, depth, near, _ = rows[int(area_ids[k])]
        indexes[k] = precision.AreaIndex(
            k, geom, boundary, tuple(geom.bounds), np.frombuffer(cells, dtype="<i8"),
            np.frombuffer(depth, dtype="<f8"), np.frombuffer(near, dtype="<f8").reshape(-1, 2), cores[k],
        )
    return indexes, prints


def _build(index: int, geom: BaseGeometry) -> precision.AreaIndex:
    area = precision.AreaIndex.build(index, geom)
    for r in precision.CORE_RADII:
        area.core(r)
    return area


def complete(
    con: duckdb.DuckDBPyConnection, indexes: list[precision.AreaIndex | None], prints: list[str],
    area_ids: np.ndarray, geoms_metric: list[BaseGeometry],
) -> int:
    """Build the missing indexes (None in ``indexes``, filled in place) and write them
    back (``con`` must then be a writer). Returns how many were built."""
    todo = [k for k, area in enumerate(indexes) if area is None]
    if todo:
        # the biggest first, shared between one thread per core (shapely releases the GIL)
        todo.sort(key=lambda k: -shapely.get_num_coordinates(geoms_metric[k]))
        with ThreadPoolExecutor(max_workers=max(1, min(len(todo), os.cpu_count() or 1))) as pool:
            for area in pool.map(lambda k: _build(k, geoms_metric[k]), todo):
                indexes[area.index] = area
        _store(con, [int(area_ids[k]) for k in todo], [prints[k] for k in todo], [indexes[k] for k in todo])
    return len(todo)


def _store(con: duckdb.DuckDBPyConnection, ids: list[int], prints: list[str], areas: list[precision.AreaIndex]) -> None:
    """Replace the index rows of ``ids``. Columns go in as registered numpy arrays: binding
    megabytes of WKB as statement parameters was measured 25x slower."""
    index = {
        "area_id": np.array(ids, dtype=np.int32),
        "fingerprint": _objects(prints),
        "cells": _objects([a.cells.astype("<i8").tobytes() for a in areas]),
        "depth": _objects([a.depth.astype("<f8").tobytes() for a in areas]),
        "near": _objects([a.near.astype("<f8").tobytes() for a in areas]),
    }
    flat = [(area_id, r, c) for area_id, a in zip(ids, areas) for r, c in sorted(a.cores.items())]
    cores = {
        "area_id": np.array([f[0] for f in flat], dtype=np.int32),
        "radius": np.array([f[1] for f in flat], dtype=float),
        "depth": np.array([np.nan if f[2] is None else f[2].depth for f in flat], dtype=float),
        "geom": _objects([None if f[2] is None else shapely.to_wkb(f[2].geom) for f in flat]),
    }
    con.register("_area_index_new", index)
    con.register("_area_index_cores_new", cores)
    try:
        for table in ("area_index", "area_index_cores"):
            con.execute(f"DELETE FROM {table} WHERE area_id IN (SELECT area_id FROM _area_index_new)")
        con.execute("INSERT INTO area_index SELECT * FROM _area_index_new")
        con.execute("""INSERT INTO area_index_cores
                       SELECT area_id, radius, if(isnan(depth), NULL, depth), geom FROM _area_index_cores_new""")
    finally:
        con.unregister("_area_index_new")
        con.unregister("_area_index_cores_new")


def prune(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the index rows of areas that no longer exist."""
    for table in ("area_index", "area_index_cores"):
        con.execute(f"DELETE FROM {table} WHERE area_id NOT IN (SELECT id FROM areas)")
