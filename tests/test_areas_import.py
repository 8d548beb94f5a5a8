"""``areas.import_file`` and ``biodiv areas import`` against a real DuckDB store: formats,
reprojection, repair, territory flags, and every bad input leaving the store untouched."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from biodiv.areas import reference as areas
from biodiv.areas import territory
from biodiv.areas.reference import AreaImportError
from biodiv.store.database import Store, transaction
from conftest import shared_data_dir
from helpers_areas import run_cli, snapshot, snapshot_con

HERE = Path(__file__).resolve().parent
L93_POINT = (740384.2916, 6278010.6675)  # = lon 3.5, lat 43.6


def ccvh_codes(shared_data: Path) -> list[str]:
    with open(shared_data / "admin/ccvh_communes.csv", newline="") as fh:
        return [row["insee_code"] for row in csv.DictReader(fh)]


def set_territory(store, name, siren, codes):
    with store.write() as con:
        with transaction(con):
            out = territory.save_territory(con, name, siren, codes)
        areas.reattach(con, ["commune"])
    return out


@pytest.fixture(scope="module")
def ccvh_template(tmp_path_factory) -> Path:
    """A published database with the CCVH territory and the 343 Hérault communes, built once."""
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    template = Store(tmp_path_factory.mktemp("ccvh") / "ccvh.duckdb")
    with template.write(create=True) as con:
        with transaction(con):
            territory.save_territory(con, "CCVH", "243400694", ccvh_codes(shared))
        areas.import_file(con, shared / "admin/communes-34-herault.geojson", "commune")
    return template.path


@pytest.fixture
def ccvh_store(config, ccvh_template):
    """A copy of the CCVH template at the test's own database path."""
    shutil.copyfile(ccvh_template, config.db)
    return config.store()


def squares_frame(crs="EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["Z1", "Z2"], "nom": ["Zone un", "Zone deux"]},
        geometry=[shapely.box(3.50, 43.60, 3.52, 43.62), shapely.box(3.60, 43.60, 3.62, 43.62)],
        crs=crs,
    )


def lambert93_square() -> gpd.GeoDataFrame:
    x, y = L93_POINT
    return gpd.GeoDataFrame(
        {"SITECODE": ["FR9199999"], "SITENAME": ["Carré Lambert"]},
        geometry=[shapely.box(x, y, x + 1000, y + 1000)],
        crs="EPSG:2154",
    )


def two_layers(path: Path) -> Path:
    """A GeoPackage with two polygon layers, as colleagues often send."""
    squares_frame().to_file(path, layer="sites", driver="GPKG")
    squares_frame().assign(code=["Y1", "Y2"]).to_file(path, layer="zones", driver="GPKG")
    return path


def area_rows(con, area_type):
    return con.execute(
        "SELECT code, name, area_km2, xmin, ymin, xmax, ymax, ST_GeometryType(geom)::VARCHAR, in_territory, id "
        "FROM areas WHERE type = ? ORDER BY code",
        [area_type],
    ).fetchall()


# ---------------------------------------------------------------------------
# Formats and reprojection
# ---------------------------------------------------------------------------

def test_lambert93_shapefile_is_reprojected_to_wgs84(store, tmp_path):
    shp = tmp_path / "sites_l93.shp"
    lambert93_square().to_file(shp)
    with store.write() as con:
        stats = areas.import_file(con, shp, "n2000_zsc")
        (code, name, km2, xmin, ymin, xmax, ymax, kind, _, _), = area_rows(con, "n2000_zsc")
        wkb = con.execute("SELECT ST_AsWKB(geom) FROM areas").fetchone()[0]
    assert stats["source_crs"] == "EPSG:2154" and stats["count"] == 1
    assert (code, name) == ("FR9199999", "Carré Lambert")
    corners = shapely.get_coordinates(shapely.from_wkb(bytes(wkb)))
    # the Lambert-93 corner (740384, 6278010) lands on lon 3.5, lat 43.6
    assert min(abs(x - 3.5) + abs(y - 43.6) for x, y in corners) < 1e-6
    assert (xmin, ymin) == pytest.approx((3.5, 43.6), abs=1e-4)
    assert xmax == pytest.approx(3.5124, abs=1e-3) and ymax == pytest.approx(43.609, abs=1e-3)
    assert km2 == pytest.approx(1.0, rel=1e-6)  # 1 km² square, area computed in Lambert-93


