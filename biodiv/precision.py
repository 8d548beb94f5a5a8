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

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

OBSCURED_CELL_DEG = 0.2

# Accuracy buckets (metres). A point whose accuracy is at most r and that lies inside the
# polygon eroded by r is certain: one cheap point-in-polygon test instead of an exact
# distance to the boundary, which only the points near a border still need.
_CORE_RADII = (10.0, 30.0, 100.0, 300.0, 1000.0)
# A negative buffer approximates the arcs around reflex vertices by chords, which come as
# close as r·cos(π/4q) to the vertex (q segments per quarter circle). With q = 1 (cheap
# buffers) that is 0.707·r: erode by 1.42·r so the shortcut stays exact.
_QUAD_SEGS = 1
_ERODE_MARGIN = 1.42
# Areas with many candidate points are first cut into a grid: points in cells that lie in
# the polygon eroded by _GRID_RADIUS are members (and certain up to that accuracy) without
# any test, points in cells outside the polygon are dropped; only cells on the border
# leave their points to the exact tests. About _POINTS_PER_CELL candidates per cell.
_GRID_MIN_POINTS = 4000
_POINTS_PER_CELL = 128
_GRID_RADIUS = 100.0

CERTAIN = "certain"
EDGE = "edge"


@dataclass
class PreparedArea:
    """One area ready for point tests: projected polygon, its boundary, eroded cores."""

    index: int
    geom: BaseGeometry
    boundary: BaseGeometry
    bounds: tuple[float, float, float, float]
    _cores: dict = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, index: int, geom: BaseGeometry) -> "PreparedArea":
        boundary = geom.boundary
        shapely.prepare(geom)
        shapely.prepare(boundary)
        return cls(index, geom, boundary, tuple(geom.bounds))

    def core(self, r: float) -> BaseGeometry | None:
        """The polygon eroded by (a little more than) ``r`` metres, built on first use."""
        if r not in self._cores:
            core = self.geom.buffer(-r * _ERODE_MARGIN, quad_segs=_QUAD_SEGS)
            if core.is_empty:
                core = None
            else:
                shapely.prepare(core)
            self._cores[r] = core
        return self._cores[r]

    def cell_classes(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per point: 0 = its grid cell is outside, 1 = deep inside, 2 = on the border."""
        xmin, ymin, xmax, ymax = self.bounds
        width, height = max(xmax - xmin, 1.0), max(ymax - ymin, 1.0)
        size = np.sqrt(width * height * _POINTS_PER_CELL / x.size)
        nx, ny = int(width // size) + 1, int(height // size) + 1
        gx = np.arange(nx) * size + xmin
        gy = np.arange(ny) * size + ymin
        cx, cy = np.meshgrid(gx, gy)
        boxes = shapely.box(cx.ravel(), cy.ravel(), cx.ravel() + size, cy.ravel() + size)
        classes = np.where(shapely.intersects(self.geom, boxes), 2, 0).astype(np.int8)
        core = self.core(_GRID_RADIUS)
        if core is not None:
            maybe = np.flatnonzero(classes == 2)
            classes[maybe[shapely.contains(core, boxes[maybe])]] = 1
        ix = np.minimum(((x - xmin) // size).astype(np.int64), nx - 1)
        iy = np.minimum(((y - ymin) // size).astype(np.int64), ny - 1)
        return classes[iy * nx + ix]


def classify(area: PreparedArea, x: np.ndarray, y: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points already known to be near ``area``: (member mask, certain mask).

    ``acc`` holds accuracies in metres, NaN when unknown. A point on the border is a member
    (so that it is never lost between two communes) but never certain.
    """
    member = np.zeros(x.size, dtype=bool)
    certain = np.zeros(x.size, dtype=bool)
    known = ~np.isnan(acc)
    if x.size >= _GRID_MIN_POINTS:
        cls = area.cell_classes(x, y)
        deep = cls == 1
        member[deep] = True
        certain[deep & known & (acc <= _GRID_RADIUS)] = True
        test = np.flatnonzero(cls == 2)
    else:
        deep = np.zeros(x.size, dtype=bool)
        test = np.arange(x.size)
    member[test] = shapely.intersects_xy(area.geom, x[test], y[test])
    idx = np.flatnonzero(member & known & ~certain)
    if idx.size == 0:
        return member, certain
    pacc = acc[idx]
    settled = np.zeros(idx.size, dtype=bool)
    low = -np.inf
    for r in _CORE_RADII:
        bucket = np.flatnonzero((pacc > low) & (pacc <= r))
        low = r
        if bucket.size == 0:
            continue
        core = area.core(r)
        if core is None:
            break
        settled[bucket[shapely.contains_xy(core, x[idx[bucket]], y[idx[bucket]])]] = True
    certain[idx[settled]] = True
    rest = idx[~settled]
    # a disk that leaves the bounding box leaves the polygon: edge, no distance needed
    xmin, ymin, xmax, ymax = area.bounds
    rx, ry = x[rest], y[rest]
    to_bbox = np.minimum(np.minimum(rx - xmin, xmax - rx), np.minimum(ry - ymin, ymax - ry))
    rest = rest[to_bbox > acc[rest]]
    if rest.size:
        near = shapely.dwithin(area.boundary, shapely.points(x[rest], y[rest]), acc[rest])
        certain[rest[~near]] = True
    return member, certain


def match_points(
    areas: list[tuple[int, BaseGeometry]], x: np.ndarray, y: np.ndarray, acc: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (point, area) pair where the point falls in the area.

    ``areas`` are (index, polygon) pairs in the points' metric CRS. Returns three aligned
    arrays: point positions, area indexes, and a boolean ``certain`` flag. Points are
    sorted by x once so each area only looks at the slice of points within its bounding
    box. Areas are shared between one thread per core: shapely's vectorised predicates
    release the GIL (measured 1.7x faster on 2 idle cores).
    """
    order = np.argsort(x)
    xs, ys, accs = x[order], y[order], acc[order]

    def one(item: tuple[int, BaseGeometry]):
        xmin, ymin, xmax, ymax = item[1].bounds
        lo = np.searchsorted(xs, xmin, side="left")
        hi = np.searchsorted(xs, xmax, side="right")
        ywin = ys[lo:hi]
        cand = np.flatnonzero((ywin >= ymin) & (ywin <= ymax)) + lo
        if cand.size == 0:
            return None
        area = PreparedArea.build(*item)
        member, certain = classify(area, xs[cand], ys[cand], accs[cand])
        hit = cand[member]
        return order[hit], np.full(hit.size, area.index, dtype=np.int64), certain[member]

    def chunk(items: list[tuple[int, BaseGeometry]]):
        return [p for p in map(one, items) if p is not None]

    workers = max(1, min(len(areas), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = [p for part in pool.map(chunk, [areas[k::workers] for k in range(workers)]) for p in part]
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), np.empty(0, dtype=bool)
    return tuple(np.concatenate(col) for col in zip(*parts))  # type: ignore[return-value]


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
