"""The iNaturalist fields biodiv uses, written once: what is asked, stored and parsed.

Why one nested structure: API v2 returns only ``uuid`` unless a ``fields`` selection
says what to send, and its selection is nested exactly like the records
(``{"taxon": {"name": True}}``; a selection under a list applies to each element). The
same structure is

- sent to ``/v2/observations`` (:data:`OBSERVATION_FIELDS`, JSON body of a POST with
  ``X-HTTP-Method-Override: GET``, as ``pyinaturalist.v2.get_observations`` does);
- applied by :func:`project` to every record before it is stored, whichever API version
  answered (a v1 fallback, an old v1 record re-encoded by :mod:`biodiv.inat.reencode`,
  or a v2 server sending more than asked): what ``observation_raw`` keeps, and what
  "changed" compares, is the same canonical record;
- checked by :func:`check_record` (a selected field of the wrong type is refused before
  anything of its page is stored);
- read by :mod:`biodiv.inat.parse`, which only reads fields listed here (a test checks it).

``True`` selects a field whole (a scalar, or ``geojson`` as sent); a dict selects
sub-fields. The kinds in :data:`KINDS` say what type each selected scalar may have.
"""

from __future__ import annotations

from typing import Any

# Taxon sub-fields: what biodiv.inat.parse.parse_taxon reads (names, rank, lineage, the
# iNaturalist flags, a square photo, Wikipedia) plus the conservation status iNaturalist
# embeds in an observation's taxon when it has one.
TAXON_FIELDS: dict[str, Any] = {
    "id": True,
    "name": True,
    "rank": True,
    "rank_level": True,
    "iconic_taxon_name": True,
    "ancestor_ids": True,
    "preferred_common_name": True,
    "min_species_taxon_id": True,
    "threatened": True,
    "endemic": True,
    "introduced": True,
    "native": True,
    "wikipedia_url": True,
    "default_photo": {"square_url": True},
    "conservation_status": {"status": True, "status_name": True, "iucn": True, "authority": True,
                            "place_id": True},
}

OBSERVATION_FIELDS: dict[str, Any] = {
    "id": True,
    "uuid": True,
    "observed_on": True,
    "time_observed_at": True,
    "observed_time_zone": True,        # IANA name, e.g. Europe/Paris
    "created_at": True,
    "updated_at": True,
    "geojson": True,                   # {"type": "Point", "coordinates": [lon, lat]}
    "positional_accuracy": True,
    "public_positional_accuracy": True,
    "geoprivacy": True,
    "taxon_geoprivacy": True,
    "obscured": True,
    "quality_grade": True,
    "captive": True,
    "place_guess": True,
    "description": True,                # the observer's notes: Darwin Core occurrenceRemarks
    "license_code": True,               # (uri is not asked: it is derived from the id)
    "identifications_count": True,
    "num_identification_agreements": True,
    "num_identification_disagreements": True,
    "taxon": TAXON_FIELDS,
    "user": {"id": True, "login": True, "name": True},
    # every photo's three fields (v2 cannot select "the first"); only the first is read
    "photos": {"url": True, "license_code": True, "attribution": True},
    # Darwin Core identifiedBy / dateIdentified: who identified the observation's taxon, when
    "identifications": {"current": True, "created_at": True, "taxon": {"id": True},
                        "user": {"login": True, "name": True}},
}

# ``/v2/taxa/{ids}`` (ancestors missing from the store): the taxon fields, every
# conservation status with its place (biodiv.inat.parse.taxon_status_rows), and the
# ancestors with the same descriptive fields, so that one answer brings a whole lineage.
_TAXON_DESCRIPTION = {k: v for k, v in TAXON_FIELDS.items() if k != "conservation_status"}
TAXA_FIELDS: dict[str, Any] = _TAXON_DESCRIPTION | {
    "conservation_statuses": {"id": True, "status": True, "status_name": True, "iucn": True, "authority": True,
                              "place_id": True, "place": {"name": True, "display_name": True}},
    "ancestors": _TAXON_DESCRIPTION,
}

# Allowed JSON types of selected scalars (None is always allowed: iNaturalist sends null
# for what is unknown). Numbers may come as strings in v1 (coordinates, accuracies).
_NUM = (int, float, str)
_STR = (str,)
_BOOL = (bool,)
KINDS: dict[str, tuple[type, ...]] = {
    "id": (int,), "uuid": _STR, "observed_on": _STR, "time_observed_at": _STR, "observed_time_zone": _STR,
    "created_at": _STR, "updated_at": _STR, "geojson": (dict,), "positional_accuracy": _NUM,
    "public_positional_accuracy": _NUM, "geoprivacy": _STR, "taxon_geoprivacy": _STR, "obscured": _BOOL,
    "quality_grade": _STR, "captive": _BOOL, "place_guess": _STR, "description": _STR, "license_code": _STR,
    "identifications_count": _NUM, "num_identification_agreements": _NUM,
    "num_identification_disagreements": _NUM, "taxon": (dict,), "user": (dict,), "photos": (list,),
    "identifications": (list,),
}

