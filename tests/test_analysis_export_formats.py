"""Each export format read back with the reader its users have (pyogrio/GDAL, geopandas,
DuckDB, python-dwca-reader), on the privacy, time-zone and country cases of
``helpers_analysis.EXPORT_EXTRA_SQL``; the same export made under two host time zones is
byte-identical."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
from dwca.read import DwCAReader

from biodiv.analysis.exports import ExportFilter, export, select_observations
from biodiv.analysis.exports import parquet as parquet_format
from biodiv.analysis.exports.select import country_code
from biodiv.analysis.queries import lock_down
from helpers_analysis import EXPORT_EXTRA_SQL, build_fixture

ALL = ExportFilter(include_outside=True, quality="any")   # every record: these tests are about the formats
DWC = "http://rs.tdwg.org/dwc/terms/"
DC = "http://purl.org/dc/terms/"


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("formats") / "biodiv.duckdb", extra_sql=EXPORT_EXTRA_SQL)


@pytest.fixture(scope="module")
def con(fx):
    c = lock_down(fx.reader())
    yield c
    c.close()


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "parquet", "csv"])
def test_include_outside_with_records_without_a_place(con, tmp_path, fmt):
    out = tmp_path / f"all.{fmt}"
    result = export(con, fmt, out, ALL)
    assert result.counts["observations"] == 15
    if fmt == "csv":
        back = pd.read_csv(out).set_index("id")
        assert pd.isna(back.loc[20, "latitude"]) and back.loc[20, "geoprivacy"] == "private"
        return
    layer = {"layer": "observations"} if fmt == "gpkg" else {}
    back = (gpd.read_parquet(out) if fmt == "parquet" else pyogrio.read_dataframe(out, **layer)).set_index("id")
    assert sorted(back.index) == [1, 2, 3, 4, 5, 6, 7, 9, 20, 21, 22, 23, 24, 25, 26]
    assert back.loc[20].geometry is None and back.loc[21].geometry is None
    assert (back.loc[24].geometry.x, back.loc[24].geometry.y) == (2.17, 41.38)


def _dwca(path: Path) -> dict[str, dict]:
    with DwCAReader(str(path)) as reader:
        rows = {}
        for row in reader:
            data = {k.rsplit("/", 1)[1]: v for k, v in row.data.items()}
            data["_media"] = [{k.rsplit("/", 1)[1]: v for k, v in e.data.items()} for e in row.extensions]
            rows[data["catalogNumber"]] = data
        return rows


def test_information_withheld_private_obscured_plain(con, tmp_path):
    out = tmp_path / "dwca.zip"
    export(con, "dwca", out, ALL)
    recs = _dwca(out)
    for rec, why in ((recs["6"], "at the request of the observer"), (recs["25"], "to protect threatened taxon")):
        metres = round(float(rec["coordinateUncertaintyInMeters"]))
        assert 27_000 < metres < 28_000
        assert rec["informationWithheld"] == f"Coordinate uncertainty increased to {metres}m {why}"
    assert recs["25"]["dataGeneralizations"].startswith("Coordinates randomised")
    assert recs["20"]["informationWithheld"] == "Coordinates hidden at the request of the observer"
    assert recs["26"]["informationWithheld"] == "Coordinates hidden to protect threatened taxon"
    for plain in ("1", "21", "22"):                   # 21: no location but nothing withheld
        assert recs[plain]["informationWithheld"] == "" and recs[plain]["dataGeneralizations"] == ""
    assert recs["20"]["decimalLatitude"] == "" and recs["20"]["geodeticDatum"] == ""


def test_event_date_keeps_the_local_offset_midnight_cases(con, tmp_path):
    out = tmp_path / "dwca.zip"
    export(con, "dwca", out, ALL)
    recs = _dwca(out)
    assert (recs["22"]["eventDate"], recs["22"]["day"]) == ("2018-09-05T00:30:00+02:00", "5")      # summer, Paris
    assert (recs["25"]["eventDate"], recs["25"]["year"]) == ("2025-01-01T00:15:00+01:00", "2025")  # winter, Paris
    assert (recs["23"]["eventDate"], recs["23"]["day"]) == ("2024-01-11T00:30:00+04:00", "11")     # La Réunion
    assert recs["24"]["eventDate"] == "2024-05-01T12:00:00+02:00"  # abroad, the record's own zone
    assert recs["21"]["eventDate"] == "2024-03-02T08:00:00Z"       # zone unknown: UTC
    assert recs["1"]["eventDate"] == "2023-04-10"                  # no time: the date
    assert recs["22"]["modified"] == "2018-09-06T10:00:00Z"


_HOST_SCRIPT = r"""
import sys, zipfile, hashlib
sys.path.insert(0, sys.argv[3])
from biodiv.store.database import Store
from biodiv.analysis.queries import lock_down
from biodiv.analysis.exports import export, ExportFilter
con = lock_down(Store(sys.argv[1]).reader())
out = sys.argv[2]
export(con, "csv", out + ".csv", ExportFilter(include_outside=True, quality="any"))
export(con, "dwca", out + ".zip", ExportFilter(include_outside=True, quality="any"))
export(con, "geojson", out + ".geojson", ExportFilter(include_outside=True, quality="any"))
print("sha256", hashlib.sha256(open(out + ".csv", "rb").read()).hexdigest())
print("sha256", hashlib.sha256(zipfile.ZipFile(out + ".zip").read("occurrence.txt")).hexdigest())
print("sha256", hashlib.sha256(open(out + ".geojson", "rb").read()).hexdigest())
"""


def test_same_bytes_on_hosts_in_two_time_zones(fx, tmp_path):
    digests = []
    for zone in ("America/Los_Angeles", "Asia/Tokyo"):
        env = dict(os.environ, TZ=zone)
        (tmp_path / zone.replace("/", "_")).mkdir()
        proc = subprocess.run(
            [sys.executable, "-c", _HOST_SCRIPT, str(fx.path), str(tmp_path / zone.replace("/", "_") / "ccvh"),
             str(Path(__file__).parent)],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        digests.append([line.split()[1] for line in proc.stdout.splitlines() if line.startswith("sha256 ")])
    assert len(digests[0]) == 3 and digests[0] == digests[1]
    csv = pd.read_csv(tmp_path / "Asia_Tokyo" / "ccvh.csv", dtype=str).set_index("id")
    assert csv.loc["22", "time_observed_at"] == "2018-09-05T00:30:00+02:00"
    assert csv.loc["22", "observed_on"] == "2018-09-05" and csv.loc["22", "updated_at"] == "2018-09-06T10:00:00Z"


def test_geojson_is_rfc7946(con, tmp_path):
    out = tmp_path / "gignac.geojson"
    export(con, "geojson", out, ALL)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["name"] == "gignac" and "crs" not in doc
    feats = {f["properties"]["id"]: f for f in doc["features"]}
    assert feats[22]["geometry"]["coordinates"] == [3.4212346, 43.5712346]      # 7 decimals
    assert feats[20]["geometry"] is None
    assert feats[22]["properties"]["time_observed_at"] == "2018-09-05T00:30:00+02:00"
    assert not list(tmp_path.glob(".*"))                                            # no temporary left


def test_geopackage_types(con, tmp_path):
    out = tmp_path / "obs.gpkg"
    export(con, "gpkg", out, ALL)
    with sqlite3.connect(out) as db:
        types = {r[1]: r[2] for r in db.execute("PRAGMA table_info(observations)")}
        t, d = db.execute("SELECT time_observed_at, observed_on FROM observations WHERE id = 22").fetchone()
    assert types["observed_on"] == "DATE" and types["time_observed_at"] == "DATETIME"
    assert types["id"] == "INTEGER" and types["latitude"] == "REAL" and types["coordinates_obscured"] == "BOOLEAN"
    # UTC with Z and milliseconds, as GeoPackage 1.2 (the version written) says
    assert (t, d) == ("2018-09-04T22:30:00.000Z", "2018-09-05")
    back = pyogrio.read_dataframe(out, layer="observations").set_index("id")
    assert back.loc[22, "time_zone"] == "Europe/Paris"
    assert back.loc[23, "time_zone"] == "Indian/Reunion"


def test_geoparquet_bbox_hilbert_row_groups_stable_schema(con, tmp_path):
    obs = select_observations(con, ALL)
    out = tmp_path / "obs.parquet"
    parquet_format.write(obs, out, row_group_size=4)
    meta = pq.ParquetFile(out)
    assert meta.metadata.num_row_groups == 4
    geo = json.loads(meta.schema_arrow.metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    assert geo["columns"]["geometry"]["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    # one schema whatever the rows: an extract where every red list is empty has the same types
    birds = tmp_path / "one.parquet"
    export(con, "parquet", birds, ExportFilter(area="34001", since=__import__("datetime").date(2024, 1, 1)))
    a, b = pq.read_schema(out), pq.read_schema(birds)
    assert [(f.name, f.type) for f in a] == [(f.name, f.type) for f in b]
    assert not [f.name for f in b if str(f.type) == "null"]
    assert str(b.field("redlist_codes").type) in ("string", "large_string")
    # DuckDB reads it and can prune with the bbox column
    db = duckdb.connect()
    n = db.execute(f"SELECT count(*) FROM read_parquet('{out}') WHERE bbox.xmin > 50").fetchone()[0]
    assert n == 1                                                      # Saint-Denis


def test_hilbert_order_groups_neighbours(con, tmp_path):
    obs = select_observations(con, ALL)
    out = tmp_path / "obs.parquet"
    parquet_format.write(obs, out)
    ids = pq.read_table(out, columns=["id"])["id"].to_pylist()
    located = [i for i in ids if i not in (20, 21, 26)]
    assert ids[-3:] == [20, 21, 26]                                    # no place: last, by id
    pos = {i: located.index(i) for i in located}
    # Spain and La Réunion are at the two ends of the curve's span, the territory in between
    territory = [pos[i] for i in (1, 2, 3, 4, 5, 6, 7, 9, 22, 25)]
    assert max(territory) - min(territory) == len(territory) - 1


def test_country_code_from_the_commune_or_none(con, tmp_path):
    out = tmp_path / "dwca.zip"
    export(con, "dwca", out, ALL)
    recs = _dwca(out)
    assert recs["22"]["countryCode"] == "FR" and recs["23"]["countryCode"] == "RE"
    assert recs["24"]["countryCode"] == ""                             # abroad: GBIF infers it
    assert [country_code(c) for c in ("34114", "2A004", "97105", "97209", "97302", "97411", "97502", "97611", None, "x")] \
        == ["FR", "FR", "GP", "MQ", "GF", "RE", "PM", "YT", None, None]


def test_spreadsheet_csv(con, tmp_path):
    out = tmp_path / "tableur.csv"
    export(con, "csv", out, ExportFilter(area="34001"), csv_dialect="spreadsheet")
    raw = out.read_bytes()
    assert raw.startswith("\ufeff".encode("utf-8"))
    header = raw.decode("utf-8-sig").splitlines()[0]
    assert header.startswith("id;uuid;observed_on;time_observed_at;time_zone;")
    back = pd.read_csv(out, sep=";", decimal=",", encoding="utf-8-sig").set_index("id")
    assert back.loc[22, "latitude"] == pytest.approx(43.5712345678)
    assert back.loc[1, "common_name"] == "Crapaud calamite"
    assert "43,55" in raw.decode("utf-8-sig")
    assert "public_positional_accuracy" in back.columns and "positional_accuracy" not in back.columns


def test_multimedia_extension_read_back(con, tmp_path):
    out = tmp_path / "dwca.zip"
    export(con, "dwca", out, ALL)
    recs = _dwca(out)
    media = recs["25"]["_media"]
    assert media == [{
        "type": "StillImage", "format": "image/jpeg",
        "identifier": "https://inaturalist-open-data.s3.amazonaws.com/photos/72181173/original.jpeg",
        "references": "https://www.inaturalist.org/photos/72181173", "creator": "alice",
        "publisher": "iNaturalist", "license": "http://creativecommons.org/licenses/by-nc/4.0/",
        "rightsHolder": "Alice Martin",       # the name, not the attribution sentence
    }]
    assert recs["1"]["_media"] == []
    assert recs["25"]["degreeOfEstablishment"] == "managed"
    assert json.loads(recs["25"]["dynamicProperties"]) == {"inaturalistLogin": "alice", "captive": "captive"}
    assert recs["22"]["verbatimLocality"] == "Alpha, Hérault, France"
    # migration 006 fields: the observer's name, the identifier, the photo's attribution
    assert (recs["22"]["recordedBy"], recs["22"]["rightsHolder"]) == ("Alice Martin", "Alice Martin")
    assert json.loads(recs["22"]["dynamicProperties"])["inaturalistLogin"] == "alice"
    assert (recs["22"]["identifiedBy"], recs["22"]["dateIdentified"]) == ("Bob Durand", "2018-09-05T08:00:00Z")
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["eml.xml", "meta.xml", "multimedia.txt", "occurrence.txt"]


def test_public_mode_drops_names_logins_and_identifiers(con, tmp_path):
    out = tmp_path / "public.zip"
    export(con, "dwca", out, ALL, public_mode=True, sensitivity_default=0)
    recs = _dwca(out)
    for rec in recs.values():
        assert rec["recordedBy"] == rec["recordedByID"] == rec["identifiedBy"] == rec["rightsHolder"] == ""
        assert "inaturalistLogin" not in rec["dynamicProperties"]
        assert all(m["creator"] == "" and m["rightsHolder"] == "" for m in rec["_media"])
    assert recs["22"]["dateIdentified"] == "2018-09-05T08:00:00Z"
    csv_out = tmp_path / "public.csv"
    export(con, "csv", csv_out, ALL, public_mode=True, sensitivity_default=0)
    columns = set(pd.read_csv(csv_out).columns)
    assert not columns & {"user_id", "user_login", "user_name"}


def test_gbif_profile_counts_what_it_leaves_out(con, tmp_path):
    import xml.etree.ElementTree as ET

    from biodiv.analysis.exports import ExportError, gbif_profile

    out = tmp_path / "gbif.zip"
    result = export(con, "dwca", out, ExportFilter(), profile="gbif",
                    dataset={"organization": "CC Test", "contact_name": "Service environnement",
                             "contact_email": "env@example.org"})
    recs = _dwca(out)
    assert sorted(recs, key=int) == ["1", "2", "4", "6", "22", "26"]           # research grade, open licence
    # the default quality (verifiable) already leaves the casual 5 and 25 out
    assert result.notes == ["left out 2 record(s) not research grade"]          # 3, 9 (needs_id)
    with zipfile.ZipFile(out) as zf:
        eml = ET.fromstring(zf.read("eml.xml"))
    rights = eml.find("dataset/intellectualRights/para/ulink")
    assert rights.get("url") == "http://creativecommons.org/licenses/by-nc/4.0/"   # most restrictive of cc0, cc-by, cc-by-nc
    assert eml.find("dataset/contact/electronicMailAddress").text == "env@example.org"
    assert eml.find("dataset/contact/organizationName").text == "CC Test"
    assert eml.find("dataset/methods/methodStep/description/para").text.startswith("Opportunistic")
    assert eml.find("dataset/coverage/geographicCoverage/boundingCoordinates/westBoundingCoordinate").text == "3.41234"  # floored: 3.41234567 inside
    # a research-grade record under a licence GBIF refuses is left out and counted apart
    obs = select_observations(con, ExportFilter(area="34001"))
    obs.loc[obs["id"] == 1, "license_code"] = "cc-by-sa"
    kept, notes = gbif_profile(obs)
    assert 1 not in set(kept["id"]) and "1 research-grade record(s) without a licence GBIF accepts" in notes[-1]
    with pytest.raises(ExportError, match="applies to --format dwca only"):
        export(con, "csv", tmp_path / "a.csv", profile="gbif")
    with pytest.raises(ExportError, match="no observation fits GBIF"):
        export(con, "dwca", tmp_path / "b.zip", ExportFilter(quality="casual"), profile="gbif")
