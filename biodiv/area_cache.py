"""The per-area spatial index of :mod:`biodiv.precision`, kept in the database.

Why: an area's grid cells (with their exact depths and nearest border points) and its
eroded cores cost several times an attach of a million points to build, and they depend
only on the area's geometry, which changes only when a layer is re-imported. They are built on the first
attach that needs them (``areas import`` and ``areas fetch`` attach at once, so in
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

from biodiv import precision

def fingerprint(wkb: bytes, metric_crs: str) -> str:
    return f"{hashlib.md5(wkb).hexdigest()};{metric_crs};{precision.INDEX_FORMAT}"


def _from_row(index: int, geom: BaseGeometry, cells: bytes, depth: bytes, near: bytes,
              cores: list[dict]) -> precision.AreaIndex:
    built = {}
    for core in cores:
        if core["geom"] is None:
            built[core["radius"]] = None
        else:
            g = shapely.from_wkb(core["geom"])
            shapely.prepare(g)
            built[core["radius"]] = precision.Core(g, core["depth"])
    return precision.AreaIndex.build(
        index, geom, cells=np.frombuffer(cells, dtype="<i8"), depth=np.frombuffer(depth, dtype="<f8"),
        near=np.frombuffer(near, dtype="<f8").reshape(-1, 2), cores=built,
    )


def _build(index: int, geom: BaseGeometry) -> precision.AreaIndex:
    area = precision.AreaIndex.build(index, geom)
    for r in precision.CORE_RADII:
        area.core(r)
    return area


def load_indexes(
    con: duckdb.DuckDBPyConnection, area_ids: np.ndarray, wkbs: list[bytes], geoms_metric: list[BaseGeometry],
    metric_crs: str,
) -> tuple[list[precision.AreaIndex], int]:
    """Index of each area (position = area index), from the cache when its fingerprint
    matches, built otherwise and written back (``con`` must then be a writer). ``wkbs``
    are the stored WGS84 geometries, ``geoms_metric`` the same projected in ``metric_crs``.
    Returns the indexes and how many were built."""
    prints = [fingerprint(w, metric_crs) for w in wkbs]
    rows = {}
    if len(area_ids):
        for area_id, fp, cells, depth, near, cores in con.execute(
            """SELECT area_id, fingerprint, cells, depth, near, cores FROM area_index
               WHERE list_contains($ids, area_id)""",
            {"ids": [int(i) for i in area_ids]},
        ).fetchall():
            rows[area_id] = (fp, cells, depth, near, cores)
    indexes: list[precision.AreaIndex | None] = [None] * len(geoms_metric)
    todo = []
    for k, (area_id, fp, geom) in enumerate(zip(area_ids.tolist(), prints, geoms_metric)):
        row = rows.get(area_id)
        if row is not None and row[0] == fp:
            indexes[k] = _from_row(k, geom, *row[1:])
        else:
            todo.append(k)
    if todo:
        # the biggest first, shared between one thread per core (shapely releases the GIL)
        todo.sort(key=lambda k: -shapely.get_num_coordinates(geoms_metric[k]))
        with ThreadPoolExecutor(max_workers=max(1, min(len(todo), os.cpu_count() or 1))) as pool:
            for area in pool.map(lambda k: _build(k, geoms_metric[k]), todo):
                indexes[area.index] = area
        _store(con, [int(area_ids[k]) for k in todo], [prints[k] for k in todo], [indexes[k] for k in todo])
    return indexes, len(todo)  # type: ignore[return-value]


def _store(con: duckdb.DuckDBPyConnection, ids: list[int], prints: list[str], areas: list[precision.AreaIndex]) -> None:
    """Replace the index rows of ``ids`` (a few hundred rows: plain parameters will do)."""
    rows = [
        (
            area_id, fp, a.cells.astype("<i8").tobytes(), a.depth.astype("<f8").tobytes(),
            a.near.astype("<f8").tobytes(),
            [{"radius": r, "depth": None if c is None else c.depth, "geom": None if c is None else shapely.to_wkb(c.geom)}
             for r, c in sorted(a.cores.items())],
        )
        for area_id, fp, a in zip(ids, prints, areas)
    ]
    con.execute("DELETE FROM area_index WHERE list_contains($ids, area_id)", {"ids": ids})
    con.executemany("INSERT INTO area_index VALUES (?, ?, ?, ?, ?, ?)", rows)


def prune(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the index rows of areas that no longer exist."""
    con.execute("DELETE FROM area_index WHERE area_id NOT IN (SELECT id FROM areas)")
