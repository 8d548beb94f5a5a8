"""Pure converters from iNaturalist records (API v2 selection, or v1) to database rows (no I/O).

Every field read here is one of :data:`biodiv.inat.fields.OBSERVATION_FIELDS` (a test
checks it): v2 answers carry only those, and v1 records are projected to them before
they are stored, so both read the same way.

Why tolerant: real responses vary (coordinates as strings, ``location`` as a
"lat,lng" string or, once post-processed, a list; timestamps with a ``T`` or a space;
missing taxon, private locations without coordinates, fields added by iNaturalist
over time). A record we cannot fully read is still stored with what could be read:
the raw JSON is kept alongside, so nothing is lost and a new column never needs a
re-harvest.
"""

from __future__ import annotations

import json
import zlib
from datetime import date, datetime, timezone
from typing import Any, Iterable

# Ranks whose names are copied onto every descendant taxon row.
LINEAGE_RANKS = ("kingdom", "phylum", "class", "order", "family", "genus")
SPECIES_RANK_LEVEL = 10

# IUCN levels as iNaturalist encodes them in conservation statuses.
IUCN_CODES = {0: "NE", 5: "DD", 10: "LC", 20: "NT", 30: "VU", 40: "EN", 50: "CR", 60: "EW", 70: "EX"}
THREATENED_IUCN = {"VU", "EN", "CR"}

OBSERVATION_COLUMNS = (
    "id", "uuid", "observed_on", "observed_at", "created_at", "updated_at", "quality_grade",
    "taxon_id", "lon", "lat", "positional_accuracy", "geoprivacy", "taxon_geoprivacy", "obscured",
    "captive", "place_guess", "user_id", "user_login", "license_code", "photo_url", "photo_license",
    "uri", "identifications_count", "identifications_agree", "identifications_disagree",
    # migration 006
    "user_name", "time_zone", "photo_attribution", "identified_by", "identified_at",
    # migration 008
    "description",
)

TAXON_COLUMNS = (
    "id", "name", "common_name_fr", "rank", "rank_level", "iconic_taxon_name", "ancestor_ids",
    "species_id", "conservation_status", "threatened", "endemic", "introduced", "native",
    "photo_url", "wikipedia_url",
)


# ---------------------------------------------------------------------------
# small readers
# ---------------------------------------------------------------------------

def to_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None


def to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # drop NaN


def to_bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "t", "1", "yes"):
            return True
        if low in ("false", "f", "0", "no", ""):
            return False
        return None
    return bool(value)


def to_str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def parse_datetime(value: Any) -> datetime | None:
    """ISO 8601 with ``T`` or a space, with or without offset (naive = UTC) -> aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def parse_date(value: Any) -> date | None:
    """``observed_on``: a date, or a timestamp whose local date part is kept as written."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def parse_coordinates(obs: dict) -> tuple[float | None, float | None]:
    """(lon, lat) from ``geojson.coordinates`` (numbers or strings), else ``location``.

    ``location`` is "lat,lng" in raw API output and ``[lat, lng]`` once post-processed.
    Out-of-range values are treated as missing rather than stored wrong.
    """
    lon = lat = None
    geo = obs.get("geojson")
    if isinstance(geo, dict):
        coords = geo.get("coordinates")
        if isinstance(coords, (list, tuple)) and len(coords) >= 2:
            lon, lat = to_float(coords[0]), to_float(coords[1])
    if lon is None or lat is None:
        loc = obs.get("location")
        parts: Iterable[Any] | None = None
        if isinstance(loc, str) and "," in loc:
            parts = loc.split(",")
        elif isinstance(loc, (list, tuple)):
            parts = loc
        if parts is not None:
            parts = list(parts)
            if len(parts) >= 2:
                lat, lon = to_float(parts[0]), to_float(parts[1])
    if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None, None
    return lon, lat


