"""Darwin Core Archive (DwC-A) of observations, for GBIF and SINP exchange.

Why a hand-made writer: a DwC-A is a few small files in a zip (``occurrence.txt``, the
Simple Multimedia extension ``multimedia.txt``, the ``meta.xml`` descriptor mapping each
column to its term URI, and the ``eml.xml`` dataset metadata); the standard library writes
them without another dependency, and tests read them back with python-dwca-reader.

Terms follow iNaturalist's own DwC-A where it has one (``recordedBy`` the observer's name,
``recordedByID`` a link to the observer, ``identifiedBy``/``dateIdentified``,
``verbatimLocality``, ``informationWithheld`` worded as iNaturalist words it, the login in
``inaturalistLogin`` = ``foaf:nick``), Darwin Core (``http://rs.tdwg.org/dwc/terms/``) for
everything else, Dublin Core for ``license``, ``rightsHolder``, ``references`` and
``modified``. The captive flag (and the login again) go in ``dynamicProperties`` (JSON).
Places: ``countryCode``, ``stateProvince`` (region), ``county`` (department) and
``municipality`` wherever biodiv knows the commune (an obscured record without one still has
the territory's country). TAXREF, once imported: ``scientificNameAuthorship``,
``scientificNameID`` (the INPN page of the name matched), ``taxonConceptID`` (its accepted
taxon), ``nameAccordingTo`` = TAXREF; ``taxonID`` stays iNaturalist's, as in its own archive.

The files are tab-separated UTF-8 without quoting (``fieldsEnclosedBy=""``): each record is
one line, so tabs and line breaks inside names are replaced by spaces, and the observer's
notes (``occurrenceRemarks``) keep them as escapes (``\\t``, ``\\n``, ``\\r``, ``\\\\``).

The EML ``packageId`` is "dataset-uuid/version": the uuid is derived from the territory and
the selection (the same dataset keeps it), the version from the data (it changes when a
record changes), so two exports of unchanged data are identical but for ``pubDate``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pandas as pd

from biodiv.analysis.exports import places
from biodiv.analysis.exports.eml import (  # noqa: F401 (GBIF_LICENSES: the gbif profile's)
    GBIF_LICENSES, LICENSE_URLS, dataset_uuid, dataset_version, eml_xml,
)
from biodiv.analysis.exports.select import local_iso, utc_iso

DWC = "http://rs.tdwg.org/dwc/terms/"
DCTERMS = "http://purl.org/dc/terms/"
TEXT_NS = "http://rs.tdwg.org/dwc/text/"
# iNaturalist's own DwC-A carries the login as ``inaturalistLogin`` = foaf:nick (Darwin Core has
# no term for it); pyinaturalist-convert reads it back from that column.
FOAF = "http://xmlns.com/foaf/0.1/"
INPN_TAXON = "https://inpn.mnhn.fr/espece/cd_nom/"
MULTIMEDIA_ROW = "http://rs.gbif.org/terms/1.0/Multimedia"

WITHHELD_OBSCURED = "Coordinate uncertainty increased to {m}m {why}"
WITHHELD_PRIVATE = "Coordinates hidden {why}"
WHY_OBSERVER = "at the request of the observer"
WHY_TAXON = "to protect threatened taxon"
GENERALIZED = "Coordinates randomised by iNaturalist within a 0.2 degree cell"
# SINP sensitivity levels of a public export (biodiv.sensitivity.public)
SENSITIVE_WITHHELD = {
    1: "Coordinates withheld: sensitive species, published at the commune only (SINP sensitivity level 1)",
    2: "Precise coordinates withheld: sensitive species, published at the 10 km grid cell only (SINP sensitivity level 2)",
    3: "Coordinates and commune withheld: sensitive species, published at the department level only (SINP sensitivity level 3)",
}

# (term name, namespace) in column order; occurrenceID first (it is the record id).
TERMS: list[tuple[str, str]] = [
    ("occurrenceID", DWC), ("basisOfRecord", DWC), ("institutionCode", DWC),
    ("collectionCode", DWC), ("datasetName", DWC), ("catalogNumber", DWC),
    ("otherCatalogNumbers", DWC), ("occurrenceStatus", DWC), ("occurrenceRemarks", DWC),
    ("recordedBy", DWC), ("recordedByID", DWC), ("identifiedBy", DWC), ("dateIdentified", DWC),
    ("degreeOfEstablishment", DWC),
    ("eventDate", DWC), ("year", DWC), ("month", DWC), ("day", DWC),
    ("scientificName", DWC), ("scientificNameAuthorship", DWC), ("vernacularName", DWC),
    ("taxonRank", DWC), ("taxonID", DWC), ("scientificNameID", DWC), ("taxonConceptID", DWC),
    ("nameAccordingTo", DWC),
    ("kingdom", DWC), ("phylum", DWC), ("class", DWC), ("order", DWC), ("family", DWC),
    ("genus", DWC),
    ("decimalLatitude", DWC), ("decimalLongitude", DWC), ("coordinateUncertaintyInMeters", DWC),
    ("geodeticDatum", DWC), ("countryCode", DWC), ("stateProvince", DWC), ("county", DWC),
    ("municipality", DWC),
    ("locationID", DWC), ("verbatimLocality", DWC), ("identificationVerificationStatus", DWC),
    ("informationWithheld", DWC), ("dataGeneralizations", DWC), ("dynamicProperties", DWC),
    ("license", DCTERMS), ("rightsHolder", DCTERMS), ("references", DCTERMS), ("modified", DCTERMS),
    ("inaturalistLogin", FOAF),
]
# Columns named otherwise than their term (as in iNaturalist's archive).
TERM_URIS = {"inaturalistLogin": FOAF + "nick"}
# Simple Multimedia extension (http://rs.gbif.org/extension/gbif/1.0/multimedia.xml).
MEDIA_TERMS: list[tuple[str, str]] = [
    ("coreid", ""), ("type", DCTERMS), ("format", DCTERMS), ("identifier", DCTERMS),
    ("references", DCTERMS), ("creator", DCTERMS), ("publisher", DCTERMS),
    ("license", DCTERMS), ("rightsHolder", DCTERMS),
]


def _text(v) -> str:
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (dt.datetime, pd.Timestamp, dt.date)):
        return v.isoformat()
    return " ".join(str(v).replace("\t", " ").splitlines()).strip()


# Terms whose values are free text from users or iNaturalist (names, places, remarks): the
# only ones that can hold a tab or a line break, so the only ones cleaned of them.
FREE_TEXT = {"recordedBy", "identifiedBy", "scientificName", "vernacularName",
             "municipality", "verbatimLocality", "rightsHolder", "creator", "datasetName"}


# The observer's notes keep their tabs and line breaks, escaped as backslash sequences (\t,
# \n, \r, and \\ for a backslash) so that each record stays on one line of the file.
ESCAPED = {"occurrenceRemarks"}


def escape(s: pd.Series) -> pd.Series:
    """Tabs, line breaks and backslashes of text as two-character escapes (reversible)."""
    text = s.astype(object).where(s.notna(), None)
    mask = text.notna()
    text[mask] = (text[mask].astype(str).str.replace("\\", "\\\\", regex=False)
                  .str.replace("\t", "\\t", regex=False).str.replace("\r", "\\r", regex=False)
                  .str.replace("\n", "\\n", regex=False))
    return text


def unescape(text: str) -> str:
    """The inverse of :func:`escape` (what a reader does to get the notes back)."""
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), text)


def _col(values, index, free_text: bool = False, escaped: bool = False) -> pd.Series:
    """Any column as clean strings: '' for missing (free text: no tab or line break inside;
    ``escaped``: tabs and line breaks kept as escapes)."""
    s = values if isinstance(values, pd.Series) else pd.Series(values, index=index)
    if escaped:
        s = escape(s)
    missing = s.isna()
    if (pd.api.types.is_float_dtype(s) or pd.api.types.is_integer_dtype(s)
            or pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.StringDtype)
            or pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty", "integer", "floating")):
        out = s.astype(str)
    else:
        out = s.map(_text)
    out = out.where(~missing, "")
    if free_text:
        out = out.str.replace(r"[\t\r\n]+", " ", regex=True).str.strip()
    return out


def _optional(obs: pd.DataFrame, name: str) -> pd.Series:
    return obs[name] if name in obs else pd.Series(None, index=obs.index, dtype=object)


def withheld(obs: pd.DataFrame) -> pd.Series:
    """informationWithheld as iNaturalist words it: obscured records say by how much and why;
    private records (geoprivacy or taxon geoprivacy 'private', hence no coordinates) say
    they are hidden and why; a record with no location and no geoprivacy withheld nothing."""
    coords = obs["lat"].notna() & obs["lon"].notna()
    geo = obs["geoprivacy"].fillna("").astype(str)
    taxon_geo = obs["taxon_geoprivacy"].fillna("").astype(str)
    obscured = obs["obscured"].fillna(False).astype(bool) & coords
    private = ~coords & ((geo == "private") | (taxon_geo == "private"))
    why_obscured = pd.Series(WHY_TAXON, index=obs.index).where(
        (taxon_geo == "obscured") & (geo != "obscured"), WHY_OBSERVER)
    why_private = pd.Series(WHY_TAXON, index=obs.index).where(
        (taxon_geo == "private") & (geo != "private"), WHY_OBSERVER)
    metres = obs["coordinate_uncertainty_m"].fillna(0).round().astype("int64").astype(str)
    out = pd.Series("", index=obs.index, dtype=object)
    out = out.where(~obscured, "Coordinate uncertainty increased to " + metres + "m " + why_obscured)
    out = out.where(~private, "Coordinates hidden " + why_private)
    if "occurrence_ref" in obs:       # a public export: sensitive records blurred
        level = obs["sensitivity_level"].fillna(0).astype(int)
        blurred = obs["occurrence_ref"].notna()
        for lvl, text in SENSITIVE_WITHHELD.items():
            out = out.where(~(blurred & (level == lvl)), text)
    return out


def generalizations(obs: pd.DataFrame, obscured: pd.Series) -> pd.Series:
    """dataGeneralizations: iNaturalist's randomisation, or the place a sensitive record is
    generalised to in a public export."""
    out = pd.Series(GENERALIZED, index=obs.index, dtype=object).where(obscured, None)
    if "occurrence_ref" in obs:
        blurred = obs["occurrence_ref"].notna() & obs["blurred_to"].notna()
        level = obs["sensitivity_level"].fillna(0).astype(int).astype(str)
        place = obs["blurred_to"].fillna("").astype(str)
        text = "Generalised to " + place + " for a sensitive species (SINP sensitivity level " + level + ")"
        out = out.where(~blurred, text)
    return out


def occurrence_frame(obs: pd.DataFrame, public_mode: bool, dataset_name: str = "") -> pd.DataFrame:
    """The occurrence core: one string column per :data:`TERMS` entry (pure, vectorised)."""
    idx = obs.index
    n = len(obs)

    def const(value: str) -> pd.Series:
        return pd.Series([value] * n, index=idx, dtype=object)

    none = pd.Series(None, index=idx, dtype=object)
    ids = obs["id"].astype("int64").astype(str)
    uri = obs["uri"].where(obs["uri"].fillna("").astype(str) != "", "https://www.inaturalist.org/observations/" + ids)
    ref = _optional(obs, "occurrence_ref")     # a blurred sensitive record: a stand-in, no iNaturalist link
    uri = uri.where(ref.isna(), ref)
    ids = ids.where(ref.isna(), ref)
    observed_on = pd.to_datetime(obs["observed_on"])
    event = local_iso(obs["observed_at"], obs["zone"])
    event = event.where(event.notna(), observed_on.dt.strftime("%Y-%m-%d").where(observed_on.notna(), None))
    coords = obs["lat"].notna() & obs["lon"].notna()
    obscured = obs["obscured"].fillna(False).astype(bool) & coords
    keep = lambda s: s.where(coords, None)  # noqa: E731
    login = none if public_mode else _optional(obs, "user_login")
    name = none if public_mode else _optional(obs, "user_name")
    person = name.where(name.fillna("").astype(str) != "", login)
    user_url = none if public_mode else ("https://www.inaturalist.org/people/" + obs["user_id"].astype("Int64").astype(str)).where(obs["user_id"].notna(), None)
    identified_by = none if public_mode else _optional(obs, "identified_by")
    captive = obs["captive"].astype("boolean")
    # {"inaturalistLogin":"alice","captive":"wild"}: each distinct login encoded once
    uniq = login.dropna().unique()
    login_json = login.map(dict(zip(uniq, (json.dumps(str(v), ensure_ascii=False) for v in uniq))))
    parts = pd.Series("", index=idx, dtype=object)
    has_login = login_json.notna()
    parts[has_login] = '"inaturalistLogin":' + login_json[has_login].astype(str)
    has_captive = captive.notna()
    word = captive[has_captive].map({True: '"captive":"captive"', False: '"captive":"wild"'}).astype(str)
    parts[has_captive] = (parts[has_captive] + ",").where(parts[has_captive] != "", "") + word
    dynamic = ("{" + parts + "}").where(parts != "", "")
    taxon = obs["taxon_id"]
    taxon_url = ("https://www.inaturalist.org/taxa/" + taxon.astype("Int64").astype(str)).where(taxon.notna(), None)
    commune = obs["commune_code"]
    licence = obs["license_code"].fillna("").astype(str).str.lower().map(LICENSE_URLS).fillna("")
    identified_at = _optional(obs, "identified_at")
    # TAXREF (biodiv refs import TAXREFvNN.txt): the name matched (its INPN page) and its
    # accepted taxon; the matched name's author is the iNaturalist name's authorship
    cd_nom = _optional(obs, "cd_nom").astype("string").str.replace(r"\.0$", "", regex=True)
    cd_ref = _optional(obs, "cd_ref").astype("string").str.replace(r"\.0$", "", regex=True)
    has_taxref = cd_nom.notna() & (cd_nom != "") & cd_ref.notna()
    cd_nom, cd_ref = cd_nom.fillna("").astype(object), cd_ref.fillna("").astype(object)
    author = _optional(obs, "taxref_author")
    author = author.where(has_taxref & (author.fillna("").astype(str).str.strip() != ""), None)
    departments = places.department_codes(obs)
    columns = {
        "occurrenceID": uri, "basisOfRecord": const("HumanObservation"),
        "institutionCode": const("iNaturalist"), "collectionCode": const("Observations"),
        "datasetName": const(dataset_name), "catalogNumber": ids, "otherCatalogNumbers": obs["uuid"],
        "occurrenceStatus": const("present"), "occurrenceRemarks": _optional(obs, "description"),
        "recordedBy": person, "recordedByID": user_url,
        "identifiedBy": identified_by,
        "dateIdentified": utc_iso(pd.to_datetime(identified_at, utc=True)) if identified_at.notna().any() else none,
        "degreeOfEstablishment": const("managed").where(captive.fillna(False).astype(bool), None),
        "eventDate": event,
        "year": observed_on.dt.year.astype("Int64"), "month": observed_on.dt.month.astype("Int64"),
        "day": observed_on.dt.day.astype("Int64"),
        "scientificName": obs["scientific_name"], "scientificNameAuthorship": author,
        "vernacularName": obs["common_name_fr"],
        "taxonRank": obs["rank"], "taxonID": taxon_url,
        "scientificNameID": (INPN_TAXON + cd_nom).where(has_taxref, None),
        "taxonConceptID": (INPN_TAXON + cd_ref).where(has_taxref, None),
        "nameAccordingTo": const("TAXREF").where(has_taxref, None),
        "kingdom": obs["kingdom_name"], "phylum": obs["phylum_name"], "class": obs["class_name"],
        "order": obs["order_name"], "family": obs["family_name"], "genus": obs["genus_name"],
        "decimalLatitude": keep(obs["lat"]), "decimalLongitude": keep(obs["lon"]),
        "coordinateUncertaintyInMeters": keep(obs["coordinate_uncertainty_m"]),
        "geodeticDatum": const("EPSG:4326").where(coords, None),
        "countryCode": obs["country_code"],
        "stateProvince": departments.map(places.region), "county": departments.map(places.department),
        "municipality": obs["commune_name"],
        "locationID": ("INSEE:" + commune.astype(str)).where(commune.notna(), None),
        "verbatimLocality": obs["place_guess"],
        "identificationVerificationStatus": obs["quality_grade"],
        "informationWithheld": withheld(obs),
        "dataGeneralizations": generalizations(obs, obscured),
        "dynamicProperties": dynamic,
        "license": licence, "rightsHolder": person, "references": uri.where(ref.isna(), None),
        "modified": utc_iso(obs["updated_at"]),
        "inaturalistLogin": login,
    }
    assert list(columns) == [t for t, _ in TERMS]
    return pd.DataFrame({term: _col(values, idx, term in FREE_TEXT, term in ESCAPED)
                         for term, values in columns.items()}, index=idx)


_PHOTO_ID = re.compile(r"/photos/(\d+)/")
# iNaturalist's photo attribution: "(c) Alice Martin, some rights reserved (CC BY-NC)",
# "(c) alice, all rights reserved", "no rights reserved", "Alice, no known copyright restrictions (public domain)"
_ATTRIBUTION = re.compile(
    r"^\s*(?:\(c\)|©)?\s*(?P<name>.*?)\s*,\s*(?:some|all|no) rights reserved.*$"
    r"|^\s*(?:\(c\)|©)?\s*(?P<name2>.*?)\s*,\s*no known copyright restrictions.*$", re.IGNORECASE)


def attribution_holder(text) -> str | None:
    """The rights holder's name in an iNaturalist photo attribution (None when it names nobody)."""
    if not isinstance(text, str):
        return None
    m = _ATTRIBUTION.match(text)
    if not m:
        return text.strip() or None
    name = (m.group("name") if m.group("name") is not None else m.group("name2")) or ""
    return name.strip() or None


