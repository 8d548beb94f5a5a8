"""The territory: which communes it is made of, and its outline.

Why it is data, not code: any French EPCI (or any list of communes) must work, so the
territory is resolved once by ``biodiv init`` — from geo.api.gouv.fr, from an offline
``@etalab/decoupage-administratif`` ``epci.json``, or from an explicit list of INSEE
codes — and stored in the config file and in the one-row ``territory`` table. Its outline
is the union of its member communes once their boundaries are loaded; membership is
always decided on the INSEE code, never on a name (names change, codes are stable).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

import duckdb

from biodiv.attach import crs
from biodiv.attach.crs import territory_crs
from biodiv.attach.links import refresh_territory_flags
from biodiv.errors import BiodivError

INSEE_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
SIREN_RE = re.compile(r"^\d{9}$")


class TerritoryError(BiodivError):
    pass


# ---------------------------------------------------------------------------
# Pure parsing
# ---------------------------------------------------------------------------

def parse_insee_codes(text: str | Iterable[str]) -> list[str]:
    """``"34114, 34120"`` -> ``["34114", "34120"]`` (validated, order kept, duplicates dropped)."""
    items = text.replace(";", ",").split(",") if isinstance(text, str) else list(text)
    codes: list[str] = []
    for raw in items:
        code = str(raw).strip().upper()
        if not code:
            continue
        if not INSEE_RE.match(code):
            raise TerritoryError(f"{code!r} is not an INSEE commune code (5 characters, e.g. 34114 or 2A004)")
        if code not in codes:
            codes.append(code)
    if not codes:
        raise TerritoryError("no INSEE commune code given")
    return codes


# Departments with INSEE commune codes: metropolitan 01–95 (20 split into 2A/2B in 1976),
# the overseas departments 971–976 and the collectivities that have codes (975, 977, 978, 98x).
DEPARTMENTS = frozenset(
    {f"{i:02d}" for i in range(1, 96) if i != 20} | {"2A", "2B"}
    | {"971", "972", "973", "974", "975", "976", "977", "978", "984", "986", "987", "988", "989"}
)
COMMUNES_FILE_HINT = "pass --communes-file communes.json (@etalab/decoupage-administratif) to check them offline"


def department_code(insee_code: str) -> str:
    return insee_code[:3] if insee_code[:2] in ("97", "98") else insee_code[:2]


def check_departments(codes: list[str]) -> None:
    """Refuse codes of a department that does not exist (``00000``, ``20004``): true
    without any list, so checked always."""
    bad = [c for c in codes if department_code(c) not in DEPARTMENTS]
    if bad:
        raise TerritoryError(
            f"{', '.join(bad[:10])}{', ...' if len(bad) > 10 else ''}: no such INSEE commune code "
            f"(no department {department_code(bad[0])}; codes start with 01–95, 2A, 2B or 971–989)"
        )


def _read_json(path: Path, what: str):
    """The parsed JSON of a local reference file, or a one-line TerritoryError."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TerritoryError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TerritoryError(f"{what} {path} is not readable JSON ({str(exc).splitlines()[0]})") from None


def read_communes_file(path: Path | str) -> list[dict]:
    """The records of an ``@etalab/decoupage-administratif`` ``communes.json``
    (``{code, nom, type, departement, chefLieu?, ...}``)."""
    path = Path(path)
    records = _read_json(path, "communes file")
    if not isinstance(records, list) or not all(isinstance(r, dict) and "code" in r for r in records):
        raise TerritoryError(f"{path} is not a decoupage-administratif communes.json (a list of {{code, nom, type}})")
    return records


def check_codes_in_list(codes: list[str], records: list[dict], label: str) -> list[str]:
    """Check codes against the official commune list; returns warnings, raises for codes
    that do not exist.

    A code is refused only when the list covers its department (a file may hold one
    department); codes of other departments are warned as unchecked. A *commune déléguée*
    or *associée* is accepted with a warning: boundaries and iNaturalist places follow the
    current commune (``chefLieu``)."""
    by_code: dict[str, dict] = {}
    for rec in records:
        by_code.setdefault(str(rec["code"]), rec)
        if rec.get("type") == "commune-actuelle":
            by_code[str(rec["code"])] = rec
    covered = {str(r.get("departement") or department_code(str(r["code"]))) for r in records}
    unknown = [c for c in codes if c not in by_code and department_code(c) in covered]
    if unknown:
        raise TerritoryError(
            f"unknown INSEE commune code(s) {', '.join(unknown[:10])}{', ...' if len(unknown) > 10 else ''} "
            f"(not in the official list {label}): check them"
        )
    warnings = []
    unchecked = [c for c in codes if department_code(c) not in covered]
    if unchecked:
        warnings.append(f"{', '.join(unchecked[:10])} not checked: {label} has no commune of their department")
    for c in codes:
        rec = by_code.get(c)
        if rec and rec.get("type") not in (None, "commune-actuelle"):
            kind = str(rec["type"]).replace("commune-", "commune ").replace("deleguee", "déléguée")
            warnings.append(
                f"{c} ({rec.get('nom')}) is a {kind} of {rec.get('chefLieu') or '?'}: boundaries and "
                "observations follow the current commune, list its code instead"
            )
    return warnings