def photo_url(photo: dict | None) -> str | None:
    """A small rendition: ``square_url`` / ``url`` (square), or a square/small URL derived from it."""
    if not isinstance(photo, dict):
        return None
    url = photo.get("square_url") or photo.get("small_url") or photo.get("url")
    if not url:
        return None
    url = str(url)
    for big in ("/original.", "/large.", "/medium."):
        if big in url:
            return url.replace(big, "/square.")
    return url


# ---------------------------------------------------------------------------
# observations
# ---------------------------------------------------------------------------

def unreadable_values(obs: dict) -> dict[str, str]:
    """The fields of a record that hold a value but not a readable one (field -> the value):
    ``observed_on = "2024-13-45"``, ``positional_accuracy = "huge"``. They are stored as NULL;
    the harvest says so in its run log instead of losing them silently."""
    out: dict[str, str] = {}
    for key in ("observed_on",):
        value = obs.get(key)
        if value not in (None, "") and parse_date(value) is None:
            out[key] = str(value)[:40]
    for key in ("positional_accuracy", "public_positional_accuracy"):
        value = obs.get(key)
        if value not in (None, "") and (to_float(value) is None or not 0 <= to_float(value) < float("inf")):
            out[key] = str(value)[:40]
    return out


def parse_observation(obs: dict) -> dict[str, Any]:
    """One ``observations`` row (without harvest bookkeeping columns)."""
    lon, lat = parse_coordinates(obs)
    taxon = obs.get("taxon") if isinstance(obs.get("taxon"), dict) else None
    user = obs.get("user") if isinstance(obs.get("user"), dict) else {}
    photos = obs.get("photos") if isinstance(obs.get("photos"), list) else []
    if not photos and isinstance(obs.get("observation_photos"), list):
        photos = [op.get("photo") for op in obs["observation_photos"] if isinstance(op, dict)]
    first_photo = photos[0] if photos and isinstance(photos[0], dict) else None
    geoprivacy = to_str(obs.get("geoprivacy"))
    taxon_geoprivacy = to_str(obs.get("taxon_geoprivacy"))
    obscured = bool(to_bool(obs.get("obscured"))) or "obscured" in (geoprivacy, taxon_geoprivacy)
    accuracy = to_float(obs.get("public_positional_accuracy"))
    if accuracy is None and "public_positional_accuracy" not in obs and not obscured:
        accuracy = to_float(obs.get("positional_accuracy"))
    taxon_id = to_int(taxon.get("id")) if taxon else to_int(obs.get("taxon_id"))
    identified_by, identified_at = identification_of(obs, taxon_id)
    return {
        "id": to_int(obs.get("id")),
        "uuid": to_str(obs.get("uuid")),
        "observed_on": parse_date(obs.get("observed_on")),
        "observed_at": observed_at(obs),
        "created_at": parse_datetime(obs.get("created_at")),
        "updated_at": parse_datetime(obs.get("updated_at")),
        "quality_grade": to_str(obs.get("quality_grade")),
        "taxon_id": taxon_id,
        "lon": lon,
        "lat": lat,
        "positional_accuracy": accuracy,
        "geoprivacy": geoprivacy,
        "taxon_geoprivacy": taxon_geoprivacy,
        "obscured": obscured,
        "captive": to_bool(obs.get("captive")),
        "place_guess": to_str(obs.get("place_guess")),
        "description": to_str(obs.get("description")) or None,     # v1 sends "" for none
        "user_id": to_int(user.get("id")) if user else to_int(obs.get("user_id")),
        "user_login": to_str(user.get("login")) if user else to_str(obs.get("user_login")),
        "license_code": to_str(obs.get("license_code")),
        "photo_url": photo_url(first_photo),
        "photo_license": to_str(first_photo.get("license_code")) if first_photo else None,
        "uri": to_str(obs.get("uri")) or observation_uri(obs.get("id")),
        "identifications_count": to_int(obs.get("identifications_count")),
        "identifications_agree": to_int(obs.get("num_identification_agreements")),
        "identifications_disagree": to_int(obs.get("num_identification_disagreements")),
        "user_name": (to_str(user.get("name")) or None) if user else None,
        "time_zone": to_str(obs.get("observed_time_zone")) or None,
        "photo_attribution": to_str(first_photo.get("attribution")) if first_photo else None,
        "identified_by": identified_by,
        "identified_at": identified_at,
    }