def test_zipped_shapefile_in_a_folder(store, tmp_path):
    lambert93_square().to_file(tmp_path / "sites.shp")
    archive = tmp_path / "inpn_sites.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in tmp_path.glob("sites.*"):
            zf.write(part, f"N2000/{part.name}")
    with store.write() as con:
        stats = areas.import_file(con, archive, "n2000_zsc")
        rows = area_rows(con, "n2000_zsc")
    assert stats["count"] == 1 and rows[0][0] == "FR9199999"
    assert rows[0][3] == pytest.approx(3.5, abs=1e-4)


def test_geopackage_with_multipolygon_stays_one_area(store, tmp_path):
    frame = squares_frame()
    frame.loc[0, "geometry"] = shapely.MultiPolygon(
        [shapely.box(3.50, 43.60, 3.52, 43.62), shapely.box(3.70, 43.70, 3.71, 43.71)]
    )
    gpkg = tmp_path / "zones.gpkg"
    frame.to_file(gpkg, layer="zones", driver="GPKG")
    with store.write() as con:
        stats = areas.import_file(con, gpkg, "custom", source_date=None)
        parts = con.execute(
            "SELECT code, ST_GeometryType(geom)::VARCHAR, ST_NumGeometries(geom) FROM areas ORDER BY code"
        ).fetchall()
    assert stats["count"] == 2  # never exploded into parts
    assert parts[0] == ("Z1", "MULTIPOLYGON", 2)
    assert parts[1][0] == "Z2" and parts[1][2] == 1


def test_geopackage_layer_is_chosen_with_layer(store, config, tmp_path, monkeypatch, capsys):
    cfg_file = config.save(tmp_path / "biodiv.toml")
    gpkg = two_layers(tmp_path / "two.gpkg")
    code, out, err = run_cli(["-c", str(cfg_file), "areas", "import", str(gpkg), "--type", "custom",
                              "--layer", "zones"], monkeypatch, capsys)
    assert code == 0, err
    with store.read() as con:
        assert [r[0] for r in area_rows(con, "custom")] == ["Y1", "Y2"]
    code, out, err = run_cli(["-c", str(cfg_file), "areas", "import", str(gpkg), "--type", "custom"],
                             monkeypatch, capsys)
    assert code == 1 and "choose one with --layer" in err


def test_self_intersecting_ring_is_repaired_not_refused(store, tmp_path):
    doc = {
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "properties": {"code": "B1", "nom": "Noeud papillon"},
            "geometry": {"type": "Polygon", "coordinates": [[[3.5, 43.6], [3.6, 43.7], [3.6, 43.6], [3.5, 43.7], [3.5, 43.6]]]},
        }],
    }
    path = tmp_path / "bowtie.geojson"
    path.write_text(json.dumps(doc))
    with store.write() as con:
        stats = areas.import_file(con, path, "custom")
        valid, kind = con.execute("SELECT ST_IsValid(geom), ST_GeometryType(geom)::VARCHAR FROM areas").fetchone()
    assert stats["repaired"] == 1 and stats["count"] == 1
    assert valid and kind == "MULTIPOLYGON"
    assert len(stats["notes"]) == 1 and "1 invalid polygon(s) repaired" in stats["notes"][0] and "B1" in stats["notes"][0]


