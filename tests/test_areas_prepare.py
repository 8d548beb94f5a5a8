"""Pure parts of the territory/areas code: parsing, field guessing, CRS rules, repair."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from biodiv.areas import layers
from biodiv.areas import sources as geo_sources
from biodiv.areas import territory
from biodiv.areas.layers import AreaImportError
from biodiv.areas.territory import TerritoryError


def test_parse_insee_codes_validates_and_deduplicates():
    assert territory.parse_insee_codes(" 34114, 34120;34114 ,2a004") == ["34114", "34120", "2A004"]
    with pytest.raises(TerritoryError, match="not an INSEE"):
        territory.parse_insee_codes("34114,3412")
    with pytest.raises(TerritoryError, match="no INSEE"):
        territory.parse_insee_codes(" , ")


def test_check_siren():
    assert territory.check_siren(" 243400694 ") == "243400694"
    with pytest.raises(TerritoryError, match="9 digits"):
        territory.check_siren("24340069")


def test_epci_from_records_reads_decoupage_administratif_shape():
    records = [
        {"code": "200000001", "nom": "CC Un", "type": "CC", "membres": [{"code": "34001", "nom": "A"}]},
        {"code": "200000002", "nom": "CC Deux", "type": "CC", "membres": [{"code": "34002"}, {"code": "34003"}]},
    ]
    assert territory.epci_from_records(records, "200000002") == ("CC Deux", ["34002", "34003"])
    with pytest.raises(TerritoryError, match="no EPCI with SIREN 200000009"):
        territory.epci_from_records(records, "200000009")
    with pytest.raises(TerritoryError, match="expected a list"):
        territory.epci_from_records({"code": "x"}, "200000002")


def test_epci_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "epci.json"
    bad.write_text("{not json")
    with pytest.raises(TerritoryError, match="not readable JSON") as err:
        territory.epci_from_file(bad, "243400694")
    assert "\n" not in str(err.value)
    with pytest.raises(TerritoryError, match="does not exist"):
        territory.epci_from_file(tmp_path / "absent.json", "243400694")


def test_epci_from_real_file(shared_data):
    name, codes = territory.epci_from_file(
        shared_data / "admin/epci-34-herault_decoupage-administratif-6.0.0.json", "243400694"
    )
    expected = (shared_data / "admin/ccvh_communes.csv").read_text().splitlines()[1:]
    assert "Vallée de l'Hérault" in name
    assert sorted(codes) == sorted(line.split(",")[0] for line in expected)


def test_pick_field_guesses_then_lists_available_fields():
    cols = ["SITECODE", "SITENAME", "geometry"]
    assert layers.pick_field(cols, None, ("sitecode", "code"), "area code", "--code-field") == "SITECODE"
    assert layers.pick_field(cols, "SITENAME", (), "area name", "--name-field") == "SITENAME"
    with pytest.raises(AreaImportError, match="available fields: SITECODE, SITENAME"):
        layers.pick_field(cols, "CODE_X", (), "area code", "--code-field")
    with pytest.raises(AreaImportError, match="--name-field"):
        layers.pick_field(cols, None, ("nom",), "area name", "--name-field")


def test_no_crs_accepted_only_for_lonlat_coordinates():
    lonlat = gpd.GeoDataFrame(geometry=[shapely.box(3.5, 43.5, 3.6, 43.6)], crs=None)
    assert layers.to_wgs84(lonlat, "x").crs.to_epsg() == 4326
    metres = gpd.GeoDataFrame(geometry=[shapely.box(740000, 6278000, 741000, 6279000)], crs=None)
    with pytest.raises(AreaImportError, match="unknown CRS"):
        layers.to_wgs84(metres, "x")


def test_repair_keeps_polygonal_parts_of_a_bowtie():
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])
    assert not bowtie.is_valid
    fixed, repaired = layers.repair([bowtie, shapely.box(0, 0, 1, 1)])
    assert repaired == 1
    assert fixed[0].is_valid and fixed[0].geom_type == "MultiPolygon"
    assert fixed[0].area == pytest.approx(2.0)
    assert fixed[1].equals(shapely.box(0, 0, 1, 1))


def test_polygonal_part_drops_lines_and_points():
    mixed = shapely.GeometryCollection([shapely.box(0, 0, 1, 1), shapely.LineString([(0, 0), (5, 5)])])
    assert layers.polygonal_part(mixed).equals(shapely.box(0, 0, 1, 1))
    assert layers.polygonal_part(shapely.Point(0, 0)) is None


def test_swap_axes_only_when_the_swapped_data_meets_the_territory():
    bbox = (3.43, 43.50, 3.75, 43.79)
    latlon = gpd.GeoDataFrame(geometry=[shapely.box(43.6, 3.5, 43.7, 3.6)], crs="EPSG:4326")
    fixed = layers.swap_axes_if_needed(latlon, bbox)
    assert fixed.geometry.iloc[0].equals(shapely.box(3.5, 43.6, 3.6, 43.7))
    far = gpd.GeoDataFrame(geometry=[shapely.box(1, 45, 2, 46)], crs="EPSG:4326")
    assert layers.swap_axes_if_needed(far, bbox).geometry.iloc[0].equals(shapely.box(1, 45, 2, 46))


def test_wfs_bbox_is_in_latitude_longitude_axis_order():
    p = geo_sources.wfs_params("PROTECTEDAREAS.SIC:sic", (3.43, 43.50, 3.75, 43.79), 50, 100)
    assert p["BBOX"] == "43.5,3.43,43.79,3.75,urn:ogc:def:crs:EPSG::4326"
    assert (p["COUNT"], p["STARTINDEX"], p["SRSNAME"]) == ("50", "100", "EPSG:4326")


def test_department_of():
    assert geo_sources.department_of("34114") == "34"
    assert geo_sources.department_of("2A004") == "2A"
    assert geo_sources.department_of("97411") == "974"


def test_prepare_refuses_duplicates_and_missing_codes():
    frame = gpd.GeoDataFrame(
        {"code": ["A", "A", "B"], "nom": ["a", "a2", "b"]},
        geometry=[shapely.box(0, 40, 1, 41)] * 3,
        crs="EPSG:4326",
    )
    with pytest.raises(AreaImportError, match=r"duplicate codes in field 'code' \(A\)"):
        layers.prepare_areas(frame, "custom")
    frame.loc[0, "code"] = None
    with pytest.raises(AreaImportError, match="have no 'code' code"):
        layers.prepare_areas(frame, "custom")


def test_prepare_computes_lambert93_area_and_bbox():
    # 0.1° x 0.1° around lon 3.5, lat 43.6: about 8.05 km x 11.1 km
    frame = gpd.GeoDataFrame(
        {"code": ["X"], "nom": ["x"]}, geometry=[shapely.box(3.45, 43.55, 3.55, 43.65)], crs="EPSG:4326"
    )
    prepared = layers.prepare_areas(frame, "custom")
    row = prepared.frame.iloc[0]
    assert row["area_km2"] == pytest.approx(89.5, rel=0.01)
    assert (row["xmin"], row["ymin"], row["xmax"], row["ymax"]) == pytest.approx((3.45, 43.55, 3.55, 43.65))


def test_wrong_crs_is_refused():
    # a GeoJSON always says WGS84: Lambert-93 metres inside it cannot be longitudes
    metres = gpd.GeoDataFrame(geometry=[shapely.box(740000, 6278000, 741000, 6279000)], crs="EPSG:4326")
    with pytest.raises(AreaImportError, match="wrong CRS"):
        layers.to_wgs84(metres, "x")
    # a .prj saying Lambert-93 over lon/lat numbers: lands far from France, outside its area of use
    degrees = gpd.GeoDataFrame(geometry=[shapely.box(3.5, 43.6, 3.6, 43.7)], crs="EPSG:2154")
    with pytest.raises(AreaImportError, match="outside the area where EPSG:2154 is used"):
        layers.to_wgs84(degrees, "x")
    ok = gpd.GeoDataFrame(geometry=[shapely.box(740000, 6278000, 741000, 6279000)], crs="EPSG:2154")
    assert layers.to_wgs84(ok, "x").crs.to_epsg() == 4326