def observation_uri(oid: Any) -> str | None:
    """The observation's page, which API v2 is not asked for (it follows from the id)."""
    oid = to_int(oid)
    return f"https://www.inaturalist.org/observations/{oid}" if oid is not None else None


def observed_at(obs: dict) -> datetime | None:
    """When the organism was seen (UTC): ``time_observed_at``, else an ``observed_on``
    that carries a time (API v2 sends a local timestamp there); a bare date is no time."""
    when = parse_datetime(obs.get("time_observed_at"))
    if when is None:
        text = obs.get("observed_on")
        if isinstance(text, str) and len(text.strip()) > 10:
            when = parse_datetime(text)
    return when


def identification_of(obs: dict, taxon_id: int | None) -> tuple[str | None, datetime | None]:
    """Darwin Core ``identifiedBy`` / ``dateIdentified``: the earliest current identification
    of the observation's taxon (its author's display name, else login, and its date).

    None when no current identification names that taxon (e.g. a community taxon above
    every identifier's choice).
    """
    idents = obs.get("identifications")
    if taxon_id is None or not isinstance(idents, list):
        return None, None
    best: tuple[datetime, str | None] | None = None
    for ident in idents:
        if not isinstance(ident, dict) or to_bool(ident.get("current")) is False:
            continue
        taxon = ident.get("taxon")
        tid = to_int(taxon.get("id")) if isinstance(taxon, dict) else to_int(ident.get("taxon_id"))
        when = parse_datetime(ident.get("created_at"))
        if tid != taxon_id or when is None:
            continue
        if best is None or when < best[0]:
            user = ident.get("user") if isinstance(ident.get("user"), dict) else {}
            best = (when, to_str(user.get("name")) or to_str(user.get("login")) or None)
    return (best[1], best[0]) if best else (None, None)


# ``observation_raw.raw`` is the canonical record (:func:`biodiv.inat.fields.project`) as
# compact JSON, zlib-compressed with a preset dictionary: a ~2 KB record shares its keys
# and URL prefixes with every other, which plain per-record zlib cannot exploit (real
# records: ~900 B with zlib alone, ~430 B with the dictionary). The dictionary is frozen:
# a stored blob names it by its Adler-32 (zlib's FDICT header), so a new dictionary is
# added to RAW_DICTIONARIES, never edited in place. Blobs without FDICT (biodiv < 006:
# whole v1 records, and the demo's) still decompress. Records are compared as text
# (:func:`biodiv.inat.db.upsert_observations`), so the level can change freely.
RAW_ZLIB_LEVEL = 6
RAW_DICTIONARY = (
    '"needs_id","casual","obscured","private",false,true,null,"Insecta","Aves","Fungi","Anima'
    'lia","genus","subspecies","Etc/UTC","+02:00","+01:00","cc-by-sa","cc0",all rights reserv'
    'ed (CC BY-NC-SA),"square.jpg?/square.jpeg?{"id":1,"uuid":"0000-","observed_on":"2024-05-'
    '01","time_observed_at":"2024-05-01T10:00:00+00:00","observed_time_zone":"Europe/Paris","'
    'created_at":"2024-05-01T12:00:00+00:00","updated_at":"2024-05-02T08:00:00+00:00","geojso'
    'n":{"coordinates":[3.5,43.6],"type":"Point"},"positional_accuracy":null,"public_position'
    'al_accuracy":null,"geoprivacy":null,"taxon_geoprivacy":"open","obscured":false,"quality_'
    'grade":"research","captive":false,"place_guess":"France","uri":"https://www.inaturalist.'
    'org/observations/","license_code":"cc-by-nc","identifications_count":1,"num_identificati'
    'on_agreements":1,"num_identification_disagreements":0,"taxon":{"id":1,"name":"","rank":"'
    'species","rank_level":10,"iconic_taxon_name":"Plantae","ancestor_ids":[48460,1,47126,211'
    '194,47125,47124],"preferred_common_name":"","min_species_taxon_id":1,"threatened":false,'
    '"endemic":false,"introduced":false,"native":true,"wikipedia_url":"http://fr.wikipedia.or'
    'g/wiki/","default_photo":{"square_url":"https://inaturalist-open-data.s3.amazonaws.com/p'
    'hotos/"},"conservation_status":{"status":"","status_name":"","iucn":10,"authority":"","p'
    'lace_id":6753}},"user":{"id":1,"login":"","name":null},"photos":[{"url":"https://static.'
    'inaturalist.org/photos/","license_code":"cc-by","attribution":"(c) , some rights reserve'
    'd (CC BY)"}],"identifications":[{"current":true,"created_at":"2024-05-01T12:00:00+00:00"'
    ',"taxon":{"id":1},"user":{"login":"","name":null}}]}'
).encode("utf-8")
RAW_DICTIONARIES = {zlib.adler32(RAW_DICTIONARY): RAW_DICTIONARY}
_RAW_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def raw_json(record: dict) -> bytes:
    """The record as compact JSON: what is stored, and what "changed" compares."""
    return _RAW_ENCODER.encode(record).encode("utf-8")


