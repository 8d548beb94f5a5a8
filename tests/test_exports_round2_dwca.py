"""Darwin Core Archive, second round (issue 27): what GBIF and a data manager met, read back
with python-dwca-reader on the real-shaped fixture of helpers_round2 (TAXREF from the real
INPN list)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile

import duckdb
import pytest
from dwca.read import DwCAReader

from biodiv.analysis.exports import ExportFilter, export
from biodiv.analysis.queries import lock_down
from helpers_round2 import AUTHOR, NOTES_30, build_round2

ALL = ExportFilter(include_outside=True, quality="any")
DWC = "http://rs.tdwg.org/dwc/terms/"
INPN = "https://inpn.mnhn.fr/espece/cd_nom/"


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return build_round2(tmp_path_factory.mktemp("round2-dwca"))


@pytest.fixture(scope="module")
def con(fx):
    c = lock_down(fx[0].reader())
    yield c
    c.close()


def records(path) -> dict[str, dict]:
    out = {}
    with DwCAReader(str(path)) as arch:
        for row in arch:
            rec = {k.rsplit("/", 1)[-1]: v for k, v in row.data.items()}
            rec["_media"] = [{k.rsplit("/", 1)[-1]: v for k, v in e.data.items()} for e in row.extensions]
            out[rec["catalogNumber"]] = rec
    return out


def eml(path) -> ET.Element:
    with zipfile.ZipFile(path) as zf:
        return ET.fromstring(zf.read("eml.xml"))


def test_places_everywhere_biodiv_knows_them(con, tmp_path):
    out = tmp_path / "a.zip"
    export(con, "dwca", out, ALL)
    recs = records(out)
    # an obscured record whose cell spans two communes: no municipality, but its country
    obscured = recs["30"]
    assert obscured["informationWithheld"].startswith("Coordinate uncertainty increased to")
    assert (obscured["countryCode"], obscured["municipality"]) == ("FR", "")
    assert obscured["eventDate"] == "2024-07-14T10:00:00+02:00"          # the territory's zone, not UTC
    # region and department wherever the commune is known, overseas too
    assert (recs["22"]["stateProvince"], recs["22"]["county"], recs["22"]["municipality"]) == \
        ("Occitanie", "Hérault", "Alpha")
    assert (recs["25"]["countryCode"], recs["25"]["county"]) == ("FR", "Hérault")        # obscured, in Beta
    assert (recs["23"]["countryCode"], recs["23"]["stateProvince"], recs["23"]["county"]) == \
        ("RE", "La Réunion", "La Réunion")
    assert (recs["24"]["countryCode"], recs["24"]["county"]) == ("", "")                 # abroad, no commune
    with_commune = [r for r in recs.values() if r["municipality"]]
    assert with_commune and all(r["stateProvince"] and r["county"] and r["countryCode"] for r in with_commune)


def test_taxref_authorship_and_identifiers(con, fx, tmp_path):
    names = fx[1]
    out = tmp_path / "a.zip"
    export(con, "dwca", out, ALL)
    recs = records(out)
    cd_nom, cd_ref = names["Epidalea calamita"][0]
    toad = recs["22"]
    assert toad["scientificName"] == "Epidalea calamita"
    assert toad["scientificNameAuthorship"] == AUTHOR
    assert toad["scientificNameID"] == f"{INPN}{cd_nom}" and toad["taxonConceptID"] == f"{INPN}{cd_ref}"
    assert toad["nameAccordingTo"] == "TAXREF"
    assert toad["taxonID"] == "https://www.inaturalist.org/taxa/100"        # iNaturalist's, as its archive
    # a linked taxon without an author in TAXREF, and a taxon without a link: nothing invented
    sparrow_nom = names["Passer domesticus"][0][0]
    assert recs["7"]["scientificNameID"] == f"{INPN}{sparrow_nom}" and recs["7"]["scientificNameAuthorship"] == ""
    assert (recs["3"]["scientificNameID"], recs["3"]["nameAccordingTo"]) == ("", "")     # Quercus ilex: no link


def test_rights_holder_is_a_name():
    from biodiv.analysis.exports.dwca import attribution_holder

    assert attribution_holder("(c) Alice Martin, some rights reserved (CC BY-NC)") == "Alice Martin"
    assert attribution_holder("(c) bob, all rights reserved") == "bob"
    assert attribution_holder("(c) Chloé Durand, no rights reserved (CC0)") == "Chloé Durand"
    assert attribution_holder("Dupont, no known copyright restrictions (public domain)") == "Dupont"
    assert attribution_holder("(c) anonymous") == "(c) anonymous" and attribution_holder(None) is None


def test_multimedia_rights_holder_read_back(con, tmp_path):
    out = tmp_path / "a.zip"
    export(con, "dwca", out, ALL)
    media = records(out)["25"]["_media"]
    assert [m["rightsHolder"] for m in media] == ["Alice Martin"]


def test_notes_keep_tabs_and_newlines(con, tmp_path):
    out = tmp_path / "a.zip"
    export(con, "dwca", out, ALL)
    with zipfile.ZipFile(out) as zf:
        lines = zf.read("occurrence.txt").decode("utf-8").split("\n")
    assert len(lines) == 1 + 17 + 1                       # header, one line per record, final newline
    from biodiv.analysis.exports.dwca import unescape

    remark = records(out)["30"]["occurrenceRemarks"]
    assert "\t" not in remark and "\n" not in remark
    assert unescape(remark) == NOTES_30                    # reversible: nothing lost


def test_login_in_the_term_pyinaturalist_convert_reads(con, tmp_path):
    out = tmp_path / "a.zip"
    export(con, "dwca", out, ALL)
    with DwCAReader(str(out)) as arch:
        login = {row.data[DWC + "catalogNumber"]: row.data["http://xmlns.com/foaf/0.1/nick"] for row in arch}
        header = arch.open_included_file("occurrence.txt").readline().rstrip("\n").split("\t")
    assert "inaturalistLogin" in header                   # the column name iNaturalist's archive uses
    assert (login["22"], login["30"], login["7"]) == ("alice", "alice", "chloe")
    assert all(login[k] for k in login)
    public = tmp_path / "p.zip"
    export(con, "dwca", public, ALL, public_mode=True, sensitivity_default=0)
    with DwCAReader(str(public)) as arch:
        assert {row.data["http://xmlns.com/foaf/0.1/nick"] for row in arch} == {""}


def test_bounding_box_holds_every_point(con, tmp_path):
    out = tmp_path / "a.zip"
    export(con, "dwca", out, ExportFilter(quality="any"))
    box = {el.tag: float(el.text) for el in eml(out).find("dataset/coverage/geographicCoverage/boundingCoordinates")}
    recs = records(out)
    points = [(float(r["decimalLongitude"]), float(r["decimalLatitude"])) for r in recs.values() if r["decimalLatitude"]]
    assert points
    for lon, lat in points:
        assert box["westBoundingCoordinate"] <= lon <= box["eastBoundingCoordinate"]
        assert box["southBoundingCoordinate"] <= lat <= box["northBoundingCoordinate"]
    # 3.41234567 (observation 6) is the west end: floored, not rounded up past it
    assert box["westBoundingCoordinate"] == 3.41234


def test_package_id_stable_and_versioned(fx, tmp_path):
    store = fx[0]
    first, second, third = tmp_path / "1.zip", tmp_path / "2.zip", tmp_path / "3.zip"
    for out in (first, second):
        c = lock_down(store.reader())
        try:
            export(c, "dwca", out, ALL)
        finally:
            c.close()
    ids = [eml(p).get("packageId") for p in (first, second)]
    assert ids[0] == ids[1]                                # the same data: the same identifier and version
    dataset, version = ids[0].split("/")
    assert eml(first).find("dataset/alternateIdentifier").text == dataset
    # another selection is another dataset
    c = lock_down(store.reader())
    try:
        export(c, "dwca", tmp_path / "other.zip", ExportFilter(area="34002", quality="any"))
    finally:
        c.close()
    assert eml(tmp_path / "other.zip").get("packageId").split("/")[0] != dataset
    # a record edited upstream: the same dataset, a new version
    copy = tmp_path / "edited.duckdb"
    import shutil

    shutil.copy(store.path, copy)
    with duckdb.connect(str(copy)) as w:
        w.execute("LOAD spatial")
        w.execute("UPDATE observations SET updated_at = TIMESTAMPTZ '2026-02-01 00:00:00+00', "
                  "quality_grade = 'research' WHERE id = 3")
    c = duckdb.connect(str(copy), read_only=True)
    c.execute("LOAD spatial")
    try:
        export(c, "dwca", third, ALL)
    finally:
        c.close()
    dataset3, version3 = eml(third).get("packageId").split("/")
    assert dataset3 == dataset and version3 != version and version3 > version
