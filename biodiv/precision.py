"""Pure rules that decide which area an observation falls in, and how sure that is.

No I/O here: the functions take coordinate arrays and shapely geometries and return index
arrays, so they are fast on a million points and easy to test on hand-made shapes.

The rules (issue "Foundation", §5):

* ``certain``: the point is strictly inside the area and its accuracy disk (radius =
  positional accuracy, metres) lies inside too;
* ``edge``: the point is inside (or on the border) but the disk crosses the border, or the
  accuracy is unknown;
* obscured observations: iNaturalist publishes a random point within the 0.2° × 0.2° cell
  that holds the true location. Such an observation is linked only to the areas that hold
  its *whole* cell (as ``certain``), otherwise to none.

Distances are measured in Lambert-93 (EPSG:2154), so ``x``/``y`` arrays and polygons given
to :func:`match_points` must be in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

OBSCURED_CELL_DEG = 0.2

# Points whose accuracy is at most this (metres) are first tested against the polygon
# eroded by it: most of them are far from any border, and that test is much cheaper than
# an exact distance to the boundary. The rest get the exact distance.
_FAST_RADIUS = 100.0
# A negative buffer approximates arcs by chords (sagitta r·(1−cos(π/4q)) ≈ 0.5 % of r with
# q = 8 segments per quarter circle): erode a little more so the shortcut stays exact.
_ERODE_MARGIN = 1.01

CERTAIN = "certain"
EDGE = "edge"


@dataclass
class PreparedArea:
    """One area ready for point tests: projected polygon, its boundary, an eroded core."""

    index: int
    geom: BaseGeometry
    boundary: BaseGeometry
    core: BaseGeometry | None
    bounds: tuple[float, float, float, float]

    @classmethod
    def build(cls, index: int, geom: BaseGeometry) -> "PreparedArea":
        boundary = geom.boundary
        core = geom.buffer(-_FAST_RADIUS * _ERODE_MARGIN)
        core = None if core.is_empty else core
        for g in (geom, boundary, core):
            if g is not None:
                shapely.prepare(g)
        return cls(index, geom, boundary, core, tuple(geom.bounds))


def classify(area: PreparedArea, x: np.ndarray, y: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points already known to be near ``area``: (member mask, certain mask).

    ``acc`` holds accuracies in metres, NaN when unknown. A point on the border is a member
    (so that it is never lost between two communes) but never certain.
    """
    member = shapely.intersects_xy(area.geom, x, y)
    certain = np.zeros_like(member)
    if not member.any():
        return member, certain
    idx = np.flatnonzero(member & ~np.isnan(acc))
    if idx.size == 0:
        return member, certain
    px, py, pacc = x[idx], y[idx], acc[idx]
    done = np.zeros(idx.size, dtype=bool)
    if area.core is not None:
        fast = pacc <= _FAST_RADIUS
        if fast.any():
            in_core = np.zeros(idx.size, dtype=bool)
            in_core[fast] = shapely.contains_xy(area.core, px[fast], py[fast])
            certain[idx[in_core]] = True
            done = in_core
    rest = np.flatnonzero(~done)
    if rest.size:
        pts = shapely.points(px[rest], py[rest])
        near = shapely.dwithin(area.boundary, pts, pacc[rest])
        certain[idx[rest[~near]]] = True
    return member, certain


def match_points(
    areas: list[PreparedArea], x: np.ndarray, y: np.ndarray, acc: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (point, area) pair where the point falls in the area.

    Returns three aligned arrays: point positions, ``PreparedArea.index`` values, and a
    boolean ``certain`` flag. Points are sorted by x once so each area only looks at the
    slice of points within its bounding box.
    """
    order = np.argsort(x, kind="stable")
    xs, ys, accs = x[order], y[order], acc[order]
    out_pt, out_area, out_certain = [], [], []
    for area in areas:
        xmin, ymin, xmax, ymax = area.bounds
        lo = np.searchsorted(xs, xmin, side="left")
        hi = np.searchsorted(xs, xmax, side="right")
        if hi <= lo:
            continue
        ywin = ys[lo:hi]
        cand = np.flatnonzero((ywin >= ymin) & (ywin <= ymax)) + lo
        if cand.size == 0:
            continue
        member, certain = classify(area, xs[cand], ys[cand], accs[cand])
        hit = cand[member]
        if hit.size:
            out_pt.append(order[hit])
            out_area.append(np.full(hit.size, area.index, dtype=np.int64))
            out_certain.append(certain[member])
    if not out_pt:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), np.empty(0, dtype=bool)
    return np.concatenate(out_pt), np.concatenate(out_area), np.concatenate(out_certain)


def obscured_cells(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Lower-left corners (lon, lat) of the 0.2° cells holding each published point.

    iNaturalist picks the published point at random inside the cell of the true location,
    so the published point's cell *is* that cell.
    """
    lon0 = np.floor(np.round(lon / OBSCURED_CELL_DEG, 9)) * OBSCURED_CELL_DEG
    lat0 = np.floor(np.round(lat / OBSCURED_CELL_DEG, 9)) * OBSCURED_CELL_DEG
    return np.column_stack([np.round(lon0, 6), np.round(lat0, 6)])


def match_cells(
    areas_wgs84: list[tuple[int, BaseGeometry]], lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(point positions, area indexes) for obscured points whose whole cell lies in an area.

    Geometries are WGS84 (the cell is defined in degrees). Each distinct cell is tested
    once, whatever the number of points in it.
    """
    if lon.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy()
    corners = obscured_cells(lon, lat)
    uniq, inverse = np.unique(corners, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    far = np.round(uniq + OBSCURED_CELL_DEG, 6)
    boxes = shapely.box(uniq[:, 0], uniq[:, 1], far[:, 0], far[:, 1])
    out_pt, out_area = [], []
    for index, geom in areas_wgs84:
        shapely.prepare(geom)
        inside_cells = np.flatnonzero(shapely.contains(geom, boxes))
        if inside_cells.size == 0:
            continue
        pts = np.flatnonzero(np.isin(inverse, inside_cells))
        out_pt.append(pts)
        out_area.append(np.full(pts.size, index, dtype=np.int64))
    if not out_pt:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy()
    return np.concatenate(out_pt), np.concatenate(out_area)
