"""The stored sensitivity level of every observation (SQL and geometry I/O around :mod:`.rules`).

Why stored rather than computed by every reader: the level needs the taxon's ancestry, its
TAXREF codes, the observation's commune and, for level 2, the 10 km cell and which areas
contain that whole cell (shapely on the area outlines). Readers (the dashboard's plain DuckDB
instances have no spatial extension) only join the result. :func:`refresh` recomputes it
after every write that can change it (``biodiv attach``, ``refs import`` of a referential, of
TAXREF or of a status list, ``update``: see :mod:`biodiv.pipeline`), and each stored row
carries what it was computed from (taxon, date, coordinates): a row that no longer matches its
observation is *stale*, and public outputs then withhold the observation
(:mod:`.public`) until the next refresh, rather than trust an old level.

Tables (migration 011): ``sensitivity_rules`` and ``sensitivity_imports`` (the imported
referentials), ``sensitivity_taxa`` (every taxon examined, with the highest level its
rules can give), ``observation_sensitivity`` (one row per observation of such a taxon) and
``observation_public_areas`` (for levels 1 and 2: the areas a public output may place the
observation in: those containing its whole commune, or its whole 10 km cell).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import duckdb
import pandas as pd

from biodiv.sensitivity import rules as R
from biodiv.sensitivity.referential import Referential, Rule

CELL_M = 10_000          # the national grid's 10 km cell (Lambert-93), level 2


@dataclass
class ImportReport:
    source: str
    n_rules: int = 0
    n_taxa: int = 0                      # distinct CD_NOM of the file
    n_taxref: int = 0                    # ... found in TAXREF (CD_NOM → CD_REF)
    not_in_taxref: list[tuple[int, str]] = field(default_factory=list)   # (CD_NOM, NOM_CITE)
    taxref_loaded: bool = False
    n_store_taxa: int = 0                # taxa of the store now under at least one rule
    levels: dict[int, int] = field(default_factory=dict)   # observations per level > 0


@dataclass
class RefreshReport:
    levels: dict[int, int] = field(default_factory=dict)   # observations per referential level > 0
    n_taxa: int = 0                      # taxa under a rule
    n_cautious: int = 0                  # taxa the cautious default covers (no referential)


# ---------------------------------------------------------------------------
# Referentials
# ---------------------------------------------------------------------------

def store_referential(con: duckdb.DuckDBPyConnection, ref: Referential, sha256: str | None) -> ImportReport:
    """Replace the rules of ``ref.source`` and recompute every level, in one transaction."""
    rows = pd.DataFrame([{
        "source": ref.source, "line": r.line, "cd_nom": r.cd_nom, "nom_cite": r.nom_cite,
        "name_key": R.name_key(r.nom_cite), "level": r.level, "department": r.department,
        "duration_years": r.duration_years,
        "period_start": f"{r.period[0][0]:02d}-{r.period[0][1]:02d}" if r.period else None,
        "period_end": f"{r.period[1][0]:02d}-{r.period[1][1]:02d}" if r.period else None,
        "statut_biologique": r.statut_biologique, "comportement": r.comportement, "meth_obs": r.meth_obs,
        "stade_vie": r.stade_vie, "autre": r.autre,
    } for r in ref.rules])
    rows = rows.astype({"duration_years": "Int64"})
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM sensitivity_rules WHERE source = ?", [ref.source])
        con.execute("DELETE FROM sensitivity_imports WHERE source = ?", [ref.source])
        con.register("_sens_rules", rows)
        try:
            con.execute(f"INSERT INTO sensitivity_rules ({', '.join(rows.columns)}) "
                        f"SELECT {', '.join(rows.columns)} FROM _sens_rules")
        finally:
            con.unregister("_sens_rules")
        con.execute("INSERT INTO sensitivity_imports (source, file, sha256, n_rules, imported_at) "
                    "VALUES (?, ?, ?, ?, current_timestamp)", [ref.source, ref.file, sha256, len(ref.rules)])
        report = ImportReport(ref.source, n_rules=len(ref.rules), n_taxa=len(ref.taxa))
        report.taxref_loaded = bool(con.execute("SELECT count(*) FROM taxref").fetchone()[0])
        if report.taxref_loaded:
            known = {r[0] for r in con.execute(
                "SELECT DISTINCT cd_nom FROM sensitivity_rules s WHERE source = ? "
                "AND EXISTS (SELECT 1 FROM taxref t WHERE t.cd_nom = s.cd_nom)", [ref.source]).fetchall()}
            report.n_taxref = len(known)
            seen: set[int] = set()
            for r in ref.rules:
                if r.cd_nom not in known and r.cd_nom not in seen:
                    seen.add(r.cd_nom)
                    report.not_in_taxref.append((r.cd_nom, r.nom_cite))
        done = refresh(con, transaction=False)
        report.levels = done.levels
        report.n_store_taxa = done.n_taxa
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return report


def _rules(con: duckdb.DuckDBPyConnection) -> list[tuple[Rule, int | None]]:
    """Every stored rule with the CD_REF of its CD_NOM (None without TAXREF or when unknown)."""
    out = []
    for (source, line, cd_nom, nom, level, dep, years, start, end, sb, co, mo, sv, au, cd_ref) in con.execute(
            """SELECT s.source, s.line, s.cd_nom, s.nom_cite, s.level, s.department, s.duration_years,
                      s.period_start, s.period_end, s.statut_biologique, s.comportement, s.meth_obs,
                      s.stade_vie, s.autre, t.cd_ref
               FROM sensitivity_rules s LEFT JOIN taxref t ON t.cd_nom = s.cd_nom
               ORDER BY s.source, s.line""").fetchall():
        period = None
        if start:
            period = (tuple(int(x) for x in start.split("-")), tuple(int(x) for x in end.split("-")))
        rule = Rule(line=line, cd_nom=cd_nom, nom_cite=nom or "", level=level, department=dep,
                    duration_years=years, period=period, statut_biologique=sb or "", comportement=co or "",
                    meth_obs=mo or "", stade_vie=sv or "", autre=au or "", source=source)
        out.append((rule, cd_ref))
    return out


def _taxa(con: duckdb.DuckDBPyConnection) -> dict[int, R.TaxonFacts]:
    """Every taxon with the TAXREF codes and names of itself and its ancestors."""
    rows = con.execute(
        """SELECT t.id, t.name, t.rank_level, t.ancestor_ids, t.genus_name, t.family_name, t.order_name,
                  t.class_name, t.phylum_name, t.kingdom_name, m.cd_ref
           FROM taxa t LEFT JOIN taxon_taxref m ON m.taxon_id = t.id AND m.status = 'matched'""").fetchall()
    own = {r[0]: (r[1], r[10]) for r in rows}
    out = {}
    for tid, name, level, ancestors, *ranks, cd_ref in rows:
        refs = {cd_ref} if cd_ref is not None else set()
        names = {R.name_key(name)} | {R.name_key(n) for n in ranks if n}
        if name and level is not None and level < 10:
            names.add(R.name_key(" ".join(str(name).split()[:2])))     # the species of a subspecies
        for a in ancestors or ():
            if a in own and a != tid:
                names.add(R.name_key(own[a][0]))
                if own[a][1] is not None:
                    refs.add(own[a][1])
        out[tid] = R.TaxonFacts(tid, frozenset(int(x) for x in refs), frozenset(n for n in names if n))
    return out


def _cautious_taxa(con: duckdb.DuckDBPyConnection) -> set[int]:
    """Taxa protected or threatened (their own status or their species'), as the dashboard's filter."""
    return {r[0] for r in con.execute("SELECT taxon_id FROM v_taxon_status WHERE protected OR threatened").fetchall()}


# ---------------------------------------------------------------------------
# Geometry of the blurred places (Lambert-93 cells, area containment)
# ---------------------------------------------------------------------------

@lru_cache(maxsize=2)
def transformer(inverse: bool):
    """Lambert-93 from lon/lat (``inverse``: back)."""
    from pyproj import Transformer

    a, b = ("EPSG:2154", "EPSG:4326") if inverse else ("EPSG:4326", "EPSG:2154")
    return Transformer.from_crs(a, b, always_xy=True)


def cells(lon: pd.Series, lat: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Indices of the 10 km Lambert-93 cell of each point (the national grid's ``10kmL93E…N…``)."""
    x, y = transformer(False).transform(lon.to_numpy(float), lat.to_numpy(float))
    return (pd.Series(x // CELL_M, index=lon.index).astype("Int64"),
            pd.Series(y // CELL_M, index=lon.index).astype("Int64"))


def cell_polygon(ix: int, iy: int):
    """The 10 km cell as a lon/lat polygon (edges densified: a projected square's sides are
    not straight in degrees)."""
    import numpy as np
    import shapely

    x0, y0, s = ix * CELL_M, iy * CELL_M, CELL_M
    t = np.linspace(0, 1, 11)[:-1]
    xs = np.concatenate([x0 + s * t, np.full(10, x0 + s), x0 + s * (1 - t), np.full(10, x0)])
    ys = np.concatenate([np.full(10, y0), y0 + s * t, np.full(10, y0 + s), y0 + s * (1 - t)])
    lons, lats = transformer(True).transform(xs, ys)
    return shapely.Polygon(list(zip(lons, lats)))


def _public_areas(con: duckdb.DuckDBPyConnection, sens: pd.DataFrame) -> pd.DataFrame:
    """For each observation of ``sens``: its links to the areas that hold its whole commune
    (kind 'commune', what level 1 may show) and its whole 10 km cell (kind 'cell', level 2).
    An observation iNaturalist obscures is linked by attach only to areas that hold its whole
    0.2° cell, coarser than a 10 km cell: those links are its 'cell' ones."""
    import shapely

    columns = ["observation_id", "kind", "area_id", "relation"]
    empty = pd.DataFrame({c: pd.Series(dtype="int64" if c == "observation_id" else ("int32" if c == "area_id" else object))
                          for c in columns})
    if sens.empty:
        return empty
    con.register("_sens_ids", pd.DataFrame({"observation_id": sens["observation_id"].astype("int64")}))
    try:
        links = con.execute(
            """SELECT oa.observation_id, oa.area_id, CAST(oa.relation AS VARCHAR) AS relation
               FROM observation_areas oa JOIN _sens_ids i USING (observation_id)""").df()
    finally:
        con.unregister("_sens_ids")
    if links.empty:
        return empty
    area_ids = sorted(set(links["area_id"].astype(int)) | set(sens["commune_area_id"].dropna().astype(int)))
    geoms = {int(a): shapely.from_wkb(bytes(w)) for a, w in con.execute(
        "SELECT id, ST_AsWKB(geom) FROM areas WHERE list_contains(?::INTEGER[], id)", [area_ids]).fetchall()}
    for g in geoms.values():
        shapely.prepare(g)
    # one containment test per distinct (commune, area) and (cell, area) pair, not per link
    m = links.merge(sens[["observation_id", "commune_area_id", "cell_ix", "cell_iy", "obscured"]], on="observation_id")
    m = m[m["area_id"].astype(int).isin(list(geoms))]
    m["area_id"] = m["area_id"].astype(int)
    out = []
    by_commune = m[m["commune_area_id"].notna()].copy()
    if len(by_commune):
        by_commune["commune_area_id"] = by_commune["commune_area_id"].astype(int)
        pairs = by_commune[["commune_area_id", "area_id"]].drop_duplicates()
        ok = {(c, a) for c, a in pairs.itertuples(index=False, name=None)
              if a == c or (c in geoms and geoms[a].contains(geoms[c]))}
        keep = [(c, a) in ok for c, a in zip(by_commune["commune_area_id"], by_commune["area_id"])]
        out.append(by_commune[keep].assign(kind="commune"))
    obscured = m[m["obscured"].astype(bool)]
    out.append(obscured.assign(kind="cell"))
    by_cell = m[~m["obscured"].astype(bool) & m["cell_ix"].notna()].copy()
    if len(by_cell):
        by_cell["cell_ix"], by_cell["cell_iy"] = by_cell["cell_ix"].astype(int), by_cell["cell_iy"].astype(int)
        pairs = by_cell[["cell_ix", "cell_iy", "area_id"]].drop_duplicates()
        polygons = {c: cell_polygon(*c) for c in set(zip(pairs["cell_ix"], pairs["cell_iy"]))}
        ok = {(x, y, a) for x, y, a in pairs.itertuples(index=False, name=None)
              if geoms[a].contains(polygons[(x, y)])}
        keep = [(x, y, a) in ok for x, y, a in zip(by_cell["cell_ix"], by_cell["cell_iy"], by_cell["area_id"])]
        out.append(by_cell[keep].assign(kind="cell"))
    keep = pd.concat(out, ignore_index=True)[columns] if out else empty
    if keep.empty:
        return empty
    return keep.astype({"observation_id": "int64", "area_id": "int32"})


# ---------------------------------------------------------------------------
# Refresh
# ---------------------------------------------------------------------------

# What the stored levels depend on besides the observations: the areas (a new commune layer
# changes communes, their departments and which areas hold a commune or a cell). Compared by
# the readers (biodiv.sensitivity.public): a store whose areas changed since the last refresh
# has stale levels.
AREAS_FINGERPRINT_SQL = ("(SELECT count(*) || '/' || coalesce(max(id), 0) || '/' || "
                         "coalesce(CAST(max(loaded_at) AS VARCHAR), '') FROM areas)")


def refresh(con: duckdb.DuckDBPyConnection, today: date | None = None, transaction: bool = True) -> RefreshReport:
    """Recompute what every observation's level depends on: the referentials' level, whether
    the cautious default covers it (no referential, a protected or threatened taxon: readers
    apply ``[sensitivity] default_level`` to it, so the setting needs no refresh), its commune,
    its 10 km cell and the areas holding them."""
    today = today or date.today()
    index = R.RuleIndex(_rules(con))
    has_ref = index.count > 0
    cautious = set() if has_ref else _cautious_taxa(con)
    taxa = _taxa(con)
    per_taxon: dict[int, list[Rule]] = {}
    bound: dict[int, int] = {}
    for tid, facts in taxa.items():
        found = index.for_taxon(facts) if has_ref else []
        per_taxon[tid] = found
        bound[tid] = R.max_level(found)
    candidates = [t for t in taxa if bound[t] > 0 or t in cautious]
    obs = con.execute(
        """WITH communes AS (
               SELECT oa.observation_id,
                      arg_min(a.code, CASE oa.relation WHEN 'certain' THEN 0 ELSE 1 END) AS commune_code,
                      arg_min(a.id, CASE oa.relation WHEN 'certain' THEN 0 ELSE 1 END) AS commune_area_id
               FROM observation_areas oa JOIN areas a ON a.id = oa.area_id AND a.type = 'commune'
               GROUP BY oa.observation_id)
           SELECT o.id AS observation_id, o.taxon_id, o.observed_on, o.lon, o.lat, o.positional_accuracy,
                  coalesce(o.obscured, false) AS obscured, c.commune_code, c.commune_area_id
           FROM observations o LEFT JOIN communes c ON c.observation_id = o.id
           WHERE o.removed_at IS NULL AND list_contains(?::BIGINT[], o.taxon_id)""",
        [candidates]).df()
    levels: list[int] = [0] * len(obs)
    sources: list = [None] * len(obs)
    lines: list = [None] * len(obs)
    days, codes, taxa_ids = obs["observed_on"].tolist(), obs["commune_code"].tolist(), obs["taxon_id"].tolist()
    for i, tid in enumerate(taxa_ids):
        found = per_taxon.get(int(tid))
        if not found:
            continue
        when = None if pd.isna(days[i]) else pd.Timestamp(days[i]).date()
        level, rule = R.level_of(found, R.department_of(codes[i]), when, today)
        if rule is not None:
            levels[i], sources[i], lines[i] = level, rule.source, rule.line
    obs["level"] = pd.Series(levels, index=obs.index, dtype="int64")
    obs["cautious"] = obs["taxon_id"].map(lambda t: int(t) in cautious).astype(bool)
    obs["rule_source"] = pd.Series(sources, index=obs.index, dtype=object)
    obs.loc[obs["cautious"] & obs["rule_source"].isna(), "rule_source"] = "default"
    obs["rule_line"] = pd.Series(lines, index=obs.index, dtype="Int64")
    obs["cell_ix"] = pd.Series(pd.NA, index=obs.index, dtype="Int64")
    obs["cell_iy"] = pd.Series(pd.NA, index=obs.index, dtype="Int64")
    # the 10 km cell of a point known to that precision (as the dashboard's grid: an
    # observation known to 20 km is in no cell); never that of iNaturalist's random point
    placed = (~obs["obscured"] & obs["lon"].notna() & obs["lat"].notna()
              & ~(obs["positional_accuracy"] > CELL_M))
    if placed.any():
        ix, iy = cells(obs.loc[placed, "lon"], obs.loc[placed, "lat"])
        obs.loc[placed, "cell_ix"], obs.loc[placed, "cell_iy"] = ix, iy
    public = _public_areas(con, obs)
    taxa_rows = pd.DataFrame({"taxon_id": pd.Series(list(bound), dtype="int64"),
                              "max_level": pd.Series(list(bound.values()), dtype="int32"),
                              "cautious": pd.Series([t in cautious for t in bound], dtype=bool)})
    if transaction:
        con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM observation_sensitivity")
        con.execute("DELETE FROM observation_public_areas")
        con.execute("DELETE FROM sensitivity_taxa")
        cols = ["observation_id", "taxon_id", "observed_on", "lon", "lat", "level", "cautious", "rule_source",
                "rule_line", "commune_area_id", "cell_ix", "cell_iy"]
        for name, frame, columns in (("observation_sensitivity", obs, cols),
                                     ("observation_public_areas", public,
                                      ["observation_id", "kind", "area_id", "relation"]),
                                     ("sensitivity_taxa", taxa_rows, ["taxon_id", "max_level", "cautious"])):
            if frame.empty:
                continue
            con.register("_sens_rows", frame[columns])
            try:
                con.execute(f"INSERT INTO {name} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _sens_rows")
            finally:
                con.unregister("_sens_rows")
        con.execute("DELETE FROM meta WHERE key IN ('sensitivity_computed_at', 'sensitivity_areas')")
        con.execute("INSERT INTO meta (key, value) VALUES ('sensitivity_computed_at', CAST(current_timestamp AS VARCHAR))")
        con.execute(f"INSERT INTO meta (key, value) SELECT 'sensitivity_areas', {AREAS_FINGERPRINT_SQL}")
        if transaction:
            con.execute("COMMIT")
    except BaseException:
        if transaction:
            con.execute("ROLLBACK")
        raise
    counts = Counter(int(v) for v in obs["level"] if v > 0)
    return RefreshReport(levels=dict(sorted(counts.items())), n_taxa=sum(1 for t in bound if bound[t] > 0),
                         n_cautious=len(cautious & set(taxa)))