def compress_text(text: bytes) -> bytes:
    packer = zlib.compressobj(RAW_ZLIB_LEVEL, zdict=RAW_DICTIONARY)
    return packer.compress(text) + packer.flush()


def decompress_text(blob: bytes) -> bytes:
    """A stored blob back to JSON text, with the dictionary its header names (if any)."""
    if len(blob) >= 6 and blob[1] & 0x20:
        dictionary = RAW_DICTIONARIES.get(int.from_bytes(blob[2:6], "big"))
        if dictionary is None:
            raise ValueError("observation_raw blob compressed with an unknown dictionary")
        unpacker = zlib.decompressobj(zdict=dictionary)
        return unpacker.decompress(blob) + unpacker.flush()
    return zlib.decompress(blob)


def is_legacy_blob(blob: bytes) -> bool:
    """A blob written before migration 006 (plain zlib, no dictionary): a whole v1 record."""
    return not (len(blob) >= 6 and blob[1] & 0x20)


def compress_raw(record: dict) -> bytes:
    """The raw API record as zlib-compressed compact JSON (``observation_raw.raw``)."""
    return compress_text(raw_json(record))


def decompress_raw(blob: bytes) -> dict:
    """A stored ``observation_raw.raw`` back to the API record."""
    return json.loads(decompress_text(blob).decode("utf-8"))


def observation_taxon(obs: dict) -> dict | None:
    """The full taxon record embedded in an observation, if any."""
    taxon = obs.get("taxon")
    return taxon if isinstance(taxon, dict) and to_int(taxon.get("id")) is not None else None


# ---------------------------------------------------------------------------
# taxa
# ---------------------------------------------------------------------------

def _ancestor_ids(taxon: dict) -> list[int]:
    raw = taxon.get("ancestor_ids")
    if isinstance(raw, list):
        ids = [to_int(x) for x in raw]
    else:
        ancestry = taxon.get("ancestry") or taxon.get("min_species_ancestry")
        ids = [to_int(x) for x in str(ancestry).replace(",", "/").split("/")] if ancestry else []
    ids = [i for i in ids if i is not None]
    own = to_int(taxon.get("id"))
    if own is not None and (not ids or ids[-1] != own):
        ids.append(own)
    return ids


def _statuses(taxon: dict) -> list[dict]:
    found = []
    many = taxon.get("conservation_statuses")
    if isinstance(many, list):
        found.extend(s for s in many if isinstance(s, dict))
    one = taxon.get("conservation_status")
    if isinstance(one, dict) and not found:
        found.append(one)
    return found


def iucn_code(status: dict) -> str | None:
    level = to_int(status.get("iucn"))
    return IUCN_CODES.get(level) if level is not None else None


