"""The precision rules of biodiv.attach.precision on hand-made geometry (metres)."""

import numpy as np
import pytest
import shapely
from shapely.geometry import box

from biodiv.attach import precision


def _classify(points, accs, geom=box(0, 0, 1000, 1000)):
    area = precision.AreaIndex.build(0, geom)
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    return precision.classify(area, x, y, np.array(accs, dtype=float))


@pytest.mark.parametrize(
    "point, acc, member, certain",
    [
        ((500, 500), 10, True, True),            # well inside, small disk
        ((500, 500), np.nan, True, False),       # accuracy unknown -> edge
        ((995, 500), 10, True, False),           # disk crosses the border
        ((1000, 500), 0, True, False),           # exactly on the border: member, never certain
        ((1500, 500), 10, False, False),         # outside
        ((500, 500), 600, True, False),          # disk larger than the square (exact path)
        ((300, 500), 250, True, True),           # large disk that still fits (exact path)
        ((100.5, 500), 100, True, True),         # just fits, beside the eroded core
        ((99.5, 500), 100, True, False),         # just crosses
        ((150, 500), 60, True, True),            # fast path through the eroded core
        ((50, 500), 60, True, False),
    ],
)
def test_point_rules(point, acc, member, certain):
    m, c = _classify([point], [acc])
    assert bool(m[0]) is member
    assert bool(c[0]) is certain


def test_concave_corner_is_exact():
    """Near a reflex vertex the eroded core is approximated: the result must stay exact."""
    l_shape = shapely.Polygon([(0, 0), (2000, 0), (2000, 1000), (1000, 1000), (1000, 2000), (0, 2000)])
    # the reflex corner is (1000, 1000); a point at distance 99.9 diagonally from it
    d = 99.9 / np.sqrt(2)
    m, c = _classify([(1000 - d, 1000 - d), (1000 - 75, 1000 - 75)], [100, 100], l_shape)
    assert m.tolist() == [True, True]
    assert c.tolist() == [False, True]   # 99.9 m < 100 m; 106 m > 100 m


def test_match_points_on_shared_border_links_both_areas():
    left, right = box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)
    areas = precision.index_areas([left, right])
    x = np.array([1000.0, 500.0, 1500.0, 5000.0])
    y = np.array([500.0, 500.0, 500.0, 500.0])
    acc = np.array([5.0, 5.0, np.nan, 5.0])
    pt, area, certain = precision.match_points(areas, x, y, acc)
    got = sorted(zip(pt.tolist(), area.tolist(), certain.tolist()))
    assert got == [(0, 0, False), (0, 1, False), (1, 0, True), (2, 1, False)]


def test_obscured_cells_are_aligned_on_the_grid():
    cells = precision.obscured_cells(np.array([3.4, 3.45, 3.5999, -0.05]), np.array([43.6, 43.61, 43.7, 43.0]))
    assert cells.tolist() == [[3.4, 43.6], [3.4, 43.6], [3.4, 43.6], [-0.2, 43.0]]


def test_obscured_point_needs_its_whole_cell():
    big = box(3.0, 43.2, 3.8, 43.8)       # holds cell 3.4–3.6 x 43.4–43.6 and touches 3.6–3.8
    small = box(3.45, 43.45, 3.55, 43.55)  # inside a cell: never holds a whole one
    lon = np.array([3.45, 3.5, 3.75, 3.9])
    lat = np.array([43.45, 43.5, 43.75, 43.5])
    pt, area = precision.match_cells([(0, big), (1, small)], lon, lat)
    assert sorted(zip(pt.tolist(), area.tolist())) == [(0, 0), (1, 0), (2, 0)]