def outdated_codes(codes: list[str], records: list[dict], label: str) -> list[str]:
    """Warnings for the codes of a commune layer that are no longer communes in the official
    list (``@etalab/decoupage-administratif`` ``communes.json``): merged ones (now a *commune
    déléguée* or *associée*) with the commune that replaced them, vanished ones alone. Why: an
    outdated layer (a 2018 file holding Priaires, 79219, merged into Val-du-Mignon, 79334)
    leaves the territory's current member without a boundary and its observations flagged
    outside, without a word. Codes of departments the list does not cover are not judged."""
    current: dict[str, dict] = {}
    other: dict[str, dict] = {}
    for rec in records:
        code = str(rec.get("code"))
        if rec.get("type") in (None, "commune-actuelle"):
            current[code] = rec
        else:
            other.setdefault(code, rec)
    covered = {str(r.get("departement") or department_code(str(r.get("code")))) for r in records}
    gone = []
    for code in sorted(set(codes)):
        if code in current or department_code(code) not in covered:
            continue
        rec = other.get(code)
        if rec is not None:
            head = str(rec.get("chefLieu") or "")
            name = (current.get(head) or {}).get("nom") or "?"
            gone.append(f"{code} ({rec.get('nom')}) → {head or '?'} ({name})")
        else:
            gone.append(f"{code} (no longer in the list)")
    if not gone:
        return []
    return [f"{len(gone)} commune code(s) of this layer no longer exist in the official list {label}: "
            f"{', '.join(gone[:10])}{', ...' if len(gone) > 10 else ''}: the layer is older than the list, so "
            "the current communes' boundaries may be missing or wrong and observations in the old ones "
            "flagged outside the territory; import a current layer (`biodiv areas fetch`, or a newer file)"]


def check_siren(siren: str) -> str:
    siren = str(siren).strip()
    if not SIREN_RE.match(siren):
        raise TerritoryError(f"{siren!r} is not an EPCI SIREN number (9 digits, e.g. 243400694)")
    return siren


def epci_from_records(records: object, siren: str) -> tuple[str, list[str]]:
    """Find an EPCI in ``@etalab/decoupage-administratif`` ``epci.json`` records
    (a list of ``{code, nom, type, membres: [{code, nom, ...}]}``)."""
    if not isinstance(records, list):
        raise TerritoryError("the EPCI file is not a decoupage-administratif epci.json (expected a list)")
    for rec in records:
        if isinstance(rec, dict) and str(rec.get("code")) == siren:
            members = rec.get("membres") or []
            codes = [str(m["code"]) for m in members if isinstance(m, dict) and m.get("code")]
            if not codes:
                raise TerritoryError(f"EPCI {siren} has no member communes in the EPCI file")
            return str(rec.get("nom") or f"EPCI {siren}"), codes
    raise TerritoryError(f"no EPCI with SIREN {siren} in the EPCI file")


def epci_from_file(path: Path | str, siren: str) -> tuple[str, list[str]]:
    """Name and member codes of EPCI ``siren`` from a local ``epci.json`` (offline init)."""
    path = Path(path)
    siren = check_siren(siren)
    records = _read_json(path, "EPCI file")
    try:
        return epci_from_records(records, siren)
    except TerritoryError as exc:
        raise TerritoryError(f"{exc} ({path})") from None


# ---------------------------------------------------------------------------
# Remote resolution
# ---------------------------------------------------------------------------

def resolve_epci(cfg, siren: str) -> tuple[str, list[str]]:
    """Name and member INSEE codes of EPCI ``siren`` from geo.api.gouv.fr."""
    from biodiv.areas import sources as geo_sources

    siren = check_siren(siren)
    try:
        return geo_sources.fetch_epci(cfg.sources.geo_api_url, siren, timeout=cfg.sources.timeout)
    except geo_sources.NotFound:
        raise TerritoryError(
            f"unknown EPCI SIREN {siren}: geo.api.gouv.fr does not know it (check the number)"
        ) from None


# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------

