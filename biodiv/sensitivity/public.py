"""The one door every public output goes through: observations as a public output may show them.

Why one module: the dashboard in public mode, the Mode atelier (always public) and every
export with ``--public`` must blur the same observations the same way, and a filter must
never be able to narrow a blurred record down (GeoNature's rule: filters and sheets use the
blurred geometry, never the precise one). So the pages' SQL and the exports' frames take
their levels, places and links from here, and from nowhere else.

What each SINP level leaves in a public output:

==  =====================================================================================
0   the observation as stored (iNaturalist's own blurring of obscured records is kept)
1   no point: placed only in its commune (counted there and in the areas that contain the
    whole commune)
2   no point: placed only in its 10 km cell of the national grid (not in any 1 km cell),
    and in a commune's or a site's list only when the area contains the whole cell;
    exports give the cell's centre with a 7,072 m uncertainty
3   no place at all: counted only in the territory's totals (department level)
4   not published: only counted, in the territory's totals, as « données sensibles non
    diffusées »
==  =====================================================================================

A level-1 or higher observation also loses its link to iNaturalist (the record's page, its
photo, its identifier: iNaturalist shows the precise point of a taxon it does not obscure,
such as the Aigle de Bonelli) and its free text. An observation whose stored level no longer
matches it (changed since the last :func:`biodiv.sensitivity.levels.refresh`) is withheld as
level 3 (4 when its taxon may be 4) until the next refresh: a stale level is never trusted.

Everything here is plain SQL over plain columns (no spatial function): the dashboard's
readers have no spatial extension.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid as uuidlib

import duckdb
import pandas as pd

from biodiv.sensitivity.levels import AREAS_FINGERPRINT_SQL, CELL_M, transformer
from biodiv.sensitivity.rules import DIFFUSION_FR, SHORT_FR, department_of

HIDDEN_FR = "données sensibles non diffusées"
CELL_UNCERTAINTY_M = 7072.0      # half the diagonal of a 10 km cell, rounded up


def _d(default_level: int) -> int:
    return max(0, min(4, int(default_level)))


def level_expr(default_level: int) -> str:
    """SQL of the level of observation ``o`` (joined to ``s`` = observation_sensitivity and
    ``tx`` = sensitivity_taxa), see the module docstring for stale rows."""
    d = _d(default_level)
    pending = "4" if d >= 4 else "3"
    areas_ok = (f"(SELECT value FROM meta WHERE key = 'sensitivity_areas') IS NOT DISTINCT FROM "
                f"{AREAS_FINGERPRINT_SQL}")
    return f"""CASE
        WHEN s.observation_id IS NOT NULL AND {areas_ok} AND s.taxon_id IS NOT DISTINCT FROM o.taxon_id
             AND s.observed_on IS NOT DISTINCT FROM o.observed_on
             AND s.lon IS NOT DISTINCT FROM o.lon AND s.lat IS NOT DISTINCT FROM o.lat
             THEN greatest(s.level, CASE WHEN s.cautious THEN {d} ELSE 0 END)
        WHEN o.taxon_id IS NULL THEN 0
        WHEN tx.taxon_id IS NOT NULL THEN CASE greatest(tx.max_level, CASE WHEN tx.cautious THEN {d} ELSE 0 END)
             WHEN 0 THEN 0 WHEN 4 THEN 4 ELSE 3 END
        WHEN EXISTS (SELECT 1 FROM sensitivity_rules) THEN 4
        WHEN {d} > 0 AND o.taxon_id IN (SELECT taxon_id FROM v_taxon_status WHERE protected OR threatened)
             THEN {pending}
        ELSE 0 END"""


def levels_sql(default_level: int) -> str:
    """One row per observation: ``observation_id, level`` and its 10 km cell (used at level 2,
    which always comes from a valid stored row: a stale one gives 3 or 4)."""
    return f"""SELECT o.id AS observation_id, {level_expr(default_level)} AS level,
                      s.cell_ix, s.cell_iy
               FROM observations o
               LEFT JOIN observation_sensitivity s ON s.observation_id = o.id
               LEFT JOIN sensitivity_taxa tx ON tx.taxon_id = o.taxon_id"""


_COLUMNS = ("id", "observed_on", "observed_at", "quality_grade", "lon", "lat", "obscured", "positional_accuracy",
            "user_id", "user_login", "photo_url", "uri", "taxon_id", "removed_at", "in_territory")
_BLURRED = {"lon", "lat", "positional_accuracy", "photo_url", "uri"}   # NULL from level 1


def observations_sql(default_level: int, public: bool) -> str:
    """The observations the dashboard reads (the columns ``data.filtered_sql`` uses) with
    ``sensitivity_level``; when ``public``, blurred: no coordinates, photo or link from level 1,
    the 10 km cell (``cell_ix``, ``cell_iy``) at level 2, level 4 left out."""
    def col(c: str) -> str:
        src = "coalesce(o.obscured, false)" if c == "obscured" else f"o.{c}"
        return f"CASE WHEN lv = 0 THEN {src} END AS {c}" if public and c in _BLURRED else f"{src} AS {c}"

    inner = f"""SELECT o.*, {level_expr(default_level)} AS lv, s.cell_ix AS s_ix, s.cell_iy AS s_iy
                FROM observations o
                LEFT JOIN observation_sensitivity s ON s.observation_id = o.id
                LEFT JOIN sensitivity_taxa tx ON tx.taxon_id = o.taxon_id"""
    cells = ("CASE WHEN lv = 2 THEN s_ix END AS cell_ix, CASE WHEN lv = 2 THEN s_iy END AS cell_iy" if public
             else "CAST(NULL AS BIGINT) AS cell_ix, CAST(NULL AS BIGINT) AS cell_iy")
    where = "WHERE lv < 4" if public else ""
    return f"""SELECT {', '.join(col(c) for c in _COLUMNS)}, lv AS sensitivity_level, {cells}
               FROM ({inner}) o {where}"""


def in_areas_sql(public: bool, area_condition: str, alias: str = "o") -> str:
    """SQL condition: observation ``alias`` lies in an area matching ``area_condition``
    (over the link columns ``area_id``, ``relation``): its own links when precise, the links of
    its blurred place when blurred (levels 1-2), none at levels 3-4."""
    own = f"{alias}.id IN (SELECT observation_id FROM observation_areas WHERE {area_condition})"
    if not public:
        return own

    def blurred(kind: str) -> str:
        return (f"{alias}.id IN (SELECT observation_id FROM observation_public_areas "
                f"WHERE kind = '{kind}' AND {area_condition})")

    return (f"(({alias}.sensitivity_level = 0 AND {own}) OR "
            f"({alias}.sensitivity_level = 1 AND {blurred('commune')}) OR "
            f"({alias}.sensitivity_level = 2 AND {blurred('cell')}))")


def links_sql(public: bool, alias: str = "f") -> tuple[str, str]:
    """(relation of links to join as ``oa``, join condition with the observations ``alias``):
    the stored links, or in public mode each observation's links of its blurred place."""
    if not public:
        return "observation_areas", f"oa.observation_id = {alias}.id"
    rel = """(SELECT observation_id, area_id, CAST(relation AS VARCHAR) AS relation, 0 AS level
              FROM observation_areas
              UNION ALL
              SELECT observation_id, area_id, relation, CASE kind WHEN 'commune' THEN 1 ELSE 2 END AS level
              FROM observation_public_areas)"""
    cond = f"oa.observation_id = {alias}.id AND oa.level = {alias}.sensitivity_level"
    return rel, cond


