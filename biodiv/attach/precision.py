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

Distances are measured in the territory's metric projection (Lambert-93 in metropolitan France,
see :mod:`biodiv.attach.crs`), so ``x``/``y`` arrays and polygons given
to :func:`match_points` must be in metres.

How it stays fast on a million points: each area is indexed once (:class:`AreaIndex`,
cacheable in the database) on a fixed square grid. A cell is *deep* when the area holds it
whole, with a lower bound of its distance to the border (exact near the border); *border*
when the border crosses it. Points are bucketed by cell once; an area then only looks at the points of
its own cells: those of deep cells are members without a test (and certain when their
accuracy is below the cell's depth), only those of border cells pay a point-in-polygon
test; a point whose accuracy reaches the border point stored with its cell is an edge at
once, and only the points left close to the border pay an exact distance.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

OBSCURED_CELL_DEG = 0.2

# Side of the grid cells (metres of the metric projection, origin 0,0): fixed so that an
# area's cells can be computed once and cached. 250 m keeps border cells to a thin band
# around each border while a commune needs a few hundred cells.
CELL_SIZE = 250.0
# Accuracy buckets (metres). A point whose accuracy is at most r and that lies inside the
# polygon eroded by r is certain: one cheap point-in-polygon test instead of an exact
# distance to the boundary, which only the points near a border still need.
CORE_RADII = (10.0, 30.0, 100.0, 300.0, 1000.0)
# GEOS approximates the arcs of a negative buffer (around reflex vertices) by chords that
# may span up to 1.5 angle quanta, so a computed core can hold points closer to the border
# than the erosion: measured on the Hérault communes, as close as 0.40·e with 1 segment
# per quadrant, 0.83·e with 2, 0.96·e with 4, 0.989·e with 8. Nothing here trusts that
# bound: each core carries its *certified depth*, the exact distance between its boundary
# and the area's boundary, which is the least distance to the border of any point in it.
_QUAD_SEGS = 8
_ERODE_MARGIN = 1.03
# A point is bucketed by floor(x / CELL_SIZE): rounding may put a point a few ulps
# outside its cell's box, so depths are trusted only beyond this slack (metres).
_SLACK = 1e-3
# Cells whose centre lies farther than this from the border take the centre's distance
# less the half-diagonal as their depth (a lower bound) instead of an exact cell distance,
# which costs more and is only worth it where accuracies compare with it.
_EXACT_DEPTH_BELOW = 1500.0
_CELL_KEY = 1 << 32      # cell id = iy * _CELL_KEY + ix (ix shifted to be non-negative)
_IX_SHIFT = 1 << 31


def _cell_id(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """The int64 id of grid cell (ix, iy), which covers [ix·CELL_SIZE, (ix+1)·CELL_SIZE[ × …"""
    return iy.astype(np.int64) * _CELL_KEY + ix.astype(np.int64) + _IX_SHIFT


def _cell_centre(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (x, y) of the cells ``ids`` (the inverse of :func:`_cell_id`, plus half a cell)."""
    return ((ids % _CELL_KEY) - _IX_SHIFT + 0.5) * CELL_SIZE, ((ids // _CELL_KEY) + 0.5) * CELL_SIZE

# Everything an index depends on besides the geometry: a cached index built with other
# parameters is rebuilt (biodiv.attach.area_cache).
INDEX_FORMAT = (f"cell={CELL_SIZE:g};radii={','.join(f'{r:g}' for r in CORE_RADII)};"
                f"erode={_ERODE_MARGIN:g}x{_QUAD_SEGS};exact<{_EXACT_DEPTH_BELOW:g}")

CERTAIN = "certain"
EDGE = "edge"


@dataclass(frozen=True)
class Core:
    """An eroded copy of an area, and the least distance from any of its points to the
    area's border (``depth``): a point inside it with an accuracy below ``depth`` is
    certain, whatever the approximations of the buffer that built it."""

    geom: BaseGeometry
    depth: float


def erode(geom: BaseGeometry, boundary: BaseGeometry, r: float) -> Core | None:
    """``geom`` eroded by about ``r`` metres with its certified depth; None when nothing
    is left. The least distance to the border over a region inside the area is reached
    on the region's boundary, so the depth is one boundary-to-boundary distance."""
    eroded = geom.buffer(-r * _ERODE_MARGIN, quad_segs=_QUAD_SEGS)
    if eroded.is_empty:
        return None
    if not shapely.contains(geom, eroded):   # never expected; a core that leaks proves nothing
        return None
    depth = float(shapely.distance(eroded.boundary, boundary))
    shapely.prepare(eroded)
    return Core(eroded, depth)


@dataclass
class AreaIndex:
    """One area ready for point tests: projected polygon and boundary (prepared), its grid
    cells with their depth (NaN for border cells) and a border point near each, and eroded
    cores built on first use.

    ``cells``/``depth``/``near`` and the cores depend only on the geometry:
    :mod:`biodiv.attach.area_cache` stores them in the database so that an attach does not
    rebuild them."""

    index: int
    geom: BaseGeometry
    boundary: BaseGeometry
    bounds: tuple[float, float, float, float]
    cells: np.ndarray            # sorted int64 cell ids that the area touches
    depth: np.ndarray            # float64 per cell: depth (see grid_cells), NaN on the border
    near: np.ndarray             # (n, 2) float64 per cell: the border point nearest its centre
    cores: dict = field(default_factory=dict, repr=False)   # radius -> Core | None

    @classmethod
    def build(cls, index: int, geom: BaseGeometry, *, cells=None, depth=None, near=None, cores=None) -> "AreaIndex":
        boundary = geom.boundary
        shapely.prepare(geom)
        shapely.prepare(boundary)
        if cells is None:
            cells, depth, near = grid_cells(geom, boundary)
        return cls(index, geom, boundary, tuple(geom.bounds), cells, depth, near, dict(cores or {}))

    def core(self, r: float) -> Core | None:
        """The area eroded by (a little more than) ``r`` metres, built on first use."""
        if r not in self.cores:
            self.cores[r] = erode(self.geom, self.boundary, r)
        return self.cores[r]


def grid_cells(
    geom: BaseGeometry, boundary: BaseGeometry, size: float = CELL_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of the fixed grid that ``geom`` touches (sorted ids); per cell the *depth*, a
    lower bound of the distance from any point of the cell to the border when the area
    holds the cell whole (exact within _EXACT_DEPTH_BELOW of the border; NaN when the
    border crosses the cell), and the border point nearest the cell's centre. ``geom``
    and ``boundary`` should be prepared.

    That border point bounds any point's distance to the border from above: a point
    whose accuracy reaches it is an edge without an exact distance."""
    xmin, ymin, xmax, ymax = geom.bounds
    ix = np.arange(np.floor(xmin / size), np.floor(xmax / size) + 1)
    iy = np.arange(np.floor(ymin / size), np.floor(ymax / size) + 1)
    gx, gy = np.meshgrid(ix, iy)
    gx, gy = gx.ravel(), gy.ravel()
    boxes = shapely.box(gx * size, gy * size, (gx + 1) * size, (gy + 1) * size)
    touch = shapely.intersects(geom, boxes)
    gx, gy, boxes = gx[touch], gy[touch], boxes[touch]
    cx, cy = (gx + 0.5) * size, (gy + 0.5) * size
    near = shapely.get_coordinates(shapely.shortest_line(boundary, shapely.points(cx, cy))).reshape(-1, 2, 2)[:, 0, :]
    depth = np.full(boxes.size, np.nan)
    whole = np.flatnonzero(shapely.contains_properly(geom, boxes))
    # far inside, the centre's distance less the half-diagonal is depth enough (any point
    # of the cell is within it of the centre); near the border, the exact cell distance
    centre_depth = np.hypot(cx[whole] - near[whole, 0], cy[whole] - near[whole, 1])
    far = centre_depth >= _EXACT_DEPTH_BELOW
    depth[whole[far]] = centre_depth[far] - size / np.sqrt(2)
    depth[whole[~far]] = shapely.distance(boundary, boxes[whole[~far]])
    depth[depth <= _SLACK] = np.nan
    ids = _cell_id(gx, gy)
    order = np.argsort(ids)
    return ids[order], depth[order], np.ascontiguousarray(near[order])


def index_areas(geoms: list[BaseGeometry]) -> list[AreaIndex]:
    """Index projected polygons, in order (their position is the area index)."""
    return [AreaIndex.build(i, g) for i, g in enumerate(geoms)]


def radix_argsort(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative int64 ``keys``, least significant 16 bits first:
    numpy sorts ``uint16`` with a linear-time radix sort when asked for a stable sort."""
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    rest = keys >> 16
    while rest.size and rest.max() > 0:
        order = order[np.argsort((rest[order] & 0xFFFF).astype(np.uint16), kind="stable")]
        rest = rest >> 16
    return order


@dataclass
class _PointGrid:
    """Points bucketed by grid cell, their coordinates and accuracies copied in cell order
    (so that an area reads contiguous memory): the points of ``cells[k]`` are the slots
    ``first[k]:first[k] + count[k]``, and slot ``s`` is input point ``order[s]``."""

    order: np.ndarray
    x: np.ndarray
    y: np.ndarray
    acc: np.ndarray
    cells: np.ndarray
    first: np.ndarray
    count: np.ndarray

    @classmethod
    def build(cls, x: np.ndarray, y: np.ndarray, acc: np.ndarray) -> "_PointGrid":
        if x.size == 0:
            none = np.empty(0, dtype=np.int64)
            return cls(none, x, y, acc, none, none, none)
        # cells numbered densely over the points' extent, sorted by 16-bit radix passes:
        # ~3x faster than a comparison sort of the 64-bit cell ids on a million points
        ix = np.floor(x / CELL_SIZE).astype(np.int64)
        iy = np.floor(y / CELL_SIZE).astype(np.int64)
        x0, y0 = ix.min(), iy.min()
        nx = int(ix.max() - x0) + 1
        dense = (iy - y0) * nx + (ix - x0)
        order = radix_argsort(dense)
        dense = dense[order]
        first = np.flatnonzero(np.concatenate([[True], dense[1:] != dense[:-1]]))
        count = np.diff(np.append(first, dense.size))
        cells = _cell_id(dense[first] % nx + x0, dense[first] // nx + y0)
        return cls(order, x[order], y[order], acc[order], cells, first, count)

    def points_in(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(slots, position in ``cells``) of every point in ``cells``."""
        pos = np.searchsorted(self.cells, cells)
        pos[pos == self.cells.size] = 0
        hit = np.flatnonzero(self.cells[pos] == cells) if self.cells.size else np.empty(0, np.int64)
        start, n = self.first[pos[hit]], self.count[pos[hit]]
        total = int(n.sum())
        if total == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        offsets = np.cumsum(n) - n
        within = np.arange(total) - np.repeat(offsets, n)
        return np.repeat(start, n) + within, np.repeat(hit, n)


def classify(area: AreaIndex, x: np.ndarray, y: np.ndarray, acc: np.ndarray,
             depth: np.ndarray | None = None, near: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For points near ``area``: (member mask, certain mask).

    ``acc`` holds accuracies in metres, NaN when unknown. Optional per-point facts from
    the grid: ``depth``, a lower bound of the distance to the border for points of deep
    cells (NaN otherwise); ``near`` (n, 2), a point of the border, so that the distance to
    it bounds the distance to the border from above. Without them every point is tested.
    A point on the border is a member (so that it is never lost between two communes) but
    never certain.
    """
    every = np.arange(x.size)
    if depth is None:
        depth = np.full(x.size, np.nan)
    return _classify(area, x, y, acc, every, depth, near, every, None)


def _classify(area: AreaIndex, x: np.ndarray, y: np.ndarray, acc: np.ndarray, slots: np.ndarray,
              cell_depth: np.ndarray, cell_near: np.ndarray | None, cell_pos: np.ndarray,
              cell_ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`classify` of the points ``slots`` of ``x``/``y``/``acc``, whose cells are
    ``cell_pos`` in ``cell_depth``/``cell_near``/``cell_ids``. Coordinates and border
    points are only gathered for the few points that need them: most points lie in deep
    cells with an accuracy below the depth, and are settled from their accuracy alone.

    With the cells' ids (grid path), ``cell_near`` is the border point nearest each cell's
    centre, so the centre's distance to it *is* the centre's distance to the border, and
    that distance less the point's distance to the centre bounds the point's distance to
    the border from below: a point whose accuracy is under it is certain with no test."""
    a = acc[slots]
    depth = cell_depth[cell_pos]
    deep = ~np.isnan(depth)
    member = deep.copy()
    test = np.flatnonzero(~deep)
    at = slots[test]
    member[test] = shapely.intersects_xy(area.geom, x[at], y[at])
    certain = a < depth - _SLACK                     # NaN depth or accuracy compare False
    idx = np.flatnonzero(member & ~certain)
    idx = idx[~np.isnan(a[idx])]
    if cell_near is not None and idx.size:
        at, nb = slots[idx], cell_near[cell_pos[idx]]
        px, py, pa = x[at], y[at], a[idx]
        # the disk reaches a known border point: edge, no test needed
        undecided = pa < np.hypot(px - nb[:, 0], py - nb[:, 1]) + _SLACK
        if cell_ids is not None:
            cx, cy = _cell_centre(cell_ids[cell_pos[idx]])
            lower = np.hypot(cx - nb[:, 0], cy - nb[:, 1]) - np.hypot(px - cx, py - cy)
            sure = pa < lower - _SLACK
            certain[idx[sure]] = True
            undecided &= ~sure
        idx = idx[undecided]
    if idx.size:
        at = slots[idx]
        certain[idx] = _certain_by_cores(area, x[at], y[at], a[idx])
    return member, certain


def _certain_by_cores(area: AreaIndex, x: np.ndarray, y: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Certainty of member points with a known accuracy: dist(point, border) > accuracy.

    A point whose accuracy falls in bucket k, (r[k-1], r[k]], is certain when it lies in
    the core eroded by r[k] and its accuracy is below that core's certified depth. The
    others pay an exact distance to the border, unless their disk leaves the bounding box.
    """
    bucket = np.searchsorted(CORE_RADII, acc, side="left")   # len(CORE_RADII): beyond the last
    certain = np.zeros(acc.size, dtype=bool)
    for k, r in enumerate(CORE_RADII):
        sel = np.flatnonzero(bucket == k)
        if sel.size == 0:
            continue
        core = area.core(r)
        if core is None:
            break
        sel = sel[acc[sel] < core.depth]
        certain[sel[shapely.contains_xy(core.geom, x[sel], y[sel])]] = True
    rest = np.flatnonzero(~certain)
    # a disk that leaves the bounding box leaves the polygon: edge, no distance needed
    xmin, ymin, xmax, ymax = area.bounds
    rx, ry = x[rest], y[rest]
    to_bbox = np.minimum(np.minimum(rx - xmin, xmax - rx), np.minimum(ry - ymin, ymax - ry))
    rest = rest[to_bbox > acc[rest]]
    if rest.size:
        near = shapely.dwithin(area.boundary, shapely.points(x[rest], y[rest]), acc[rest])
        certain[rest[~near]] = True
    return certain


def match_points(
    areas: list[AreaIndex], x: np.ndarray, y: np.ndarray, acc: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (point, area) pair where the point falls in the area.

    ``areas`` are indexed polygons in the points' metric CRS. Returns three aligned arrays:
    point positions, area indexes, and a boolean ``certain`` flag. Points are bucketed by
    grid cell once; each area then reads the points of its own cells. Areas are shared by
    one thread per core, largest first: shapely's vectorised predicates and numpy release
    the GIL.
    """
    finite = np.isfinite(x) & np.isfinite(y)   # a point PROJ could not project matches nothing
    kept = None if finite.all() else np.flatnonzero(finite)
    if kept is not None:
        x, y, acc = x[kept], y[kept], acc[kept]
    grid = _PointGrid.build(x, y, acc)

    def one(area: AreaIndex):
        slots, cell_pos = grid.points_in(area.cells)
        if slots.size == 0:
            return None
        member, certain = _classify(area, grid.x, grid.y, grid.acc, slots, area.depth, area.near, cell_pos,
                                    area.cells)
        hit = grid.order[slots[member]]
        return hit, np.full(hit.size, area.index, dtype=np.int32), certain[member]

    by_size = sorted(areas, key=lambda a: -a.cells.size)
    workers = max(1, min(len(areas), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = [p for p in pool.map(one, by_size) if p is not None]
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0, dtype=bool)
    pt, area, certain = (np.concatenate(col) for col in zip(*parts))
    return (pt if kept is None else kept[pt]), area, certain


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
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32)
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
        out_area.append(np.full(pts.size, index, dtype=np.int32))
    if not out_pt:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32)
    return np.concatenate(out_pt), np.concatenate(out_area)