def read_territory(con: duckdb.DuckDBPyConnection) -> dict | None:
    row = con.execute(
        "SELECT name, epci_siren, insee_codes, xmin, ymin, xmax, ymax, area_km2, geom IS NOT NULL "
        "FROM territory WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    keys = ("name", "epci_siren", "insee_codes", "xmin", "ymin", "xmax", "ymax", "area_km2", "has_outline")
    return dict(zip(keys, row))


def switch_notice(con: duckdb.DuckDBPyConnection, name: str, insee_codes: list[str]) -> str | None:
    """One short paragraph for ``biodiv init`` on a store that holds another territory (None
    when it holds none, or the same communes): what is kept and what the next update does."""
    before = read_territory(con)
    if before is None or set(before["insee_codes"] or []) == set(insee_codes):
        return None
    n_obs = con.execute("SELECT count(*) FROM observations WHERE removed_at IS NULL").fetchone()[0]
    n_areas = con.execute("SELECT count(*) FROM areas").fetchone()[0]
    return (
        f"this store held the territory {before['name']!r} ({len(before['insee_codes'] or [])} communes, "
        f"{n_obs:,} observations, {n_areas:,} areas): everything is kept. Observations and sites outside "
        f"{name!r} stay stored, flagged outside the territory (left out of its counts and maps); the next "
        "`biodiv update` fetches the missing reference areas and harvests the new territory in full (the "
        "harvest cursor belongs to a territory's query). For a store of the new territory alone, give "
        "another database (`--db`) instead"
    )


def save_territory(
    con: duckdb.DuckDBPyConnection, name: str, siren: str | None, insee_codes: list[str]
) -> dict:
    """Write the territory row, re-flag member communes, recompute the outline and
    re-flag the observations (:func:`biodiv.attach.links.refresh_territory_flags`), so that
    every reader sees the new territory as soon as the caller's transaction commits.

    Runs plain statements: call it inside the caller's transaction.
    Returns the territory (see :func:`read_territory`) plus ``missing_codes``: member
    codes with no commune boundary loaded yet (empty when none are loaded at all).
    """
    codes = parse_insee_codes(insee_codes)
    con.execute(
        """
        INSERT INTO territory (id, name, epci_siren, insee_codes, updated_at)
        VALUES (1, ?, ?, ?, current_timestamp)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, epci_siren = excluded.epci_siren,
            insee_codes = excluded.insee_codes, updated_at = excluded.updated_at
        """,
        [name, siren, codes],
    )
    out = refresh_territory_outline(con)
    refresh_territory_flags(con)
    return out


def refresh_territory_outline(con: duckdb.DuckDBPyConnection) -> dict:
    """Flag communes in/out of the territory, and set its outline, bbox and area.

    The outline is the union of the member communes (``ST_Union_Agg``); other area
    types are flagged ``in_territory`` when they intersect it. Plain statements: call it
    inside the caller's transaction. Returns :func:`read_territory` plus ``missing_codes``.
    """
    terr = read_territory(con)
    if terr is None:
        return {"missing_codes": []}
    con.execute(
        """
        UPDATE areas SET in_territory = list_contains((SELECT insee_codes FROM territory WHERE id = 1), code)
        WHERE type = 'commune'
        """
    )
    metric = territory_crs(con)
    if metric != crs.LAMBERT93:
        # layers are prepared (km² included) before the writer opens, in Lambert-93: the areas of
        # this territory's extent are measured in its own projection. Only those: a store that
        # switched territory keeps the other areas measured in theirs (Oise communes measured
        # in La Réunion's UTM zone were 8,185.7 km² instead of 5,893.9)
        con.execute(
            """UPDATE areas SET area_km2 = ST_Area(ST_Transform(geom, 'EPSG:4326', $crs, always_xy := true)) / 1e6
               WHERE ST_Intersects(geom, (SELECT ST_Extent_Agg(geom) FROM areas
                                          WHERE type = 'commune' AND in_territory))""",
            {"crs": metric},
        )
    con.execute(
        """
        UPDATE territory SET
            geom = u.g,
            xmin = ST_XMin(u.g), ymin = ST_YMin(u.g), xmax = ST_XMax(u.g), ymax = ST_YMax(u.g),
            area_km2 = ST_Area(ST_Transform(u.g, 'EPSG:4326', $crs, always_xy := true)) / 1e6,
            updated_at = current_timestamp
        FROM (SELECT CASE WHEN count(*) > 0 THEN ST_Union_Agg(geom) END AS g
              FROM areas WHERE type = 'commune' AND in_territory) AS u
        WHERE territory.id = 1
        """,
        {"crs": metric},
    )
    con.execute(
        """
        UPDATE areas SET in_territory = coalesce(
            (SELECT ST_Intersects(areas.geom, t.geom) FROM territory t WHERE t.id = 1 AND t.geom IS NOT NULL),
            false)
        WHERE type <> 'commune'
        """
    )
    loaded = {
        r[0] for r in con.execute("SELECT code FROM areas WHERE type = 'commune'").fetchall()
    }
    out = read_territory(con) or {}
    out["missing_codes"] = [c for c in terr["insee_codes"] if c not in loaded] if loaded else []
    return out