# ---------------------------------------------------------------------------
# Facts for notices (dashboard banner, export notes, biodiv status)
# ---------------------------------------------------------------------------

def summary(con: duckdb.DuckDBPyConnection, default_level: int) -> dict:
    """What public outputs say about sensitivity: the referentials, the default in force,
    the observations of the territory per level and those not published."""
    refs = con.execute("SELECT source, n_rules FROM sensitivity_imports ORDER BY source").fetchall()
    meta = dict(con.execute("SELECT key, value FROM meta WHERE key = 'sensitivity_computed_at'").fetchall())
    rows = con.execute(
        f"""SELECT l.level, count(*) FROM ({levels_sql(default_level)}) l
            JOIN observations o ON o.id = l.observation_id
            WHERE o.removed_at IS NULL AND o.in_territory GROUP BY 1""").fetchall()
    levels = {int(k): int(v) for k, v in rows}
    return {
        "referentials": [{"source": s, "rules": n} for s, n in refs],
        "computed_at": meta.get("sensitivity_computed_at"),
        "default_level": 0 if refs else _d(default_level),
        "levels": levels,
        "hidden": levels.get(4, 0),
        "blurred": sum(v for k, v in levels.items() if 0 < k < 4),
    }


def notice_fr(info: dict) -> str | None:
    """The French notice public pages show (None when a referential is imported and nothing is withheld)."""
    parts = []
    if not info["referentials"]:
        if info["default_level"]:
            parts.append("Aucun référentiel de sensibilité n'est importé : par précaution, les espèces "
                         "protégées ou menacées sont floutées (niveau "
                         f"{info['default_level']} : {SHORT_FR[info['default_level']]}).")
        else:
            parts.append("Aucun référentiel de sensibilité n'est importé et le floutage par défaut est "
                         "désactivé : les localisations sont publiées telles qu'iNaturalist les donne.")
    if info["blurred"]:
        parts.append(f"{info['blurred']} observation(s) sensible(s) floutée(s).")
    if info["hidden"]:
        parts.append(f"{info['hidden']} {HIDDEN_FR}.")
    return " ".join(parts) or None