def parse_taxon(taxon: dict) -> dict[str, Any]:
    """One ``taxa`` row, without the lineage names (filled from stored ancestors by
    :func:`biodiv.inat.db.resolve_lineages`)."""
    tid = to_int(taxon.get("id"))
    rank = to_str(taxon.get("rank"))
    rank_level = to_float(taxon.get("rank_level"))
    ancestors = _ancestor_ids(taxon)
    species_id = None
    if rank == "species":
        species_id = tid
    elif rank_level is not None and rank_level < SPECIES_RANK_LEVEL:
        # below species: the species is the deepest ancestor of species rank, which the
        # API also gives as min_species_taxon_id
        species_id = to_int(taxon.get("min_species_taxon_id"))
        if species_id == tid:
            species_id = None
    statuses = _statuses(taxon)
    best = max(statuses, key=lambda s: to_int(s.get("iucn")) or 0, default=None)
    conservation = None
    if best is not None:
        conservation = iucn_code(best) if (to_int(best.get("iucn")) or 0) > 0 else None
        conservation = conservation or to_str(best.get("status"))
    default_photo = taxon.get("default_photo") if isinstance(taxon.get("default_photo"), dict) else None
    threatened = to_bool(taxon.get("threatened"))
    if threatened is None and statuses:
        threatened = any(iucn_code(s) in THREATENED_IUCN for s in statuses)
    common = taxon.get("preferred_common_name")
    return {
        "id": tid,
        "name": to_str(taxon.get("name")),
        "common_name_fr": to_str(common) if common else None,
        "rank": rank,
        "rank_level": rank_level,
        "iconic_taxon_name": to_str(taxon.get("iconic_taxon_name")),
        "ancestor_ids": ancestors,
        "species_id": species_id,
        "conservation_status": conservation,
        "threatened": threatened,
        "endemic": to_bool(taxon.get("endemic")),
        "introduced": to_bool(taxon.get("introduced")),
        "native": to_bool(taxon.get("native")),
        "photo_url": photo_url(default_photo),
        "wikipedia_url": to_str(taxon.get("wikipedia_url")),
    }


def taxon_status_rows(taxon: dict) -> list[dict[str, Any]]:
    """``taxon_statuses`` rows (source ``inaturalist``) from a taxon's conservation statuses.

    kind is ``threatened`` for IUCN-equivalent VU/EN/CR, ``other`` for the rest; the code
    is the IUCN equivalent when iNaturalist gives one, else the authority's own status.
    iNaturalist never says whether a taxon is *protected* (that comes from INPN).
    """
    tid = to_int(taxon.get("id"))
    rows: dict[tuple, dict] = {}
    for status in _statuses(taxon):
        code = iucn_code(status) if (to_int(status.get("iucn")) or 0) > 0 else None
        code = code or to_str(status.get("status"))
        if not code or tid is None:
            continue
        place = status.get("place") if isinstance(status.get("place"), dict) else None
        scope = to_str((place or {}).get("display_name") or (place or {}).get("name")) or ""
        if not place and status.get("place_id"):
            scope = f"place {status.get('place_id')}"
        label = " — ".join(x for x in (to_str(status.get("status_name")) or to_str(status.get("status")),
                                        to_str(status.get("authority"))) if x)
        row = {
            "taxon_id": tid,
            "source": "inaturalist",
            "kind": "threatened" if code in THREATENED_IUCN else "other",
            "code": code,
            "label": label or None,
            "scope": scope,
            "ref_id": to_str(status.get("id")),
        }
        rows.setdefault((tid, code, scope), row)
    return list(rows.values())


def taxa_in_record(taxon: dict) -> list[dict]:
    """The taxon and the full ancestor records a ``/taxa/{id}`` answer embeds."""
    out = [taxon]
    for anc in taxon.get("ancestors") or []:
        if isinstance(anc, dict) and to_int(anc.get("id")) is not None:
            out.append(anc)
    return out