def multimedia_frame(obs: pd.DataFrame, occurrence: pd.DataFrame, public_mode: bool) -> pd.DataFrame:
    """One Simple Multimedia row per observation photo, with its own licence and rights
    holder (the name in the photo's attribution, else the observer). Photos without an open licence
    are left out: their URL may not be republished."""
    url = obs["photo_url"].fillna("").astype(str)
    licence = obs["photo_license"].fillna("").astype(str).str.lower()
    keep = (url != "") & licence.isin(list(LICENSE_URLS))
    obs, occurrence, url, licence = obs[keep], occurrence[keep], url[keep], licence[keep]
    original = url.str.replace(r"/(square|small|medium|large|thumb)\.", "/original.", regex=True)
    photo_id = url.str.extract(_PHOTO_ID, expand=False)
    attribution = _optional(obs, "photo_attribution")
    holder = occurrence["rightsHolder"].where(occurrence["rightsHolder"] != "", None)
    if not public_mode:
        named = attribution.map(attribution_holder)
        holder = named.where(named.notna(), holder)
    fmt = original.str.extract(r"\.(jpe?g|png|gif)(?:\?|$)", expand=False).str.lower().map(
        {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"})
    columns = {
        "coreid": occurrence["occurrenceID"], "type": pd.Series("StillImage", index=obs.index),
        "format": fmt, "identifier": original,
        "references": ("https://www.inaturalist.org/photos/" + photo_id).where(photo_id.notna(), None),
        "creator": occurrence["recordedBy"], "publisher": pd.Series("iNaturalist", index=obs.index),
        "license": licence.map(LICENSE_URLS), "rightsHolder": holder,
    }
    return pd.DataFrame({term: _col(values, obs.index, term in FREE_TEXT) for term, values in columns.items()},
                        index=obs.index)


def meta_xml(with_media: bool) -> bytes:
    ET.register_namespace("", TEXT_NS)
    archive = ET.Element(f"{{{TEXT_NS}}}archive", {"metadata": "eml.xml"})

    def table(tag: str, row_type: str, location: str, terms, id_tag: str) -> None:
        el = ET.SubElement(archive, f"{{{TEXT_NS}}}{tag}", {
            "encoding": "UTF-8", "fieldsTerminatedBy": "\\t", "linesTerminatedBy": "\\n",
            "fieldsEnclosedBy": "", "ignoreHeaderLines": "1", "rowType": row_type,
        })
        files = ET.SubElement(el, f"{{{TEXT_NS}}}files")
        ET.SubElement(files, f"{{{TEXT_NS}}}location").text = location
        ET.SubElement(el, f"{{{TEXT_NS}}}{id_tag}", {"index": "0"})
        for i, (term, ns) in enumerate(terms):
            if ns:
                ET.SubElement(el, f"{{{TEXT_NS}}}field", {"index": str(i), "term": TERM_URIS.get(term, ns + term)})

    table("core", DWC + "Occurrence", "occurrence.txt", TERMS, "id")
    if with_media:
        table("extension", MULTIMEDIA_ROW, "multimedia.txt", MEDIA_TERMS, "coreid")
    ET.indent(archive)
    return ET.tostring(archive, encoding="utf-8", xml_declaration=True)


def _lines(frame: pd.DataFrame, terms) -> bytes:
    """The tab-separated file, header first, without quoting (values hold no tab nor line
    break: :func:`_col`)."""
    rows = ["\t".join(term for term, _ in terms)]
    rows += ["\t".join(r) for r in frame.to_numpy(dtype=object).tolist()]
    return ("\n".join(rows) + "\n").encode("utf-8")


def write_dwca(obs: pd.DataFrame, out: Path, territory: dict, selection: str, public_mode: bool,
               contact: dict | None = None, profile: str | None = None) -> list[str]:
    """Write the archive to ``out``; returns notes worth telling the user."""
    name = territory.get("name") or "biodiv"
    frame = occurrence_frame(obs, public_mode, f"Observations iNaturalist — {name}")
    media = multimedia_frame(obs, frame, public_mode)
    occurrences = _lines(frame, TERMS)
    multimedia = _lines(media, MEDIA_TERMS) if len(media) else b""
    package_id = (f"{dataset_uuid(territory, selection, public_mode, profile)}/"
                  f"{dataset_version(obs, occurrences + multimedia)}")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("occurrence.txt", occurrences)
        if len(media):
            zf.writestr("multimedia.txt", multimedia)
        zf.writestr("meta.xml", meta_xml(bool(len(media))))
        zf.writestr("eml.xml", eml_xml(obs, territory, selection, contact, package_id))
    notes = []
    no_license = int(obs["license_code"].isna().sum())
    if no_license:
        notes.append(f"{no_license} record(s) have no licence (all rights reserved): GBIF will not accept them")
    return notes