# ---------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------

def _salt(con: duckdb.DuckDBPyConnection) -> bytes:
    row = con.execute("SELECT value FROM meta WHERE key = 'sensitivity_salt'").fetchone()
    return (row[0] if row and row[0] else "biodiv").encode()


def public_refs(ids: pd.Series, salt: bytes) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Stand-in identifiers of blurred observations (int64 < 0, uuid, urn): stable from one
    export to the next, but not the iNaturalist id, whose public page shows the precise point."""
    digests = [hmac.new(salt, str(int(i)).encode(), hashlib.sha256).digest() for i in ids]
    num = pd.Series([-int.from_bytes(d[:7], "big") - 1 for d in digests], index=ids.index, dtype="int64")
    uid = pd.Series([str(uuidlib.UUID(bytes=d[:16], version=4)) for d in digests], index=ids.index, dtype=object)
    urn = pd.Series([f"urn:biodiv:sensible:{d[:8].hex()}" for d in digests], index=ids.index, dtype=object)
    return num, uid, urn


def export_frame(con: duckdb.DuckDBPyConnection, obs: pd.DataFrame, public: bool, default_level: int,
                 free_text: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """The export's observations with ``sensitivity_level`` and ``diffusion`` (private: all else
    untouched); public: blurred as the module docstring says, level 4 left out, free text
    (observer's notes, place names) left out unless ``free_text``. Returns (frame, notes)."""
    notes: list[str] = []
    if obs.empty:
        obs = obs.assign(sensitivity_level=pd.Series(dtype="Int64"), diffusion=pd.Series(dtype=object),
                         blurred_to=pd.Series(dtype=object))
        return obs, notes
    con.register("_pub_ids", pd.DataFrame({"id": obs["id"].astype("int64")}))
    try:
        lv = con.execute(f"""SELECT l.observation_id, l.level, l.cell_ix, l.cell_iy
                             FROM ({levels_sql(default_level)}) l JOIN _pub_ids i ON i.id = l.observation_id""").df()
        places = con.execute(
            """SELECT p.observation_id, p.kind, a.type, a.code, a.name FROM observation_public_areas p
               JOIN areas a ON a.id = p.area_id JOIN _pub_ids i ON i.id = p.observation_id""").df()
    finally:
        con.unregister("_pub_ids")
    lv = lv.set_index("observation_id")
    obs = obs.copy()
    level = obs["id"].map(lv["level"]).fillna(0).astype("int64")
    obs["sensitivity_level"] = level.astype("Int64")
    obs["diffusion"] = level.map(DIFFUSION_FR).astype(object)
    obs["blurred_to"] = pd.Series(None, index=obs.index, dtype=object)
    info = summary(con, default_level)
    if not public:
        return obs, notes
    if not info["referentials"]:
        notes.append("no sensitivity referential imported (biodiv refs import RefSensibilite….csv): "
                     + (f"protected and threatened species blurred to level {info['default_level']} by default"
                        if info["default_level"] else "the cautious default is off ([sensitivity] default_level = 0)"))
    hidden = level >= 4
    if hidden.any():
        notes.append(f"left out {int(hidden.sum())} sensitive observation(s) of level 4 (not published)")
    obs, level = obs[~hidden].copy(), level[~hidden]
    if not free_text:
        for col in ("description", "place_guess"):
            if col in obs:
                obs[col] = None
    blurred = level >= 1
    if not blurred.any():
        return obs, notes
    b = obs.index[blurred]
    cell_ix = obs["id"].map(lv["cell_ix"])
    cell_iy = obs["id"].map(lv["cell_iy"])
    department = obs["commune_code"].map(department_of)
    kept = {(oid, kind): g for (oid, kind), g in places.groupby(["observation_id", "kind"])}
    obscured = obs["obscured"].fillna(False).astype(bool)
    for i in b:
        oid, lvl = int(obs.at[i, "id"]), int(level.at[i])
        g = kept.get((oid, "commune" if lvl == 1 else "cell")) if lvl <= 2 else None
        own = None if g is None else g.loc[g["type"] == "commune", ["code", "name"]]
        code = obs.at[i, "commune_code"]
        keep_commune = lvl <= 2 and own is not None and isinstance(code, str) and (own["code"] == code).any()
        if not keep_commune:
            obs.at[i, "commune_code"] = None
            obs.at[i, "commune_name"] = None
            obs.at[i, "commune_relation"] = None
        obs.at[i, "n2000_codes"] = ",".join(sorted(g.loc[g["type"].str.startswith("n2000"), "code"])) \
            if g is not None else ""
        if lvl == 1:
            obs.at[i, "blurred_to"] = f"commune {code}" if isinstance(code, str) else None
        elif lvl == 2 and not pd.isna(cell_ix.at[i]):
            obs.at[i, "blurred_to"] = f"10kmL93E{int(cell_ix.at[i]):03d}N{int(cell_iy.at[i]):03d}"
        elif lvl >= 2 and isinstance(department.at[i], str):
            obs.at[i, "blurred_to"] = f"département {department.at[i]}" if lvl == 3 else None
    # coordinates: none, the 10 km cell's centre, or (obscured, level 2) iNaturalist's own blurring
    centre = (level == 2) & cell_ix.notna() & ~obscured
    inat = (level == 2) & obscured
    none = blurred & ~centre & ~inat
    for col in ("lon", "lat", "positional_accuracy", "coordinate_uncertainty_m"):
        if col in obs:
            obs.loc[none, col] = None
    if "wkb" in obs:
        obs.loc[none, "wkb"] = None
    if centre.any():
        xs = (cell_ix[centre].astype(float) + 0.5) * CELL_M
        ys = (cell_iy[centre].astype(float) + 0.5) * CELL_M
        lons, lats = transformer(True).transform(xs.to_numpy(), ys.to_numpy())
        obs.loc[centre, "lon"] = [round(float(v), 6) for v in lons]
        obs.loc[centre, "lat"] = [round(float(v), 6) for v in lats]
        obs.loc[centre, "positional_accuracy"] = None
        obs.loc[centre, "coordinate_uncertainty_m"] = CELL_UNCERTAINTY_M
        if "wkb" in obs:
            import shapely

            obs.loc[centre, "wkb"] = pd.Series([shapely.to_wkb(shapely.Point(x, y)) for x, y in zip(lons, lats)],
                                               index=obs.index[centre], dtype=object)
    # the blurred place as a geometry (GeoNature's synthesis takes a polygon): the commune, the cell
    obs["blurred_wkt"] = pd.Series(None, index=obs.index, dtype=object)
    at_commune = blurred & (level == 1) & obs["commune_code"].notna()
    if at_commune.any():
        shapes = dict(con.execute(
            "SELECT code, ST_AsText(ST_ReducePrecision(ST_SimplifyPreserveTopology(geom, 0.0005), 0.00001)) "
            "FROM areas WHERE type = 'commune' AND list_contains(?::VARCHAR[], code)",
            [sorted(set(obs.loc[at_commune, "commune_code"]))]).fetchall())
        obs.loc[at_commune, "blurred_wkt"] = obs.loc[at_commune, "commune_code"].map(shapes)
    if centre.any():
        import shapely

        from biodiv.sensitivity.levels import cell_polygon

        obs.loc[centre, "blurred_wkt"] = [
            shapely.to_wkt(cell_polygon(int(a), int(b)), rounding_precision=6)
            for a, b in zip(cell_ix[centre], cell_iy[centre])]
    # what leads to iNaturalist's page of the record (and its precise point)
    num, uid, urn = public_refs(obs.loc[blurred, "id"], _salt(con))
    obs["id"] = obs["id"].astype("int64")
    obs.loc[blurred, "id"] = num
    obs["occurrence_ref"] = pd.Series(None, index=obs.index, dtype=object)
    obs.loc[blurred, "occurrence_ref"] = urn
    if "uuid" in obs:
        obs.loc[blurred, "uuid"] = uid
    for col in ("uri", "photo_url", "photo_license", "photo_attribution", "place_guess", "description"):
        if col in obs:
            obs.loc[blurred, col] = None
    notes.append(f"{int(blurred.sum())} sensitive observation(s) blurred (levels 1-3: commune, 10 km cell, "
                 "department) with their iNaturalist link and identifier withheld")
    return obs, notes
