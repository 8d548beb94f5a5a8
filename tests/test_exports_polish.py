"""Exchange polish (issue 27), GeoPackage part: version 1.2, layers that open styled in QGIS
(the dashboard's colours), feature ids that are the iNaturalist ids from one export to the
next, TAXREF codes as integers, area layers always MULTIPOLYGON."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET

import pyogrio
import pytest

from biodiv.analysis.exports import ExportFilter, export, styles
from biodiv.analysis.queries import lock_down
from biodiv.dashboard import maps
from helpers_analysis import EXPORT_EXTRA_SQL, build_fixture


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    store = build_fixture(tmp_path_factory.mktemp("polish") / "biodiv.duckdb", extra_sql=EXPORT_EXTRA_SQL)
    c = lock_down(store.reader())
    yield c
    c.close()


def test_geopackage_is_1_2_styled_with_stable_ids(con, tmp_path):
    first, second = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    export(con, "gpkg", first, ExportFilter(quality="any"))
    export(con, "gpkg", second, ExportFilter(quality="research"))      # another extract of the same store
    db = sqlite3.connect(first)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 10200
    fids = dict(db.execute("SELECT fid, id FROM observations").fetchall())
    assert fids and all(fid == i for fid, i in fids.items())            # fid = the iNaturalist id
    kept = dict(sqlite3.connect(second).execute("SELECT fid, id FROM observations").fetchall())
    assert kept and all(fids[f] == kept[f] for f in kept)               # the same id, whatever the extract
    cols = {r[1]: r[2] for r in db.execute("PRAGMA table_info(observations)")}
    assert cols["cd_nom"] == "INTEGER" and cols["cd_ref"] == "INTEGER"
    assert {layer: kind for layer, kind in pyogrio.list_layers(first) if kind} == {
        "observations": "Point", "communes": "MultiPolygon", "natura2000": "MultiPolygon", "territory": "MultiPolygon"}
    rows = db.execute("SELECT f_table_name, useAsDefault, styleQML FROM layer_styles").fetchall()
    assert {r[0] for r in rows} == {"observations", "communes", "natura2000", "territory"} and all(r[1] for r in rows)
    for _, _, qml in rows:
        ET.fromstring(qml.split("'SYSTEM'>", 1)[1])                     # well-formed QML
    communes = next(q for n, _, q in rows if n == "communes")
    assert 'attr="n_observations"' in communes and "graduatedSymbol" in communes


def test_styles_use_the_dashboards_colours():
    assert styles.PALETTE == maps.PALETTE and styles.EMPTY == maps.EMPTY_COLOUR
    assert (styles.POINT, styles.ZSC, styles.ZPS) == (maps.POINT_COLOUR, maps.ZSC_COLOUR, maps.ZPS_COLOUR)
    assert styles.quantile_breaks([0, 1, 1, 2, 3, 10]) == [1.0, 2.0, 3.0, 10.0]
    assert styles.quantile_breaks([0, 0]) == []


def test_geojson_properties_carry_seven_decimals(con, tmp_path):
    import json

    out = tmp_path / "obs.geojson"
    export(con, "geojson", out, ExportFilter(quality="any"))
    feats = json.loads(out.read_text())["features"]
    for f in feats:
        for key in ("latitude", "longitude"):
            v = f["properties"][key]
            if v is not None:
                assert len(repr(v).split(".")[-1]) <= 7, v
                assert abs(v - f["geometry"]["coordinates"][key == "latitude"]) < 1e-7


def test_spreadsheet_csv_has_french_dates_and_oui_non(con, tmp_path):
    import csv as pycsv

    out = tmp_path / "tableur.csv"
    export(con, "csv", out, ExportFilter(area="34001"), csv_dialect="spreadsheet")
    rows = {r["id"]: r for r in pycsv.DictReader(out.read_text(encoding="utf-8-sig").splitlines(), delimiter=";")}
    r = rows["22"]
    assert r["observed_on"] == "05/09/2018"
    assert r["time_observed_at"] == "05/09/2018 00:30:00"            # local time of the observation, no offset
    assert r["coordinates_obscured"] in ("oui", "non") and r["in_territory"] == "oui"
    assert all(v not in ("true", "false", "True", "False") for row in rows.values() for v in row.values())
    assert all("T" not in (row["created_at"] or "") for row in rows.values())