@pytest.mark.parametrize("n", [500, 20_000])  # below and above the grid threshold
def test_fast_paths_agree_with_brute_force(n):
    """Eroded cores and the grid precut are shortcuts: they must give the exact answer."""
    rng = np.random.default_rng(n)
    # an irregular, concave polygon with a hole (metres)
    angles = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    radius = 3000 + 1500 * np.sin(5 * angles) + rng.uniform(-300, 300, angles.size)
    shell = np.column_stack([radius * np.cos(angles), radius * np.sin(angles)])
    poly = shapely.Polygon(shell, holes=[[(-400, -400), (400, -400), (400, 400), (-400, 400)]])
    x = rng.uniform(-5000, 5000, n)
    y = rng.uniform(-5000, 5000, n)
    acc = np.exp(rng.uniform(np.log(1), np.log(3000), n))
    acc[rng.random(n) < 0.1] = np.nan
    pt, _, certain = precision.match_points(precision.index_areas([poly]), x, y, acc)
    got_member = np.zeros(n, dtype=bool)
    got_member[pt] = True
    got_certain = np.zeros(n, dtype=bool)
    got_certain[pt[certain]] = True

    pts = shapely.points(x, y)
    want_member = shapely.intersects(poly, pts)
    dist = shapely.distance(poly.boundary, pts)
    want_certain = want_member & ~np.isnan(acc) & (dist > acc)
    assert want_member.sum() > n // 10
    assert (got_member == want_member).all()
    assert (got_certain == want_certain).all()


@pytest.mark.parametrize("notch_deg", [20, 47, 60, 90, 120, 150])
def test_points_beyond_a_reflex_vertex_are_exact(notch_deg):
    """GEOS draws the eroded arc around a reflex vertex with chords that may cut deep into
    it (a 47° notch lets a chord come within 0.40·e of the vertex with one segment per
    quadrant): the certified depth of each core keeps the answer exact at every angle."""
    half = np.radians(notch_deg / 2)
    apex_y, top = 2000.0, 4000.0
    dx = np.tan(half) * (top - apex_y)
    poly = shapely.Polygon([(0, 0), (4000, 0), (4000, top), (2000 + dx, top), (2000, apex_y),
                            (2000 - dx, top), (0, top)])
    d = np.geomspace(5, 950, 400)                # distance below the apex (nearest border point)
    side = np.tile([0.99, 1.01], d.size)           # accuracy just under / just over it
    dist = np.repeat(d, 2)
    x = np.full(dist.size, 2000.0)
    y = apex_y - dist
    acc = dist * side
    rng = np.random.default_rng(notch_deg)
    bx, by = rng.uniform(0, 4000, 6000), rng.uniform(0, 4000, 6000)   # enough for the grid path
    x, y = np.concatenate([x, bx]), np.concatenate([y, by])
    acc = np.concatenate([acc, np.exp(rng.uniform(np.log(3), np.log(1500), 6000))])
    pt, _, certain = precision.match_points(precision.index_areas([poly]), x, y, acc)
    got = np.zeros(x.size, dtype=bool)
    got[pt[certain]] = True
    pts = shapely.points(x, y)
    want = shapely.intersects(poly, pts) & (shapely.distance(poly.boundary, pts) > acc)
    assert want[: dist.size].sum() == d.size        # one of each pair is certain
    assert (got == want).all()


def test_radix_argsort_is_a_stable_argsort():
    rng = np.random.default_rng(7)
    for high in (300, 70_000, 1 << 40):          # one, two and three 16-bit passes
        keys = rng.integers(0, high, 50_000)
        keys[:1000] = keys[0]                     # ties must keep their input order
        assert (precision.radix_argsort(keys) == np.argsort(keys, kind="stable")).all()
    assert precision.radix_argsort(np.empty(0, dtype=np.int64)).size == 0


def test_points_spread_wide_or_unprojectable():
    """Points over an extent of more than 65,536 grid cells, and points PROJ returned as
    inf (outside its domain) or NaN: the former match exactly, the latter match nothing."""
    square = box(-1000, -1000, 1000, 1000)
    far = box(70_000, 70_000, 72_000, 72_000)          # 300 cells away on each axis
    x = np.array([0.0, np.inf, 71_000.0, np.nan, -999.0, -80_000.0])
    y = np.array([0.0, 0.0, 71_000.0, 5.0, 0.0, -80_000.0])
    acc = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 10.0])
    pt, area, certain = precision.match_points(precision.index_areas([square, far]), x, y, acc)
    got = sorted(zip(pt.tolist(), area.tolist(), certain.tolist()))
    assert got == [(0, 0, True), (2, 1, True), (4, 0, False)]
