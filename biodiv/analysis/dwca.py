"""Darwin Core Archive (DwC-A) of observations, for SINP / GBIF exchange.

Why a hand-made writer: a DwC-A is three small files in a zip (``occurrence.txt``, the
``meta.xml`` descriptor mapping each column to its Darwin Core term URI, and the ``eml.xml``
dataset metadata); the standard library writes them without another dependency.
Terms are named exactly as Darwin Core defines them (``http://rs.tdwg.org/dwc/terms/``),
plus Dublin Core terms for ``license``, ``rightsHolder``, ``references`` and ``modified``.

The core is tab-separated UTF-8 without quoting (``fieldsEnclosedBy=""``): tabs and line
breaks inside values are replaced by spaces so that each record stays on one line.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pandas as pd

DWC = "http://rs.tdwg.org/dwc/terms/"
DCTERMS = "http://purl.org/dc/terms/"
TEXT_NS = "http://rs.tdwg.org/dwc/text/"
EML_NS = "eml://ecoinformatics.org/eml-2.1.1"

LICENSE_URLS = {
    "cc0": "http://creativecommons.org/publicdomain/zero/1.0/",
    "cc-by": "http://creativecommons.org/licenses/by/4.0/",
    "cc-by-sa": "http://creativecommons.org/licenses/by-sa/4.0/",
    "cc-by-nd": "http://creativecommons.org/licenses/by-nd/4.0/",
    "cc-by-nc": "http://creativecommons.org/licenses/by-nc/4.0/",
    "cc-by-nc-sa": "http://creativecommons.org/licenses/by-nc-sa/4.0/",
    "cc-by-nc-nd": "http://creativecommons.org/licenses/by-nc-nd/4.0/",
}
OBSCURED_NOTE = "Coordinates obscured by iNaturalist: randomised within a 0.2 degree cell"
PRIVATE_NOTE = "Coordinates hidden by the observer (private geoprivacy)"

# (term name, namespace) in column order; occurrenceID first (it is the record id).
TERMS: list[tuple[str, str]] = [
    ("occurrenceID", DWC), ("basisOfRecord", DWC), ("institutionCode", DWC),
    ("collectionCode", DWC), ("catalogNumber", DWC), ("occurrenceStatus", DWC),
    ("eventDate", DWC), ("year", DWC), ("month", DWC), ("day", DWC),
    ("scientificName", DWC), ("vernacularName", DWC), ("taxonRank", DWC), ("taxonID", DWC),
    ("kingdom", DWC), ("phylum", DWC), ("class", DWC), ("order", DWC), ("family", DWC),
    ("genus", DWC),
    ("decimalLatitude", DWC), ("decimalLongitude", DWC), ("coordinateUncertaintyInMeters", DWC),
    ("geodeticDatum", DWC), ("countryCode", DWC), ("country", DWC), ("municipality", DWC),
    ("locationID", DWC), ("recordedBy", DWC), ("identificationVerificationStatus", DWC),
    ("informationWithheld", DWC), ("dataGeneralizations", DWC),
    ("license", DCTERMS), ("rightsHolder", DCTERMS), ("references", DCTERMS), ("modified", DCTERMS),
]


def _text(v) -> str:
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (dt.datetime, pd.Timestamp, dt.date)):
        return v.isoformat()
    return " ".join(str(v).replace("\t", " ").splitlines()).strip()


def _col(values, index) -> pd.Series:
    """Any column as clean strings: '' for missing, no tab or line break inside."""
    s = values if isinstance(values, pd.Series) else pd.Series(values, index=index)
    missing = s.isna()
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s.map(lambda v: v.isoformat() if not pd.isna(v) else "")
    elif (pd.api.types.is_float_dtype(s) or pd.api.types.is_integer_dtype(s)
          or pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.StringDtype)
          or pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty", "integer", "floating")):
        out = s.astype(str)
    else:
        out = s.map(_text)
    out = out.where(~missing, "")
    return out.str.replace(r"[\t\r\n]+", " ", regex=True).str.strip()


def occurrence_frame(obs: pd.DataFrame, public_mode: bool) -> pd.DataFrame:
    """The occurrence core: one string column per :data:`TERMS` entry (pure, vectorised)."""
    idx = obs.index
    n = len(obs)

    def const(value: str) -> pd.Series:
        return pd.Series([value] * n, index=idx, dtype=object)

    ids = obs["id"].astype("int64").astype(str)
    uri = obs["uri"].where(obs["uri"].fillna("").astype(str) != "", "https://www.inaturalist.org/observations/" + ids)
    observed_on = pd.to_datetime(obs["observed_on"])
    observed_at = obs["observed_at"] if "observed_at" in obs else pd.Series([None] * n, index=idx)
    event = _col(observed_at, idx)
    event = event.where(event != "", _col(observed_on.dt.date.astype(object).where(observed_on.notna(), None), idx))
    coords = obs["lat"].notna() & obs["lon"].notna()
    obscured = obs["obscured"].fillna(False).astype(bool)
    keep = lambda s: s.where(coords, None)  # noqa: E731
    login = obs["user_login"] if ("user_login" in obs and not public_mode) else pd.Series([None] * n, index=idx)
    taxon = obs["taxon_id"]
    taxon_url = ("https://www.inaturalist.org/taxa/" + taxon.astype("Int64").astype(str)).where(taxon.notna(), None)
    commune = obs["commune_code"]
    withheld = pd.Series([""] * n, index=idx, dtype=object).where(coords, PRIVATE_NOTE).where(~obscured, OBSCURED_NOTE)
    licence = obs["license_code"].fillna("").astype(str).str.lower().map(LICENSE_URLS).fillna("")
    columns = {
        "occurrenceID": uri, "basisOfRecord": const("HumanObservation"),
        "institutionCode": const("iNaturalist"), "collectionCode": const("Observations"),
        "catalogNumber": ids, "occurrenceStatus": const("present"), "eventDate": event,
        "year": observed_on.dt.year.astype("Int64"), "month": observed_on.dt.month.astype("Int64"),
        "day": observed_on.dt.day.astype("Int64"),
        "scientificName": obs["scientific_name"], "vernacularName": obs["common_name_fr"],
        "taxonRank": obs["rank"], "taxonID": taxon_url,
        "kingdom": obs["kingdom_name"], "phylum": obs["phylum_name"], "class": obs["class_name"],
        "order": obs["order_name"], "family": obs["family_name"], "genus": obs["genus_name"],
        "decimalLatitude": keep(obs["lat"]), "decimalLongitude": keep(obs["lon"]),
        "coordinateUncertaintyInMeters": keep(obs["coordinate_uncertainty_m"]),
        "geodeticDatum": const("WGS84").where(coords, None), "countryCode": const("FR"),
        "country": const("France"), "municipality": obs["commune_name"],
        "locationID": ("INSEE:" + commune.astype(str)).where(commune.notna(), None),
        "recordedBy": login, "identificationVerificationStatus": obs["quality_grade"],
        "informationWithheld": withheld,
        "dataGeneralizations": const("Coordinates randomised within a 0.2 degree cell").where(obscured, None),
        "license": licence, "rightsHolder": login, "references": uri,
        "modified": obs["updated_at"] if "updated_at" in obs else None,
    }
    assert list(columns) == [t for t, _ in TERMS]
    return pd.DataFrame({name: _col(values, idx) for name, values in columns.items()}, index=idx)


def meta_xml(core_file: str = "occurrence.txt") -> bytes:
    ET.register_namespace("", TEXT_NS)
    archive = ET.Element(f"{{{TEXT_NS}}}archive", {"metadata": "eml.xml"})
    core = ET.SubElement(archive, f"{{{TEXT_NS}}}core", {
        "encoding": "UTF-8", "fieldsTerminatedBy": "\\t", "linesTerminatedBy": "\\n",
        "fieldsEnclosedBy": "", "ignoreHeaderLines": "1",
        "rowType": "http://rs.tdwg.org/dwc/terms/Occurrence",
    })
    files = ET.SubElement(core, f"{{{TEXT_NS}}}files")
    ET.SubElement(files, f"{{{TEXT_NS}}}location").text = core_file
    ET.SubElement(core, f"{{{TEXT_NS}}}id", {"index": "0"})
    for i, (term, ns) in enumerate(TERMS):
        ET.SubElement(core, f"{{{TEXT_NS}}}field", {"index": str(i), "term": ns + term})
    ET.indent(archive)
    return ET.tostring(archive, encoding="utf-8", xml_declaration=True)


def eml_xml(obs: pd.DataFrame, territory: dict, selection: str) -> bytes:
    ET.register_namespace("eml", EML_NS)
    root = ET.Element(f"{{{EML_NS}}}eml", {
        "packageId": str(uuid.uuid4()), "system": "biodiv", "xml:lang": "fr",
    })
    ds = ET.SubElement(root, "dataset")
    name = territory.get("name") or "biodiv"
    ET.SubElement(ds, "title", {"xml:lang": "fr"}).text = f"Observations iNaturalist — {name}"
    creator = ET.SubElement(ds, "creator")
    ET.SubElement(creator, "organizationName").text = name
    provider = ET.SubElement(ds, "metadataProvider")
    ET.SubElement(provider, "organizationName").text = "biodiv"
    ET.SubElement(ds, "pubDate").text = dt.date.today().isoformat()
    ET.SubElement(ds, "language").text = "fr"
    abstract = ET.SubElement(ds, "abstract")
    ET.SubElement(abstract, "para").text = (
        f"Citizen-science observations from iNaturalist for {name}"
        + (f" (EPCI {territory['epci_siren']})" if territory.get("epci_siren") else "")
        + f", selection: {selection}. Obscured observations keep iNaturalist's published "
        "(randomised) coordinates with an uncertainty covering the 0.2 degree cell."
    )
    rights = ET.SubElement(ds, "intellectualRights")
    ET.SubElement(rights, "para").text = (
        "Each record carries the licence chosen by its observer (dcterms:license); "
        "records without a licence are all rights reserved."
    )
    coverage = ET.SubElement(ds, "coverage")
    lons = obs["lon"].dropna()
    lats = obs["lat"].dropna()
    if len(lons):
        geo = ET.SubElement(coverage, "geographicCoverage")
        ET.SubElement(geo, "geographicDescription").text = name
        box = ET.SubElement(geo, "boundingCoordinates")
        for tag, value in (("westBoundingCoordinate", lons.min()), ("eastBoundingCoordinate", lons.max()),
                           ("northBoundingCoordinate", lats.max()), ("southBoundingCoordinate", lats.min())):
            ET.SubElement(box, tag).text = f"{value:.5f}"
    dates = obs["observed_on"].dropna()
    if len(dates):
        temporal = ET.SubElement(coverage, "temporalCoverage")
        rng = ET.SubElement(temporal, "rangeOfDates")
        ET.SubElement(ET.SubElement(rng, "beginDate"), "calendarDate").text = _text(min(dates))
        ET.SubElement(ET.SubElement(rng, "endDate"), "calendarDate").text = _text(max(dates))
    contact = ET.SubElement(ds, "contact")
    ET.SubElement(contact, "organizationName").text = name
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_dwca(obs: pd.DataFrame, out: Path, territory: dict, selection: str, public_mode: bool) -> list[str]:
    """Write the archive to ``out``; returns notes worth telling the user."""
    frame = occurrence_frame(obs, public_mode)
    header = "\t".join(term for term, _ in TERMS)
    lines = frame.iloc[:, 0]
    for col in frame.columns[1:]:
        lines = lines + "\t" + frame[col]
    body = "\n".join(lines.tolist())
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("occurrence.txt", header + "\n" + body + ("\n" if body else ""))
        zf.writestr("meta.xml", meta_xml())
        zf.writestr("eml.xml", eml_xml(obs, territory, selection))
    notes = []
    no_license = int(obs["license_code"].isna().sum())
    if no_license:
        notes.append(f"{no_license} record(s) have no licence (all rights reserved): GBIF will not accept them")
    return notes