def test_reimport_replaces_the_type_and_keeps_ids_of_surviving_codes(store, tmp_path):
    first = tmp_path / "a.geojson"
    squares_frame().to_file(first, driver="GeoJSON")
    second = tmp_path / "b.geojson"
    f2 = squares_frame()
    f2.loc[1, "code"] = "Z3"
    f2.to_file(second, driver="GeoJSON")
    lambert93_square().to_file(tmp_path / "other.gpkg", driver="GPKG")
    with store.write() as con:
        areas.import_file(con, tmp_path / "other.gpkg", "n2000_zps")
        areas.import_file(con, first, "custom")
        id_z1 = con.execute("SELECT id FROM areas WHERE code = 'Z1'").fetchone()[0]
        areas.import_file(con, second, "custom")
        codes = [r[0] for r in area_rows(con, "custom")]
        assert con.execute("SELECT id FROM areas WHERE code = 'Z1'").fetchone()[0] == id_z1
        assert [r[0] for r in area_rows(con, "n2000_zps")] == ["FR9199999"]  # other types untouched
    assert codes == ["Z1", "Z3"]


# ---------------------------------------------------------------------------
# The real CCVH
# ---------------------------------------------------------------------------

def test_ccvh_outline_from_real_communes(ccvh_store):
    with ccvh_store.read() as con:
        terr = territory.read_territory(con)
        counts = con.execute(
            "SELECT count(*), count(*) FILTER (in_territory) FROM areas WHERE type = 'commune'"
        ).fetchone()
        kind = con.execute("SELECT ST_GeometryType(geom)::VARCHAR FROM territory").fetchone()[0]
        boissiere = con.execute("SELECT name, in_territory FROM areas WHERE code = '34035'").fetchone()
    assert counts == (343, 28)  # the neighbours are kept, flagged outside
    assert terr["area_km2"] == pytest.approx(482, abs=1.5)
    assert (terr["xmin"], terr["ymin"], terr["xmax"], terr["ymax"]) == pytest.approx(
        (3.429, 43.504, 3.749, 43.794), abs=1e-3
    )
    assert kind == "POLYGON"
    # joined on the INSEE code: the 2018 geometry says "Boissière", the member list "La Boissière"
    assert boissiere == ("Boissière", True)
    assert areas.missing_types(ccvh_store.reader()) == ["n2000_zsc", "n2000_zps"]


def test_import_attaches_observations_and_reinit_recomputes_membership(ccvh_store):
    with ccvh_store.write() as con:
        con.execute(
            "INSERT INTO observations (id, lon, lat, geom, positional_accuracy, obscured) "
            "VALUES (1, 3.58, 43.65, ST_Point(3.58, 43.65), 10, false)"
        )
        areas.import_file(con, Path(os.environ["BIODIV_SHARED_DATA"]) / "admin/communes-34-herault.geojson", "commune")
        linked = con.execute(
            "SELECT a.code, o.in_territory FROM observation_areas l JOIN areas a ON a.id = l.area_id "
            "JOIN observations o ON o.id = l.observation_id"
        ).fetchall()
    assert len(linked) == 1 and linked[0][1] is True
    commune = linked[0][0]
    # a territory made of two other communes: the commune of the point leaves it
    out = set_territory(ccvh_store, "Ailleurs", None, ["34172", "34057"])
    with ccvh_store.read() as con:
        flags = dict(con.execute("SELECT code, in_territory FROM areas WHERE type = 'commune'").fetchall())
        obs_in = con.execute("SELECT in_territory FROM observations WHERE id = 1").fetchone()[0]
        terr = territory.read_territory(con)
    assert flags[commune] is False and flags["34172"] is True and sum(flags.values()) == 2
    assert obs_in is False
    assert terr["name"] == "Ailleurs" and terr["epci_siren"] is None and terr["area_km2"] < 200
    assert out["missing_codes"] == []


def test_missing_types_follow_fetch_runs_and_reinit(ccvh_store):
    t0 = datetime.now(timezone.utc)
    with ccvh_store.write() as con:
        assert areas.missing_types(con) == ["n2000_zsc", "n2000_zps"]
        # a fetch that found no ZSC site at all still counts: no refetch on every update
        areas.record_run(con, "areas_fetch", t0, {"types": ["n2000_zsc"]}, [])
        assert areas.missing_types(con) == ["n2000_zps"]
        areas.record_run(con, "init", t0, {}, {})  # a new territory: everything is due again
        assert areas.missing_types(con) == ["n2000_zsc", "n2000_zps"]
        con.execute("UPDATE areas SET in_territory = false WHERE type = 'commune'")
        assert areas.missing_types(con) == ["commune", "n2000_zsc", "n2000_zps"]


