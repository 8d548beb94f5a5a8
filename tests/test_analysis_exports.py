"""Exports round-trip: GeoPackage read back with pyogrio, GeoJSON, CSV, GeoParquet, and the
Darwin Core archive checked against its own meta.xml (tests/test_analysis_export_formats.py
has the per-format cases: time zones, privacy, countries, types). Filters and privacy rules hold in
every format; a failed export leaves no file behind."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
import zipfile

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from biodiv.analysis.exports import ExportError, ExportFilter, export, select_observations
from biodiv.analysis.queries import lock_down
from helpers_analysis import build_fixture, cli_invoke

TERRITORY_IDS = [1, 2, 3, 4, 5, 6, 9]          # 7 is outside, 8 is removed


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("exports") / "biodiv.duckdb")


@pytest.fixture(scope="module")
def con(fx):
    c = lock_down(fx.reader())
    yield c
    c.close()


def ids(con, **kw):
    """The selected ids; every quality grade unless the call names one."""
    return list(select_observations(con, ExportFilter(**{"quality": "any", **kw}))["id"])


def test_filters(con):
    import datetime as dt

    assert ids(con) == TERRITORY_IDS
    # the default is the dashboard's and the named queries': verifiable (5 is casual)
    assert list(select_observations(con, ExportFilter())["id"]) == [1, 2, 3, 4, 6, 9]
    assert ids(con, include_outside=True) == [1, 2, 3, 4, 5, 6, 7, 9]
    assert ids(con, area="34002") == [3, 4, 5, 9]
    assert ids(con, area="FR9101388") == [1, 3]
    assert ids(con, area="FR9101388", certain_only=True) == [1]
    assert ids(con, certain_only=True) == [1, 3, 4, 5, 6, 9]          # obs 2 is on a commune edge
    assert ids(con, since=dt.date(2024, 4, 15)) == [3, 4, 5, 6, 9]
    assert ids(con, since=dt.date(2024, 1, 1), until=dt.date(2024, 6, 30)) == [3, 4, 5]
    assert ids(con, group="Aves") == [2, 6, 9]
    assert ids(con, group="fagaceae") == [3, 4, 5]                     # any taxon level, any case
    assert ids(con, quality="research") == [1, 2, 4, 6]
    assert ids(con, quality="verifiable") == [1, 2, 3, 4, 6, 9]


def test_bad_filters(con, tmp_path):
    import datetime as dt

    with pytest.raises(ExportError, match="unknown area code 'x'"):
        select_observations(con, ExportFilter(area="x"))
    with pytest.raises(ExportError, match="is after"):
        select_observations(con, ExportFilter(since=dt.date(2025, 1, 1), until=dt.date(2024, 1, 1)))
    with pytest.raises(ExportError, match="unknown export format 'xls'"):
        export(con, "xls", tmp_path / "a.xls")


def test_geopackage_layers_round_trip(con, tmp_path):
    out = tmp_path / "ccvh.gpkg"
    result = export(con, "gpkg", out, ExportFilter(quality="any"))
    assert result.counts == {"observations": 7, "communes": 3, "natura2000": 2, "territory": 1}
    layers = dict(pyogrio.list_layers(out))
    # area layers always MULTIPOLYGON whatever the extract holds; layer_styles: QGIS's styles (no geometry)
    assert layers == {"observations": "Point", "communes": "MultiPolygon", "natura2000": "MultiPolygon",
                      "territory": "MultiPolygon", "layer_styles": None}
    obs = pyogrio.read_dataframe(out, layer="observations")
    assert list(obs["id"]) == TERRITORY_IDS
    assert obs.crs.to_epsg() == 4326
    first = obs[obs.id == 1].iloc[0]
    assert (first.geometry.x, first.geometry.y) == (3.46, 43.55)
    assert first.scientific_name == "Epidalea calamita" and first.n2000_codes == "FR9101388"
    assert first.user_login == "alice"                                  # private mode by default
    communes = pyogrio.read_dataframe(out, layer="communes").set_index("code")
    assert communes.loc["34002", "n_observations"] == 4 and communes.loc["34002", "n_taxa"] == 4
    assert communes.loc["34003", "n_observations"] == 0
    sites = pyogrio.read_dataframe(out, layer="natura2000").set_index("code")
    assert sites.loc["FR9101388", "n_observations"] == 2 and sites.loc["FR9101388", "type"] == "n2000_zsc"
    territory = pyogrio.read_dataframe(out, layer="territory")
    assert territory.loc[0, "insee_codes"] == "34001,34002,34003"


def test_public_mode_drops_logins_and_obscured_points_are_never_precise(con, tmp_path):
    out = tmp_path / "public.gpkg"
    export(con, "gpkg", out, ExportFilter(quality="any"), public_mode=True, sensitivity_default=0)
    obs = pyogrio.read_dataframe(out, layer="observations").set_index("id")
    assert "user_login" not in obs.columns and "user_id" not in obs.columns
    # obscured (obs 6): published coordinates unchanged, uncertainty covers the 0.2° cell
    assert (obs.loc[6].geometry.x, obs.loc[6].geometry.y) == (3.41234567, 43.51234567)
    assert 27_000 < obs.loc[6, "coordinate_uncertainty_m"] < 28_000
    assert obs.loc[1, "coordinate_uncertainty_m"] == 10


def test_geojson_csv_parquet_round_trip(con, tmp_path):
    gj = tmp_path / "obs.geojson"
    export(con, "geojson", gj, ExportFilter(area="34002"))      # the default quality: 5 is casual
    back = gpd.read_file(gj)
    assert sorted(back["id"]) == [3, 4, 9] and back.crs.to_epsg() == 4326

    c = tmp_path / "obs.csv"
    export(con, "csv", c, ExportFilter(group="Aves"), public_mode=True, sensitivity_default=0)
    df = pd.read_csv(c)
    assert list(df["id"]) == [2, 6, 9] and "user_login" not in df.columns
    assert list(df["observed_on"]) == ["2023-05-02", "2024-07-01", "2025-05-05"]
    assert list(df["longitude"]) == [3.499, 3.41234567, 3.59]

    pq = tmp_path / "obs.parquet"
    export(con, "parquet", pq, ExportFilter(quality="research"))
    back = gpd.read_parquet(pq)
    assert sorted(back["id"]) == [1, 2, 4, 6] and back.crs.to_epsg() == 4326   # rows in Hilbert order
    one = back.set_index("id").loc[1]
    assert one.geometry.x == 3.46 and str(one["observed_on"]) == "2023-04-10"


def test_darwin_core_archive_matches_its_meta_xml(con, tmp_path):
    out = tmp_path / "ccvh-dwca.zip"
    result = export(con, "dwca", out, ExportFilter(quality="any"), public_mode=True, sensitivity_default=0)
    assert any("no licence" in n for n in result.notes)                 # obs 5
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["eml.xml", "meta.xml", "occurrence.txt"]
        meta = ET.fromstring(zf.read("meta.xml"))
        text = zf.read("occurrence.txt").decode("utf-8")
        eml = ET.fromstring(zf.read("eml.xml"))
    ns = {"t": "http://rs.tdwg.org/dwc/text/"}
    core = meta.find("t:core", ns)
    assert core.get("rowType") == "http://rs.tdwg.org/dwc/terms/Occurrence"
    assert core.find("t:files/t:location", ns).text == "occurrence.txt"
    assert core.get("ignoreHeaderLines") == "1" and core.get("fieldsTerminatedBy") == "\\t"
    fields = {int(f.get("index")): f.get("term") for f in core.findall("t:field", ns)}
    rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    header, records = rows[0], rows[1:]
    # every column of the file is declared in meta.xml under the Darwin Core term of that name
    assert len(fields) == len(header)
    for i, name in enumerate(header):
        if name == "inaturalistLogin":                                   # as iNaturalist's own archive
            assert fields[i] == "http://xmlns.com/foaf/0.1/nick"
            continue
        assert fields[i].rsplit("/", 1)[1] == name
        assert fields[i] in (f"http://rs.tdwg.org/dwc/terms/{name}", f"http://purl.org/dc/terms/{name}")
    assert core.find("t:id", ns).get("index") == "0" and header[0] == "occurrenceID"
    recs = {r[header.index("catalogNumber")]: dict(zip(header, r)) for r in records}
    assert sorted(recs, key=int) == [str(i) for i in TERRITORY_IDS]
    one = recs["1"]
    assert one["basisOfRecord"] == "HumanObservation"
    assert one["occurrenceID"] == "https://www.inaturalist.org/observations/1"
    assert one["eventDate"] == "2023-04-10"
    assert (one["scientificName"], one["vernacularName"], one["taxonRank"]) == ("Epidalea calamita", "Crapaud calamite", "species")
    assert (one["kingdom"], one["class"], one["family"], one["genus"]) == ("Animalia", "Amphibia", "Bufonidae", "Epidalea")
    assert (one["decimalLatitude"], one["decimalLongitude"]) == ("43.55", "3.46")
    assert one["geodeticDatum"] == "EPSG:4326" and one["countryCode"] == "FR" and one["municipality"] == "Alpha"
    assert one["license"] == "http://creativecommons.org/licenses/by/4.0/"
    assert one["recordedBy"] == ""                                      # public mode
    assert one["informationWithheld"] == ""
    six = recs["6"]
    assert six["informationWithheld"] == f"Coordinate uncertainty increased to {round(float(six['coordinateUncertaintyInMeters']))}m at the request of the observer"
    assert float(six["coordinateUncertaintyInMeters"]) > 27_000
    assert eml.find("dataset/title").text.endswith("Territoire test")
    assert eml.find("dataset/coverage/temporalCoverage/rangeOfDates/beginDate/calendarDate").text == "2023-04-10"


def test_dwca_private_mode_keeps_recorded_by(con, tmp_path):
    out = tmp_path / "private.zip"
    export(con, "dwca", out, ExportFilter(area="FR9101388"), public_mode=False)
    with zipfile.ZipFile(out) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("occurrence.txt").decode()), delimiter="\t",
                                   quoting=csv.QUOTE_NONE))
    assert [(r["catalogNumber"], r["recordedBy"]) for r in rows] == [("1", "alice"), ("3", "alice")]
    assert rows[0]["recordedByID"] == "https://www.inaturalist.org/people/1"
    assert rows[0]["dynamicProperties"] == '{"inaturalistLogin":"alice"}'   # captive unknown in the fixture


def test_failed_export_leaves_no_file_and_keeps_the_old_one(con, tmp_path):
    import datetime as dt

    out = tmp_path / "keep.gpkg"
    out.write_bytes(b"previous export")
    with pytest.raises(ExportError, match="no observation matches these filters"):
        export(con, "gpkg", out, ExportFilter(since=dt.date(2030, 1, 1)))
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.gpkg"]
    with pytest.raises(ExportError, match="does not exist"):
        export(con, "csv", tmp_path / "missing" / "a.csv")


def test_export_cli(fx, tmp_path, monkeypatch):
    out = tmp_path / "ccvh.gpkg"
    result = cli_invoke(["export", "--format", "gpkg", "--out", str(out), "--group", "Aves", "--since", "2024-01-01"],
                        fx, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "observations: 2" in result.output
    assert list(pyogrio.read_dataframe(out, layer="observations")["id"]) == [6, 9]
    # public_mode from the config file
    (tmp_path / "biodiv.toml").write_text("[dashboard]\npublic_mode = true\n", encoding="utf-8")
    monkeypatch.setenv("BIODIV_CONFIG", str(tmp_path / "biodiv.toml"))
    from typer.testing import CliRunner

    from biodiv.cli.root import app

    csv_out = tmp_path / "public.csv"
    result = CliRunner().invoke(app, ["export", "-f", "csv", "-o", str(csv_out)])
    assert result.exit_code == 0, result.output
    assert "user_login" not in pd.read_csv(csv_out).columns
    result = cli_invoke(["export", "-f", "csv", "-o", str(csv_out), "--since", "2024-99-01"], fx, tmp_path, monkeypatch)
    assert isinstance(result.exception, ExportError) and "YYYY-MM-DD" in str(result.exception)
