"""The metric projection follows the territory: Lambert-93 in metropolitan France, the
legal UTM projection of an overseas department (biodiv.attach.crs)."""

import numpy as np
import pytest
from pyproj import Geod

from biodiv.attach import crs
from biodiv.attach.links import attach
from biodiv.areas.territory import save_territory


@pytest.mark.parametrize(
    "codes, expected",
    [
        (["34114", "34120"], "EPSG:2154"),      # Hérault
        (["2A004", "2B033"], "EPSG:2154"),      # Corsica
        (["97411", "97415"], "EPSG:2975"),      # La Réunion: RGR92 / UTM 40S
        (["97101", "97209"], "EPSG:5490"),      # Guadeloupe and Martinique share RGAF09 / UTM 20N
        (["97302"], "EPSG:2972"),               # Guyane
        (["97611"], "EPSG:4471"),               # Mayotte
        (["97411", "34114"], "EPSG:2154"),      # mixed: no single overseas projection
        ([], "EPSG:2154"),
        (None, "EPSG:2154"),
    ],
)
def test_metric_crs_of_a_territory(codes, expected):
    assert crs.metric_crs(codes) == expected


# A 2 km square commune in Saint-Denis (La Réunion), lon/lat degrees.
LON0, LAT0 = 55.44, -20.90
GEOD = Geod(ellps="GRS80")


def _offset(lon, lat, east_m, north_m):
    lon1, lat1, _ = GEOD.fwd(lon, lat, 90, east_m)
    lon2, lat2, _ = GEOD.fwd(lon1, lat1, 0, north_m)
    return lon2, lat2


def test_overseas_certainty_and_km2_use_the_local_projection(store):
    x1, y1 = _offset(LON0, LAT0, 2000, 2000)
    square = f"POLYGON(({LON0} {LAT0}, {x1} {LAT0}, {x1} {y1}, {LON0} {y1}, {LON0} {LAT0}))"
    # 300 m (on the ground) west of the eastern border, half-way up
    lon, lat = _offset(LON0, LAT0, 1700, 1000)
    with store.write() as con:
        con.execute(
            "INSERT INTO areas (id, type, code, name, geom) VALUES (1, 'commune', '97411', 'Saint-Denis', ST_GeomFromText(?))",
            [square],
        )
        terr = save_territory(con, "Test Réunion", None, ["97411"])
        for oid, acc in [(1, 250.0), (2, 400.0)]:
            con.execute(
                "INSERT INTO observations (id, lon, lat, geom, positional_accuracy) VALUES (?, ?, ?, ST_Point(?, ?), ?)",
                [oid, lon, lat, lon, lat, acc],
            )
        attach(con)
        links = dict(con.execute("SELECT observation_id, relation FROM observation_areas").fetchall())
        km2 = con.execute("SELECT area_km2 FROM areas WHERE id = 1").fetchone()[0]
    # Lambert-93 stretches distances ~1.9x at 21° S: the 400 m disk would look inside
    assert links == {1: "certain", 2: "edge"}
    ring = np.array([[LON0, LAT0], [x1, LAT0], [x1, y1], [LON0, y1]])
    true_km2 = abs(GEOD.polygon_area_perimeter(ring[:, 0], ring[:, 1])[0]) / 1e6
    assert km2 == pytest.approx(true_km2, rel=0.005)
    assert terr["area_km2"] == pytest.approx(true_km2, rel=0.005)


def test_projection_in_slices_equals_one_call():
    """Large arrays are projected in slices on several threads: same numbers, same order."""
    from pyproj import Transformer

    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(-5, 9, 450_000), rng.uniform(41, 51, 450_000)
    given = lon.copy(), lat.copy()
    want_x, want_y = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True).transform(lon, lat)
    x, y = crs.project(lon, lat)
    assert np.array_equal(x, want_x) and np.array_equal(y, want_y)
    assert np.array_equal(lon, given[0]) and np.array_equal(lat, given[1])   # inputs left untouched


def test_projection_in_a_forked_child():
    """The slicing pool belongs to the process that made it: a forked child (a worker of
    multiprocessing, say) projects with its own threads instead of waiting forever."""
    import multiprocessing

    lon, lat = np.linspace(3.3, 3.9, 500_000), np.linspace(43.4, 43.9, 500_000)
    want = crs.project(lon, lat)            # the parent's pool now exists
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(crs.project, (lon, lat)).get(timeout=60)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