def test_territory_code_absent_from_boundaries_is_reported(ccvh_store):
    out = set_territory(ccvh_store, "Test", None, ["34114", "34999"])
    assert out["missing_codes"] == ["34999"]


# ---------------------------------------------------------------------------
# Bad input: a clear one-line error, and the store exactly as it was
# ---------------------------------------------------------------------------

def _bad_files(tmp: Path) -> dict[str, tuple[Path, dict, str]]:
    """name -> (file, import options, expected message fragment)."""
    out = {}
    (tmp / "empty.geojson").write_bytes(b"")
    out["empty file"] = (tmp / "empty.geojson", {}, "empty file")
    (tmp / "nofeatures.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    out["no features"] = (tmp / "nofeatures.geojson", {}, "holds no features")
    (tmp / "table.csv").write_text("code,nom\nA,a\n")
    out["no geometry column"] = (tmp / "table.csv", {}, "no geometry")
    (tmp / "nullgeom.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "A", "nom": "a"}, "geometry": None}]}))
    out["null geometries"] = (tmp / "nullgeom.geojson", {}, "no geometry")
    pts = gpd.GeoDataFrame({"code": ["A", "B"], "nom": ["a", "b"]},
                           geometry=[shapely.Point(3.5, 43.6), shapely.Point(3.6, 43.6)], crs="EPSG:4326")
    pts.to_file(tmp / "points.geojson", driver="GeoJSON")
    out["points only"] = (tmp / "points.geojson", {}, "only Point geometries")
    lines = pts.set_geometry([shapely.LineString([(3.5, 43.6), (3.6, 43.7)])] * 2)
    lines.to_file(tmp / "lines.gpkg", driver="GPKG")
    out["lines only"] = (tmp / "lines.gpkg", {}, "only LineString geometries")
    mixed = squares_frame()
    mixed.loc[1, "geometry"] = shapely.Point(3.6, 43.6)
    mixed.to_file(tmp / "mixed.geojson", driver="GeoJSON")
    out["a point among polygons"] = (tmp / "mixed.geojson", {}, "1 feature(s) are Point")
    noprj = lambert93_square()
    noprj.to_file(tmp / "noprj.shp")
    (tmp / "noprj.prj").unlink()
    out["unknown CRS"] = (tmp / "noprj.shp", {"area_type": "n2000_zsc"}, "unknown CRS")
    lambert93_square().set_crs("EPSG:4326", allow_override=True).to_file(tmp / "metres.geojson", driver="GeoJSON")
    out["wrong CRS"] = (tmp / "metres.geojson", {"area_type": "n2000_zsc"}, "wrong CRS")
    squares_frame().to_file(tmp / "ok.geojson", driver="GeoJSON")
    out["missing code field"] = (tmp / "ok.geojson", {"code_field": "INSEE"}, "no field 'INSEE'")
    squares_frame().rename(columns={"nom": "label"}).to_file(tmp / "noname.geojson", driver="GeoJSON")
    out["unguessable name field"] = (tmp / "noname.geojson", {}, "available fields: code, label")
    dup = squares_frame()
    dup.loc[1, "code"] = "Z1"
    dup.to_file(tmp / "dup.geojson", driver="GeoJSON")
    out["duplicate codes"] = (tmp / "dup.geojson", {}, "duplicate codes")
    (tmp / "corrupt.gpkg").write_bytes(b"SQLite format 3\x00" + os.urandom(2000))
    out["corrupted gpkg"] = (tmp / "corrupt.gpkg", {}, "corrupted or not a geographic file")
    good = (tmp / "ok.geojson").read_text()
    (tmp / "truncated.geojson").write_text(good[: len(good) // 2])
    out["truncated geojson"] = (tmp / "truncated.geojson", {}, "corrupted or not a geographic file")
    (tmp / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    out["broken zip"] = (tmp / "broken.zip", {}, "not a valid zip archive")
    out["unknown type"] = (tmp / "ok.geojson", {"area_type": "parc"}, "unknown area type 'parc'")
    two_layers(tmp / "two.gpkg")
    out["several layers, none chosen"] = (tmp / "two.gpkg", {}, "holds 2 layers (sites, zones): choose one with --layer")
    out["unknown layer"] = (tmp / "two.gpkg", {"layer": "parcs"}, "no layer 'parcs'; its layers: sites, zones")
    out["missing file"] = (tmp / "absent.gpkg", {}, "does not exist")
    return out


def test_every_bad_input_fails_cleanly_and_changes_nothing(ccvh_store, tmp_path):
    squares_frame().to_file(tmp_path / "start.geojson", driver="GeoJSON")
    with ccvh_store.write() as con:
        areas.import_file(con, tmp_path / "start.geojson", "custom")
    cases = _bad_files(tmp_path)
    with ccvh_store.write() as con:
        before = snapshot_con(con)
        for name, (path, opts, fragment) in cases.items():
            opts = dict(opts)
            area_type = opts.pop("area_type", "custom")
            with pytest.raises(AreaImportError) as err:
                areas.import_file(con, path, area_type, **opts)
            message = str(err.value)
            assert fragment in message, f"{name}: {message}"
            assert "\n" not in message, name
            assert snapshot_con(con) == before, name


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("biodiv")
    env = {k: v for k, v in os.environ.items() if k not in ("BIODIV_DB", "BIODIV_CONFIG")}
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_cli_import_bad_file_exits_1_with_one_line_and_identical_file(store, config, tmp_path, monkeypatch, capsys):
    cfg_file = config.save(tmp_path / "biodiv.toml")
    squares_frame().to_file(tmp_path / "start.geojson", driver="GeoJSON")
    code, out, err = run_cli(
        ["-c", str(cfg_file), "areas", "import", str(tmp_path / "start.geojson"), "--type", "custom",
         "--source-date", "2024-05-01"], monkeypatch, capsys,
    )
    assert code == 0, err
    assert "2 areas imported" in out
    before = snapshot(store)
    dup = squares_frame()
    dup.loc[1, "code"] = "Z1"
    dup.to_file(tmp_path / "dup.geojson", driver="GeoJSON")
    # the real executable, as a user runs it
    bad = _cli(["areas", "import", "dup.geojson", "--type", "custom"], tmp_path)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "duplicate codes" in lines[0] and "Traceback" not in bad.stderr
    assert snapshot(store) == before
    assert not store.wip_path.exists()  # a bad file never even opens the writer
    code, out, err = run_cli(["-c", str(cfg_file), "areas", "import", str(tmp_path / "start.geojson"),
                              "--type", "custom", "--source-date", "2024-13-01"], monkeypatch, capsys)
    assert code == 1 and "not a date" in err and snapshot(store) == before
    code, out, err = run_cli(["-c", str(cfg_file), "areas", "list"], monkeypatch, capsys)
    assert code == 0 and "custom" in out and "2024-05-01" in out


def test_killed_import_leaves_the_published_database_intact(ccvh_store, config, tmp_path, monkeypatch, capsys):
    """SIGKILL while `areas import` holds the writer: readers keep the old areas, and the
    next import runs normally from the leftover working copy."""
    import signal
    import time

    cfg_file = config.save(tmp_path / "biodiv.toml")
    layer = Path(os.environ["BIODIV_SHARED_DATA"]) / "admin/communes-34-herault.geojson"
    before = snapshot(ccvh_store)
    exe = Path(sys.executable).with_name("biodiv")
    proc = subprocess.Popen([str(exe), "-c", str(cfg_file), "areas", "import", str(layer), "--type", "custom"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not ccvh_store.wip_path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.skip("the import finished before it could be killed")
    assert snapshot(ccvh_store) == before
    code, out, err = run_cli(["-c", str(cfg_file), "areas", "import", str(layer), "--type", "custom"],
                             monkeypatch, capsys)
    assert code == 0, err
    with ccvh_store.read() as con:
        assert con.execute("SELECT count(*) FROM areas WHERE type = 'custom'").fetchone()[0] == 343
        assert con.execute("SELECT count(*) FROM areas WHERE type = 'commune'").fetchone()[0] == 343
