"""Which metric projection measures distances and areas for a territory, and projecting
into it.

Why not Lambert-93 everywhere: it is the legal projection of metropolitan France only.
An overseas territory projected in it is distorted beyond use (Réunion, at 21° S, lies
far outside the cone), so accuracy disks and km² would be wrong there. Each overseas
department has its own legal projection (IGN, décret 2000-1276), chosen from the
department part of the territory's INSEE codes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Iterable

import numpy as np
import shapely
from pyproj import Transformer

WGS84 = "EPSG:4326"
LAMBERT93 = "EPSG:2154"
OVERSEAS = {
    "971": "EPSG:5490",   # Guadeloupe: RGAF09 / UTM zone 20N
    "972": "EPSG:5490",   # Martinique: RGAF09 / UTM zone 20N
    "973": "EPSG:2972",   # Guyane: RGFG95 / UTM zone 22N
    "974": "EPSG:2975",   # La Réunion: RGR92 / UTM zone 40S
    "975": "EPSG:4467",   # Saint-Pierre-et-Miquelon: RGSPM06 / UTM zone 21N
    "976": "EPSG:4471",   # Mayotte: RGM04 / UTM zone 38S
    "977": "EPSG:5490",   # Saint-Barthélemy
    "978": "EPSG:5490",   # Saint-Martin
}


def metric_crs(insee_codes: Iterable[str] | None) -> str:
    """The projection for a territory: its overseas department's when every member
    commune is in the same one, Lambert-93 otherwise (metropolitan France, Corsica)."""
    departments = {code[:3] for code in (insee_codes or []) if code}
    found = {OVERSEAS.get(dep) for dep in departments}
    if len(found) == 1 and None not in found:
        return found.pop()
    return LAMBERT93


@lru_cache(maxsize=8)
def _transformer(crs: str) -> Transformer:
    return Transformer.from_crs(WGS84, crs, always_xy=True)


# Large arrays are projected in slices on a small pool kept for the process: PROJ runs
# without the GIL, and pyproj gives each thread its own PROJ object (built on the thread's
# first use, hence a pool that lives on rather than new threads per call).
_SLICE = 200_000
_pool: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="proj")
    return _pool


def _forget_pool() -> None:
    """A forked child has none of its parent's threads: it starts its own pool."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def project(lon: np.ndarray, lat: np.ndarray, crs: str = LAMBERT93) -> tuple[np.ndarray, np.ndarray]:
    """lon/lat (WGS84) arrays to x/y metres in ``crs``."""
    transformer = _transformer(crs)
    x = np.array(lon, dtype=np.float64)   # copies: transformed in place below
    y = np.array(lat, dtype=np.float64)
    parts = max(1, min(os.cpu_count() or 1, x.size // _SLICE))
    bounds = np.linspace(0, x.size, parts + 1).astype(int)

    def one(k: int) -> None:
        a, b = bounds[k], bounds[k + 1]
        transformer.transform(x[a:b], y[a:b], inplace=True)

    if parts == 1:
        one(0)
    else:
        list(_threads().map(one, range(parts)))
    return x, y


def project_geometry(geom, crs: str = LAMBERT93):
    """A shapely geometry (or array of them) from WGS84 to ``crs``."""
    return shapely.transform(geom, lambda c: np.column_stack(project(c[:, 0], c[:, 1], crs)))


def territory_crs(con) -> str:
    """The metric projection of the territory in store ``con`` (:func:`metric_crs`): Lambert-93
    unless its communes are all in one overseas department; Lambert-93 without a territory."""
    row = con.execute("SELECT insee_codes FROM territory WHERE id = 1").fetchone()
    return metric_crs(row[0] if row else None)