# Allowed types of selected sub-fields, by dotted path (a path under a list applies to each
# element; ``photos[]`` is the type of the elements themselves). A sub-field of the wrong
# type would otherwise be read as unknown (a taxon id "abc" stored as no taxon, a 1.5 as
# taxon 1, coordinates "x" as a private observation): refused like a top-level one.
_INT = (int,)
_TAXON_KINDS = {
    "id": _INT, "name": _STR, "rank": _STR, "rank_level": _NUM, "iconic_taxon_name": _STR,
    "ancestor_ids": (list,), "preferred_common_name": _STR, "min_species_taxon_id": _INT,
    "threatened": _BOOL, "endemic": _BOOL, "introduced": _BOOL, "native": _BOOL, "wikipedia_url": _STR,
    "default_photo": (dict,), "default_photo.square_url": _STR, "conservation_status": (dict,),
    "conservation_status.status": _STR, "conservation_status.status_name": _STR,
    "conservation_status.iucn": _NUM, "conservation_status.authority": _STR, "conservation_status.place_id": _INT,
}
SUB_KINDS: dict[str, tuple[type, ...]] = {f"taxon.{k}": v for k, v in _TAXON_KINDS.items()} | {
    "user.id": _INT, "user.login": _STR, "user.name": _STR,
    "photos[]": (dict,), "photos.url": _STR, "photos.license_code": _STR, "photos.attribution": _STR,
    "identifications[]": (dict,), "identifications.current": _BOOL, "identifications.created_at": _STR,
    "identifications.taxon": (dict,), "identifications.taxon.id": _INT,
    "identifications.user": (dict,), "identifications.user.login": _STR, "identifications.user.name": _STR,
}

# Values iNaturalist documents for geoprivacy / taxon_geoprivacy (NULL = open).
GEOPRIVACY_VALUES = frozenset({"open", "obscured", "private"})

# Fields a record must carry (with a value) to be stored: without them it cannot be
# placed in the id-ordered cursor nor compared.
REQUIRED = ("id", "uuid", "updated_at")


def project(record: Any, fields: dict[str, Any] | bool = OBSERVATION_FIELDS) -> Any:
    """``record`` reduced to ``fields``, keys in selection order (the canonical record).

    Behaves as API v2's selection: nested, applied to each element of a list, absent
    keys left absent (a v2 answer omits nothing it was asked for; ``check_record``
    reports a missing one).
    """
    if fields is True:
        return record
    if isinstance(record, list):
        return [project(item, fields) for item in record]
    if not isinstance(record, dict):
        return record
    return {key: project(record[key], sub) for key, sub in fields.items() if key in record}


class RecordProblem(ValueError):
    """A record that does not match the selection (the message names the field)."""


def check_record(record: Any, require_all: bool = True, fields: dict[str, Any] = OBSERVATION_FIELDS,
                 kinds: dict[str, tuple[type, ...]] = KINDS,
                 sub_kinds: dict[str, tuple[type, ...]] = SUB_KINDS) -> None:
    """Raise :class:`RecordProblem` for a record missing a selected top-level field, a
    selected field or sub-field of the wrong type (:data:`KINDS`, :data:`SUB_KINDS`),
    ``geojson`` coordinates that are not a longitude and a latitude, or an unknown
    geoprivacy value. Sub-fields may be absent (v2 leaves out a taxon's
    ``conservation_status`` when there is none).

    ``require_all=False`` for v1 records, which omit some keys on older observations
    (e.g. ``taxon_geoprivacy``): only :data:`REQUIRED` must be there. A v2 answer sends
    every selected field (``null`` when unknown), so one missing means a broken answer.
    """
    if not isinstance(record, dict):
        raise RecordProblem(f"a result is a {type(record).__name__}, not an observation object")
    oid = record.get("id")
    for key in fields:
        if key not in record:
            if not require_all and key not in REQUIRED:
                continue
            raise RecordProblem(f"observation {oid}: selected field '{key}' is missing")
        value = record[key]
        if value is None:
            if key in REQUIRED:
                raise RecordProblem(f"observation {oid}: '{key}' is null")
            continue
        allowed = kinds.get(key)
        if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            raise RecordProblem(
                f"observation {oid}: '{key}' is a {type(value).__name__} ({_short(value)}), "
                f"expected {'/'.join(t.__name__ for t in allowed)}"
            )
    for key, (element_type, plan) in _plans(fields, sub_kinds).items():
        if record.get(key) is not None:
            _check_sub(oid, record[key], element_type, plan, key)
    _check_point(oid, record.get("geojson"))
    for key in ("geoprivacy", "taxon_geoprivacy"):
        value = record.get(key)
        if value is not None and value not in GEOPRIVACY_VALUES:
            raise RecordProblem(
                f"observation {oid}: unknown {key} value {_short(value)} "
                f"(known: {', '.join(sorted(GEOPRIVACY_VALUES))})"
            )


