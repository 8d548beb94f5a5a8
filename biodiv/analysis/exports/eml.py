"""The EML dataset metadata of the Darwin Core Archive (``eml.xml``, GBIF's EML profile).

Why apart from :mod:`.dwca`: the records and the dataset description change for different
reasons. Identity: ``packageId`` is "dataset-uuid/version" as GBIF's IPT writes it; the uuid
is derived from the territory and the selection (the same dataset keeps it), the version from
the records (it changes when one does). Coverage: the bounding box is floored and ceiled, so
no point lies outside it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
import xml.etree.ElementTree as ET
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pandas as pd

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
LICENSE_NAMES = {
    "cc0": "Public Domain (CC0 1.0)",
    "cc-by": "Creative Commons Attribution (CC-BY) 4.0",
    "cc-by-nc": "Creative Commons Attribution Non Commercial (CC-BY-NC) 4.0",
}
# The licences GBIF publishes under, least to most restrictive: a dataset takes the most
# restrictive licence of its records.
GBIF_LICENSES = ("cc0", "cc-by", "cc-by-nc")


def _date_text(v) -> str:
    return v.isoformat() if isinstance(v, (dt.date, pd.Timestamp)) else str(v)


def dataset_license(obs: pd.DataFrame) -> str | None:
    """The most restrictive GBIF licence among the records (None if one is not a GBIF one)."""
    codes = set(obs["license_code"].fillna("").astype(str).str.lower())
    if not codes or not codes <= set(GBIF_LICENSES):
        return None
    return max(codes, key=GBIF_LICENSES.index)


# Namespace of the dataset identifiers (uuid5 of the territory and the selection).
_DATASET_NAMESPACE = uuid.UUID("0f7c5a52-1d0e-5b8e-9a43-62696f646976")


def dataset_uuid(territory: dict, selection: str, public_mode: bool, profile: str | None = None) -> str:
    """The dataset's identifier: the same for every export of the same territory, selection,
    profile and privacy mode (a dataset keeps its identifier; its version changes)."""
    key = "|".join([str(territory.get("epci_siren") or territory.get("name") or "biodiv"), selection,
                    profile or "", "public" if public_mode else "private"])
    return str(uuid.uuid5(_DATASET_NAMESPACE, key))


def dataset_version(obs: pd.DataFrame, content: bytes) -> str:
    """The version of the data: the latest record modification (sortable) and a digest of the
    records, so that two exports of unchanged data carry the same version."""
    latest = obs["updated_at"].dropna().max() if "updated_at" in obs else None
    stamp = latest.strftime("%Y%m%dT%H%M%SZ") if latest is not None and not pd.isna(latest) else "0"
    return f"{stamp}.{hashlib.sha256(content).hexdigest()[:8]}"


def bounding_box(obs: pd.DataFrame) -> dict[str, str] | None:
    """The EML bounding coordinates with 5 decimals, floored (west, south) and ceiled (east,
    north) so that no point lies outside the box (rounding would cut points off)."""
    lons, lats = obs["lon"].dropna(), obs["lat"].dropna()
    if not len(lons) or not len(lats):
        return None
    q = Decimal("0.00001")

    def bound(v: float, rounding: str) -> str:
        return str(Decimal(float(v)).quantize(q, rounding=rounding))

    return {"westBoundingCoordinate": bound(lons.min(), ROUND_FLOOR),
            "eastBoundingCoordinate": bound(lons.max(), ROUND_CEILING),
            "northBoundingCoordinate": bound(lats.max(), ROUND_CEILING),
            "southBoundingCoordinate": bound(lats.min(), ROUND_FLOOR)}


def eml_xml(obs: pd.DataFrame, territory: dict, selection: str, contact: dict | None = None,
            package_id: str | None = None) -> bytes:
    """Dataset metadata in GBIF's EML profile: title, creator, contact, abstract, licence
    (``intellectualRights`` with the licence's link, as GBIF's IPT writes it), geographic and
    temporal coverage, and the method. ``package_id``: "dataset-uuid/version" (GBIF's IPT form)."""
    contact = contact or {}
    ET.register_namespace("eml", EML_NS)
    root = ET.Element(f"{{{EML_NS}}}eml", {
        "packageId": package_id or str(uuid.uuid4()), "system": "biodiv", "scope": "system", "xml:lang": "fr",
    })
    ds = ET.SubElement(root, "dataset")
    if package_id:
        ET.SubElement(ds, "alternateIdentifier").text = package_id.split("/")[0]
    name = territory.get("name") or "biodiv"
    ET.SubElement(ds, "title", {"xml:lang": "fr"}).text = f"Observations iNaturalist — {name}"

    def party(tag: str) -> None:
        el = ET.SubElement(ds, tag)
        if contact.get("contact_name"):
            ET.SubElement(ET.SubElement(el, "individualName"), "surName").text = contact["contact_name"]
        ET.SubElement(el, "organizationName").text = contact.get("organization") or name
        if contact.get("contact_email"):
            ET.SubElement(el, "electronicMailAddress").text = contact["contact_email"]

    party("creator")
    party("metadataProvider")
    ET.SubElement(ds, "pubDate").text = dt.date.today().isoformat()
    ET.SubElement(ds, "language").text = "fr"
    abstract = ET.SubElement(ds, "abstract")
    ET.SubElement(abstract, "para").text = (
        f"Citizen-science observations from iNaturalist for {name}"
        + (f" (EPCI {territory['epci_siren']})" if territory.get("epci_siren") else "")
        + f", selection: {selection}. Obscured observations keep iNaturalist's published "
        "(randomised) coordinates with an uncertainty covering the 0.2 degree cell."
    )
    rights = ET.SubElement(ET.SubElement(ds, "intellectualRights"), "para")
    code = dataset_license(obs)
    if code:
        rights.text = "This work is licensed under a "
        link = ET.SubElement(rights, "ulink", {"url": LICENSE_URLS[code]})
        ET.SubElement(link, "citetitle").text = LICENSE_NAMES[code]
        link.tail = "."
    else:
        rights.text = ("Each record carries the licence chosen by its observer (dcterms:license); "
                       "records without a licence are all rights reserved.")
    coverage = ET.SubElement(ds, "coverage")
    bounds = bounding_box(obs)
    if bounds:
        geo = ET.SubElement(coverage, "geographicCoverage")
        ET.SubElement(geo, "geographicDescription").text = name
        box = ET.SubElement(geo, "boundingCoordinates")
        for tag, value in bounds.items():
            ET.SubElement(box, tag).text = value
    dates = obs["observed_on"].dropna()
    if len(dates):
        rng = ET.SubElement(ET.SubElement(coverage, "temporalCoverage"), "rangeOfDates")
        ET.SubElement(ET.SubElement(rng, "beginDate"), "calendarDate").text = _date_text(min(dates))
        ET.SubElement(ET.SubElement(rng, "endDate"), "calendarDate").text = _date_text(max(dates))
    party("contact")
    methods = ET.SubElement(ds, "methods")
    step = ET.SubElement(ET.SubElement(methods, "methodStep"), "description")
    ET.SubElement(step, "para").text = (
        "Opportunistic citizen-science observations with photographs or sounds, shared on "
        "iNaturalist and identified by its community; harvested through the iNaturalist API "
        "and attached to communes and Natura 2000 sites by biodiv."
    )
    sampling = ET.SubElement(methods, "sampling")
    ET.SubElement(ET.SubElement(sampling, "studyExtent"), "description").append(_para(name))
    ET.SubElement(sampling, "samplingDescription").append(_para("No sampling design: opportunistic records."))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _para(text: str) -> ET.Element:
    p = ET.Element("para")
    p.text = text
    return p
