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
    if isinstance(v, (dt.datetime, pd.Timestamp)):
        return v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(v)
    return " ".join(str(v).replace("\t", " ").splitlines()).strip()


def occurrence_records(obs: pd.DataFrame, public_mode: bool) -> list[list[str]]:
    """One list of strings per observation, in :data:`TERMS` order (pure)."""
    rows = []
    has_login = "user_login" in obs.columns and not public_mode
    for r in obs.itertuples(index=False):
        observed_on = r.observed_on if isinstance(r.observed_on, dt.date) else None
        observed_at = r.observed_at if not pd.isna(r.observed_at) else None
        coords = r.lat is not None and not pd.isna(r.lat)
        withheld = OBSCURED_NOTE if r.obscured else (PRIVATE_NOTE if not coords else "")
        login = r.user_login if has_login else None
        uri = r.uri if isinstance(r.uri, str) and r.uri else f"https://www.inaturalist.org/observations/{r.id}"
        values = [
            uri, "HumanObservation", "iNaturalist", "Observations", r.id, "present",
            observed_at if observed_at is not None else observed_on,
            observed_on.year if observed_on else None,
            observed_on.month if observed_on else None,
            observed_on.day if observed_on else None,
            r.scientific_name, r.common_name_fr, r.rank,
            f"https://www.inaturalist.org/taxa/{int(r.taxon_id)}" if not pd.isna(r.taxon_id) else None,
            r.kingdom_name, r.phylum_name, r.class_name, r.order_name, r.family_name, r.genus_name,
            r.lat if coords else None, r.lon if coords else None,
            r.coordinate_uncertainty_m if coords else None,
            "WGS84" if coords else None, "FR", "France", r.commune_name,
            f"INSEE:{r.commune_code}" if isinstance(r.commune_code, str) else None,
            login, r.quality_grade, withheld,
            "Coordinates randomised within a 0.2 degree cell" if r.obscured else None,
            LICENSE_URLS.get((r.license_code or "").lower(), "") if isinstance(r.license_code, str) else "",
            login, uri, r.updated_at if not pd.isna(r.updated_at) else None,
        ]
        rows.append([_text(v) for v in values])
    return rows


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
    records = occurrence_records(obs, public_mode)
    header = "\t".join(term for term, _ in TERMS)
    body = "\n".join("\t".join(r) for r in records)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("occurrence.txt", header + "\n" + body + ("\n" if body else ""))
        zf.writestr("meta.xml", meta_xml())
        zf.writestr("eml.xml", eml_xml(obs, territory, selection))
    notes = []
    no_license = int(obs["license_code"].isna().sum())
    if no_license:
        notes.append(f"{no_license} record(s) have no licence (all rights reserved): GBIF will not accept them")
    return notes