def _wrong(oid, path: str, value: Any, allowed: tuple[type, ...]) -> RecordProblem:
    return RecordProblem(
        f"observation {oid}: '{path}' is a {type(value).__name__} ({_short(value)}), "
        f"expected {'/'.join(t.__name__ for t in allowed)}"
    )


def _is(value: Any, allowed: tuple[type, ...]) -> bool:
    return isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)


def _plan(fields: dict[str, Any], path: str, sub_kinds: dict[str, tuple[type, ...]]) -> tuple:
    """The checks under ``path``, compiled once per selection: a tuple of
    ``(key, sub_path, allowed, element_type, children)`` (no path strings built per record)."""
    out = []
    for key, sub in fields.items():
        sub_path = f"{path}.{key}"
        children = _plan(sub, sub_path, sub_kinds) if isinstance(sub, dict) else None
        out.append((key, sub_path, sub_kinds.get(sub_path), sub_kinds.get(f"{sub_path}[]", (dict,)), children))
    return tuple(out)


_PLANS: dict[tuple[int, int], dict[str, tuple]] = {}


def _plans(fields: dict[str, Any], sub_kinds: dict[str, tuple[type, ...]]) -> dict[str, tuple]:
    key = (id(fields), id(sub_kinds))
    if key not in _PLANS:
        _PLANS[key] = {k: (sub_kinds.get(f"{k}[]", (dict,)), _plan(sub, k, sub_kinds))
                       for k, sub in fields.items() if isinstance(sub, dict)}
    return _PLANS[key]


def _check_sub(oid, value: Any, element_type: tuple[type, ...], plan: tuple, path: str) -> None:
    """The sub-fields of ``value`` (a selected object, or a list of them) against ``plan``."""
    if isinstance(value, list):
        for item in value:
            if item is None or not _is(item, element_type):
                raise _wrong(oid, f"{path}[]", item, element_type)
            _check_sub(oid, item, element_type, plan, path)
        return
    if not isinstance(value, dict):
        return          # the top-level kind check said what the value may be
    for key, sub_path, allowed, sub_element, children in plan:
        item = value.get(key)
        if item is None:
            continue
        if allowed is not None and not _is(item, allowed):
            raise _wrong(oid, sub_path, item, allowed)
        if sub_path == "taxon.ancestor_ids" and not all(_is(a, _INT) for a in item):
            raise RecordProblem(f"observation {oid}: 'taxon.ancestor_ids' holds a non-integer ({_short(item)})")
        if children is not None:
            _check_sub(oid, item, sub_element, children, sub_path)


def _check_point(oid, geojson: Any) -> None:
    """``geojson.coordinates``: [longitude, latitude], numbers or numeric strings (v1 sends
    strings), within ±180/±90. A point that is not one would be stored as "no coordinates"."""
    if not isinstance(geojson, dict) or geojson.get("coordinates") is None:
        return
    coords = geojson["coordinates"]
    try:
        if not isinstance(coords, list) or len(coords) != 2 or any(isinstance(c, bool) for c in coords):
            raise ValueError
        lon, lat = (float(c) for c in coords)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):   # also false for NaN
            raise ValueError
    except (TypeError, ValueError):
        raise RecordProblem(
            f"observation {oid}: 'geojson.coordinates' is not a longitude and a latitude ({_short(coords)})"
        ) from None


def rison(fields: dict[str, Any]) -> str:
    """A selection as RISON, the form ``GET`` requests of API v2 take in ``fields``:
    ``{"id": True, "taxon": {"name": True}}`` -> ``(id:!t,taxon:(name:!t))``."""
    parts = []
    for key, sub in fields.items():
        parts.append(f"{key}:{'!t' if sub is True else rison(sub)}")
    return "(" + ",".join(parts) + ")"


def selected_paths(fields: dict[str, Any] = OBSERVATION_FIELDS, prefix: str = "") -> list[str]:
    """Every selected path, dotted (``taxon.default_photo.square_url``): for docs and tests."""
    out = []
    for key, sub in fields.items():
        path = f"{prefix}{key}"
        out.append(path)
        if isinstance(sub, dict):
            out.extend(selected_paths(sub, path + "."))
    return out


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
