"""Every DuckDB read of the dashboard, as plain functions ``(connection, filters) -> DataFrame``.

Why one module: the pages never write SQL, so the rules (what counts as a species, which
observations are excluded, how obscured locations are handled) live in one place and are
tested here against a real DuckDB file, without Streamlit.

Rules applied everywhere:

* soft-deleted observations (``removed_at`` set) are excluded;
* only observations attached to the territory (``in_territory``) are shown;
* a species is a taxon of rank species or below, counted by ``taxa.species_id`` (or the
  taxon's own id when that is missing);
* obscured observations are never drawn as points nor put in grid cells: iNaturalist only
  publishes a random point in a 0.2° cell, so they only count in figures and in the areas
  the attach step linked them to;
* public pages (``Filters.public``: ``dashboard.public_mode``, and the Mode atelier always)
  read the observations and their links through :mod:`biodiv.sensitivity.public`: sensitive
  observations only where their SINP level allows (commune, 10 km cell, territory totals,
  or not at all), filters included, so no filter narrows a blurred record down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd

from biodiv.analysis.queries import DEFAULT_QUALITY, QUALITY_GRADES
from biodiv.dashboard.labels import HIDDEN_OBSERVER_FR, group_fr
from biodiv.sensitivity import public as sensitive

# The quality grades counted by default: the named queries' default (one constant, in
# biodiv.analysis.queries), so a commune's sheet and `biodiv query commune_richness` agree.
DEFAULT_GRADES: tuple[str, ...] = QUALITY_GRADES[DEFAULT_QUALITY]

_IS_SPECIES = (
    "(t.rank_level <= 10 OR t.rank IN ('species','subspecies','variety','form','hybrid','infrahybrid'))"
)



def certainty_sql(alias: str = "o", public: bool = False) -> str:
    """Location certainty class of observation ``alias`` (see labels.CERTAINTY_FR):
    obscured by iNaturalist (or, on a public page, blurred for its sensitivity), precise
    (linked 'certain' to a commune), or edge."""
    return f"""CASE
    WHEN {alias}.obscured{f" OR coalesce({alias}.sensitivity_level, 0) > 0" if public else ""} THEN 'obscured'
    WHEN {alias}.id IN (SELECT oa.observation_id FROM observation_areas oa
                  JOIN areas a ON a.id = oa.area_id
                  WHERE a.type = 'commune' AND oa.relation = 'certain') THEN 'precise'
    ELSE 'edge' END"""

_STATUS_TAXA = """(SELECT taxon_id FROM taxon_statuses WHERE kind IN ('protected', 'threatened'))"""


@dataclass(frozen=True)
class Filters:
    """The sidebar filters, shared by every page (hashable: used as a cache key)."""

    date_from: date | None = None
    date_to: date | None = None
    groups: tuple[str, ...] = ()        # iconic taxon names; "" = no iconic group
    species: tuple[int, ...] = ()       # species keys (taxa.species_id or taxon id)
    quality: tuple[str, ...] = DEFAULT_GRADES   # research, needs_id, casual; () = every grade
    communes: tuple[int, ...] = ()      # area ids
    sites: tuple[int, ...] = ()         # area ids (Natura 2000 or any non-commune area)
    status_only: bool = False           # protected or threatened taxa only
    certainty: tuple[str, ...] = ()     # precise, edge, obscured
    area: int | None = None             # one area (fiche commune / site)
    since: datetime | None = None       # bioblitz: observed at or after this instant (aware)
    public: bool = False                # a public page: sensitive observations blurred (biodiv.sensitivity)
    sensitivity_default: int = 2        # [sensitivity] default_level (without a referential)

    def with_(self, **changes: Any) -> "Filters":
        return replace(self, **changes)


NO_FILTERS = Filters()                  # the default view: no filter but the default quality
ALL_OBSERVATIONS = Filters(quality=())  # every quality grade (what the species search offers)


def filtered_sql(f: Filters = NO_FILTERS) -> tuple[str, list[Any]]:
    """SQL of the filtered observations (one row per observation) and its parameters.

    Columns: id, observed_on, quality_grade, lon, lat, obscured, positional_accuracy,
    user_id, user_login, photo_url, uri, taxon_id, sci_name, common_name_fr, iconic,
    species_key (NULL when the taxon is above species rank).
    """
    where = ["o.removed_at IS NULL", "o.in_territory"]
    params: list[Any] = []
    if f.date_from is not None:
        where.append("o.observed_on >= ?")
        params.append(f.date_from)
    if f.date_to is not None:
        where.append("o.observed_on <= ?")
        params.append(f.date_to)
    if f.groups:
        named = [g for g in f.groups if g]
        cond = []
        if named:
            cond.append("list_contains(?::VARCHAR[], t.iconic_taxon_name)")
            params.append(named)
        if "" in f.groups:
            cond.append("t.iconic_taxon_name IS NULL")
        where.append("(" + " OR ".join(cond) + ")")
    if f.species:
        where.append(f"list_contains(?::BIGINT[], CASE WHEN {_IS_SPECIES} THEN coalesce(t.species_id, t.id) END)")
        params.append(list(f.species))
    if f.quality:
        where.append("list_contains(?::VARCHAR[], o.quality_grade)")
        params.append(list(f.quality))
    for ids in (f.communes, f.sites):
        if ids:
            # public: the links of the blurred place (biodiv.sensitivity.public), never the point's
            cond = sensitive.in_areas_sql(f.public, "list_contains(?::INTEGER[], area_id)")
            where.append(cond)
            params += [list(ids)] * cond.count("?")
    if f.area is not None:
        cond = sensitive.in_areas_sql(f.public, "area_id = ?")
        where.append(cond)
        params += [f.area] * cond.count("?")
    if f.since is not None:
        # the observation's time when known, else its day (an observation of that day counts)
        where.append("coalesce(o.observed_at >= ?, o.observed_on >= ?)")
        params += [f.since, f.since.date()]
    if f.status_only:
        where.append(
            f"(coalesce(t.threatened, false) OR t.id IN {_STATUS_TAXA} OR t.species_id IN {_STATUS_TAXA})"
        )
    if f.certainty:
        where.append(f"list_contains(?::VARCHAR[], {certainty_sql('o', f.public)})")
        params.append(list(f.certainty))
    if f.public:
        source = f"({sensitive.observations_sql(f.sensitivity_default, public=True)})"
        extra = "o.sensitivity_level, o.cell_ix, o.cell_iy"
    else:
        # the officer sees each observation's stored level (sheets, species lists), nothing blurred
        d = max(0, min(4, int(f.sensitivity_default)))
        source = (f"(SELECT o.id, o.observed_on, o.observed_at, o.quality_grade, o.lon, o.lat, o.obscured, "
                  "o.positional_accuracy, o.user_id, o.user_login, o.photo_url, o.uri, o.taxon_id, o.removed_at, "
                  f"o.in_territory, greatest(coalesce(sl.level, 0), CASE WHEN sl.cautious THEN {d} ELSE 0 END) "
                  "AS sensitivity_level FROM observations o "
                  "LEFT JOIN observation_sensitivity sl ON sl.observation_id = o.id)")
        extra = "o.sensitivity_level, CAST(NULL AS BIGINT) AS cell_ix, CAST(NULL AS BIGINT) AS cell_iy"
    sql = f"""
        SELECT o.id, o.observed_on, o.quality_grade, o.lon, o.lat, coalesce(o.obscured, false) AS obscured,
               o.positional_accuracy, o.user_id, o.user_login, o.photo_url, o.uri, o.taxon_id,
               t.name AS sci_name, t.common_name_fr, t.iconic_taxon_name AS iconic,
               CASE WHEN {_IS_SPECIES} THEN coalesce(t.species_id, t.id) END AS species_key, {extra}
        FROM {source} o LEFT JOIN taxa t ON t.id = o.taxon_id
        WHERE {' AND '.join(where)}"""
    return sql, params


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _with_filtered(f: Filters, body: str) -> tuple[str, list[Any]]:
    sql, params = filtered_sql(f)
    return f"WITH f AS ({sql}) {body}", params


# ---------------------------------------------------------------------------
# Database state
# ---------------------------------------------------------------------------

def db_info(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Facts for banners and empty-state messages: demo flag, territory, counts, last update."""
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    territory = con.execute("SELECT name FROM territory WHERE id = 1").fetchone()
    total, in_territory, removed = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE in_territory AND removed_at IS NULL),"
        " count(*) FILTER (WHERE removed_at IS NOT NULL) FROM observations"
    ).fetchone()
    last_run = con.execute(
        "SELECT max(finished_at) FROM runs WHERE status IN ('ok', 'partial')"   # TIMESTAMPTZ: shown in Paris time
    ).fetchone()[0]
    last_harvest = con.execute("SELECT max(harvested_at) FROM observations").fetchone()[0]
    communes = con.execute(
        "SELECT count(*) FROM areas WHERE type = 'commune' AND in_territory"
    ).fetchone()[0]
    return {
        "demo": str(meta.get("demo", "")).lower() == "true",
        "territory": territory[0] if territory else None,
        "observations_total": total,
        "observations_in_territory": in_territory,
        "observations_removed": removed,
        "communes": communes,
        "last_update": last_run or last_harvest,
    }


def refresh_runs(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The last successful harvest from iNaturalist and the last failed one (finished_at,
    message) recorded in the published file (no-change runs of ``<db>.runs.jsonl``: see ui)."""
    # 'partial': the harvest stored everything but records kept aside (quarantine): data refreshed
    ok = con.execute("SELECT CAST(max(finished_at) AS TIMESTAMPTZ) FROM runs WHERE kind = 'harvest' "
                     "AND status IN ('ok', 'partial')").fetchone()[0]
    failed = con.execute(
        """SELECT CAST(coalesce(finished_at, started_at) AS TIMESTAMPTZ), status, message FROM runs
           WHERE kind = 'harvest' AND status NOT IN ('ok', 'partial', 'running')
           ORDER BY coalesce(finished_at, started_at) DESC LIMIT 1""").fetchone()
    try:
        quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    except duckdb.CatalogException:      # a store older than migration 010
        quarantined = 0
    return {"ok_at": ok, "failed_at": failed[0] if failed else None,
            "failed_status": failed[1] if failed else None, "failed_message": failed[2] if failed else None,
            "quarantined": int(quarantined)}


# ---------------------------------------------------------------------------
# Figures and series
# ---------------------------------------------------------------------------

def key_figures(con: duckdb.DuckDBPyConnection, f: Filters = NO_FILTERS) -> dict[str, Any]:
    """Observations, species, observers, research-grade share, date span, obscured and
    drawable (non-obscured, with coordinates) counts. Communes covered: see :func:`coverage`."""
    sql, params = _with_filtered(
        f,
        """SELECT count(*) AS observations,
                  count(DISTINCT species_key) AS species,
                  count(DISTINCT coalesce(user_id, hash(user_login))) AS observers,
                  avg(CASE WHEN quality_grade = 'research' THEN 1.0 ELSE 0.0 END) AS research_share,
                  min(observed_on) AS first_observed, max(observed_on) AS last_observed,
                  count(*) FILTER (WHERE obscured) AS obscured,
                  count(*) FILTER (WHERE NOT obscured AND lon IS NOT NULL) AS drawable,
                  count(*) FILTER (WHERE sensitivity_level > 0) AS sensitive
           FROM f""",
    )
    row = con.execute(sql, params).fetchone()
    cols = ["observations", "species", "observers", "research_share", "first_observed",
            "last_observed", "obscured", "drawable", "sensitive"]
    out = dict(zip(cols, row))
    if not out["observations"]:
        out["research_share"] = None
    return out


def sensitivity_info(con: duckdb.DuckDBPyConnection, sensitivity_default: int = 2) -> dict[str, Any]:
    """Referentials imported, observations blurred and not published (for the public pages'
    notice: biodiv.sensitivity.public.summary); ``notice`` is the French sentence to show."""
    info = sensitive.summary(con, sensitivity_default)
    info["notice"] = sensitive.notice_fr(info)
    return info


def effort_totals(con: duckdb.DuckDBPyConnection, f: Filters = NO_FILTERS) -> dict[str, int]:
    """Survey effort of the whole filtered set: observation days (distinct observer × day)
    and observers (the territory's reference for "peu prospecté")."""
    sql, params = _with_filtered(
        f,
        """SELECT count(DISTINCT (coalesce(user_id, hash(user_login)), observed_on)),
                  count(DISTINCT coalesce(user_id, hash(user_login))) FROM f""",
    )
    days, observers = con.execute(sql, params).fetchone()
    return {"obs_days": int(days), "observers": int(observers)}


def coverage(measures: pd.DataFrame) -> dict[str, int]:
    """Communes covered (at least one observation) and total, from :func:`area_measures`."""
    return {"communes_covered": int((measures["observations"] > 0).sum()), "communes_total": len(measures)}


def date_range(con: duckdb.DuckDBPyConnection) -> tuple[date | None, date | None]:
    """First and last observation dates in the territory (bounds of the period filter)."""
    return tuple(con.execute(
        "SELECT min(observed_on), max(observed_on) FROM observations WHERE in_territory AND removed_at IS NULL"
    ).fetchone())


def per_year(con: duckdb.DuckDBPyConnection, f: Filters = NO_FILTERS) -> pd.DataFrame:
    sql, params = _with_filtered(
        f,
        """SELECT year(observed_on) AS year, count(*) AS observations,
                  count(DISTINCT species_key) AS species,
                  count(DISTINCT coalesce(user_id, hash(user_login))) AS observers
           FROM f WHERE observed_on IS NOT NULL GROUP BY 1 ORDER BY 1""",
    )
    return _df(con, sql, params)


def phenology_by_group(con: duckdb.DuckDBPyConnection, f: Filters = NO_FILTERS) -> pd.DataFrame:
    """Observations per calendar month (1..12) and taxonomic group (French name)."""
    sql, params = _with_filtered(
        f,
        """SELECT month(observed_on) AS month, coalesce(iconic, '') AS iconic, count(*) AS observations
           FROM f WHERE observed_on IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 3 DESC""",
    )
    df = _df(con, sql, params)
    df.insert(1, "group", [group_fr(i) for i in df["iconic"]])
    return df.drop(columns=["iconic"])


def per_month(con: duckdb.DuckDBPyConnection, f: Filters = NO_FILTERS) -> pd.DataFrame:
    """Observations and species per calendar month (a time series: one row per year-month)."""
    sql, params = _with_filtered(
        f,
        """SELECT CAST(date_trunc('month', observed_on) AS DATE) AS month, count(*) AS observations,
                  count(DISTINCT species_key) AS species
           FROM f WHERE observed_on IS NOT NULL GROUP BY 1 ORDER BY 1""",
    )
    return _df(con, sql, params)


def monthly_by_year(months: pd.DataFrame) -> pd.DataFrame:
    """From :func:`per_month`: one row per year with the list of its 12 monthly counts."""
    if months.empty:
        return pd.DataFrame({"year": pd.Series(dtype="int64"), "months": pd.Series(dtype=object)})
    m = pd.to_datetime(months["month"])
    table = (pd.DataFrame({"year": m.dt.year, "m": m.dt.month, "n": months["observations"]})
             .pivot_table(index="year", columns="m", values="n", aggfunc="sum", fill_value=0)
             .reindex(columns=range(1, 13), fill_value=0))
    return pd.DataFrame({"year": table.index.astype(int), "months": [list(map(int, r)) for r in table.to_numpy()]})


def phenology(con: duckdb.DuckDBPyConnection, f: Filters = NO_FILTERS) -> pd.DataFrame:
    """Observations and species per month of the year (1..12, all twelve present)."""
    sql, params = _with_filtered(
        f,
        """SELECT m.month, coalesce(x.observations, 0) AS observations, coalesce(x.species, 0) AS species
           FROM range(1, 13) m(month)
           LEFT JOIN (SELECT month(observed_on) AS month, count(*) AS observations,
                             count(DISTINCT species_key) AS species
                      FROM f WHERE observed_on IS NOT NULL GROUP BY 1) x USING (month)
           ORDER BY 1""",
    )
    return _df(con, sql, params)


def per_group(con: duckdb.DuckDBPyConnection, f: Filters = NO_FILTERS) -> pd.DataFrame:
    """Observations and species per taxonomic group, with the French group name."""
    sql, params = _with_filtered(
        f,
        """SELECT coalesce(iconic, '') AS iconic, count(*) AS observations,
                  count(DISTINCT species_key) AS species
           FROM f GROUP BY 1 ORDER BY observations DESC, iconic""",
    )
    df = _df(con, sql, params)
    df.insert(0, "group", [group_fr(i) for i in df["iconic"]])
    return df


def group_options(con: duckdb.DuckDBPyConnection, public: bool = False, sensitivity_default: int = 2) -> pd.DataFrame:
    """Iconic groups present in the territory, most observed first (for the group filter)."""
    source = f"({sensitive.observations_sql(sensitivity_default, True)})" if public else "observations"
    df = _df(con, f"""SELECT coalesce(t.iconic_taxon_name, '') AS iconic, count(*) AS observations
                     FROM {source} o LEFT JOIN taxa t ON t.id = o.taxon_id
                     WHERE o.in_territory AND o.removed_at IS NULL
                     GROUP BY 1 ORDER BY 2 DESC, 1""")
    df.insert(0, "group", [group_fr(i) for i in df["iconic"]])
    return df


# ---------------------------------------------------------------------------
# Species
# ---------------------------------------------------------------------------

_STATUS_LABELS = """
    st AS (
        SELECT taxon_id,
               string_agg(DISTINCT CASE kind WHEN 'protected' THEN 'Protégée (' || code || ')'
                                             WHEN 'threatened' THEN 'Menacée (' || code || ')'
                                             ELSE code END, ', ') AS label,
               bool_or(kind = 'protected') AS protected,
               bool_or(kind = 'threatened') AS threatened
        FROM taxon_statuses GROUP BY taxon_id)"""

# the official statuses, and iNaturalist's "threatened" flag when no imported list says so
# (a protected species also red-listed shows both: « Protégée (PN), Menacée (EN) »)
_STATUS_EXPR = """coalesce(concat_ws(', ', st.label, CASE WHEN s.threatened AND NOT coalesce(st.threatened, false)
        THEN 'Menacée' || coalesce(' (' || upper(s.conservation_status) || ')', '') END), '')"""


# TAXREF's French name and INPN group of species ``key`` when TAXREF is imported
# (`biodiv refs import TAXREFvNN.txt`: view v_taxon_taxref of migration 007), else NULL and
# the iNaturalist names are shown. TAXREF lists several vernacular names ("Crapaud calamite,
# Crapaud des joncs") and sometimes the article after the name ("Lézard ocellé (Le)"): the
# first name is shown, without its article.
def _taxref_join(key: str) -> str:
    return f"LEFT JOIN v_taxon_taxref tx ON tx.taxon_id = {key}"


def _taxref_fr(alias: str = "tx") -> str:
    return (rf"""nullif(trim(regexp_replace(split_part({alias}.taxref_vernacular, ',', 1), """
            r"""'\s*\((Le|La|Les|L'')\)\s*$', '')), '')""")


def _taxref_group(alias: str = "tx") -> str:
    return f"nullif(trim({alias}.group2_inpn), '')"


_TAXREF_FR = _taxref_fr()
_TAXREF_GROUP = _taxref_group()


def _observation_names(rows_sql: str, order: str) -> str:
    """Observation rows ``rows_sql`` (columns taxon_id, species_key, common_name_fr; already
    limited) with TAXREF's French name and INPN group (``inpn_group``) when TAXREF is
    imported: the observation's own taxon's, else its species'; else iNaturalist's name and
    a NULL group. Joined after the LIMIT, so a popup or a list pays for its rows only."""
    return f"""SELECT r.* REPLACE (coalesce({_taxref_fr('tx')}, {_taxref_fr('txs')}, r.common_name_fr)
                                   AS common_name_fr),
                      coalesce({_taxref_group('tx')}, {_taxref_group('txs')}) AS inpn_group
               FROM ({rows_sql}) r
               LEFT JOIN v_taxon_taxref tx ON tx.taxon_id = r.taxon_id
               LEFT JOIN v_taxon_taxref txs ON txs.taxon_id = r.species_key
               ORDER BY {order}"""


def _with_group(df: pd.DataFrame, at: int) -> pd.DataFrame:
    """Column ``group`` at position ``at``: TAXREF's INPN group (``inpn_group``) when known,
    else the French name of the iNaturalist iconic group; the two source columns dropped."""
    inpn = df["inpn_group"] if "inpn_group" in df.columns else [None] * len(df)
    df.insert(at, "group", [g if isinstance(g, str) and g else group_fr(i) for g, i in zip(inpn, df["iconic"])])
    return df.drop(columns=[c for c in ("iconic", "inpn_group") if c in df.columns])


# The SINP level of a species' observations, in French ("" for 0): what the officer reads in
# the species lists of every sheet, and what a public page says of a blurred species.
_SENSITIVITY_FR = ("CASE coalesce(agg.sensitivity, 0) " + " ".join(
    f"WHEN {k} THEN '{v}'" for k, v in {1: "Floutée (commune)", 2: "Floutée (maille 10 km)",
                                        3: "Floutée (département)", 4: "Non diffusée"}.items()) + " ELSE '' END")


def species_list(con: duckdb.DuckDBPyConnection, f: Filters = NO_FILTERS) -> pd.DataFrame:
    """One row per species: names, group (TAXREF's when imported), observation count, last
    year seen, status."""
    sql, params = filtered_sql(f)
    q = f"""WITH f AS ({sql}), {_STATUS_LABELS},
        agg AS (SELECT species_key, count(*) AS observations, max(year(observed_on)) AS last_year,
                       any_value(sci_name) AS any_sci, any_value(common_name_fr) AS any_fr,
                       any_value(iconic) AS any_iconic, max(sensitivity_level) AS sensitivity
                FROM f WHERE species_key IS NOT NULL GROUP BY species_key)
        SELECT agg.species_key, coalesce({_TAXREF_FR}, s.common_name_fr, agg.any_fr, '') AS common_name_fr,
               coalesce(s.name, agg.any_sci) AS sci_name,
               coalesce(s.iconic_taxon_name, agg.any_iconic) AS iconic, {_TAXREF_GROUP} AS inpn_group,
               agg.observations, agg.last_year, {_STATUS_EXPR} AS status,
               {_SENSITIVITY_FR} AS sensitivity
        FROM agg LEFT JOIN taxa s ON s.id = agg.species_key
                 LEFT JOIN st ON st.taxon_id = agg.species_key
                 {_taxref_join("agg.species_key")}
        ORDER BY agg.observations DESC, sci_name"""
    return _with_group(_df(con, q, params), 3)


def species_options(con: duckdb.DuckDBPyConnection, public: bool = False, sensitivity_default: int = 2) -> pd.DataFrame:
    """Every species seen in the territory with a search label ``Nom français (Nom scientifique)``
    (public: not the species whose every observation is withheld)."""
    df = species_list(con, ALL_OBSERVATIONS.with_(public=public, sensitivity_default=sensitivity_default))
    df["label"] = [
        f"{fr} ({sci})" if fr else str(sci) for fr, sci in zip(df["common_name_fr"], df["sci_name"])
    ]
    return df[["species_key", "label", "common_name_fr", "sci_name", "observations"]]


def search_species(options: pd.DataFrame, text: str) -> pd.DataFrame:
    """Species whose French or scientific name contains ``text`` (case and accent-insensitive)."""
    import unicodedata

    def norm(s: str) -> str:
        s = unicodedata.normalize("NFKD", str(s or ""))
        return "".join(c for c in s if not unicodedata.combining(c)).casefold()

    needle = norm(text).strip()
    if not needle:
        return options
    mask = [needle in norm(fr) or needle in norm(sci)
            for fr, sci in zip(options["common_name_fr"], options["sci_name"])]
    return options[mask]


def species_info(con: duckdb.DuckDBPyConnection, species_key: int) -> dict[str, Any] | None:
    """Names, group, rank, status and a photo for one species (None if unknown)."""
    q = f"""WITH {_STATUS_LABELS}
        SELECT s.id, s.name, coalesce({_TAXREF_FR}, s.common_name_fr), s.rank, s.iconic_taxon_name,
               {_STATUS_EXPR} AS status,
               coalesce(s.photo_url, (SELECT o.photo_url FROM observations o JOIN taxa t ON t.id = o.taxon_id
                                        WHERE coalesce(t.species_id, t.id) = s.id AND o.photo_url IS NOT NULL
                                          AND o.removed_at IS NULL
                                        ORDER BY o.observed_on DESC LIMIT 1)) AS photo_url,
               s.wikipedia_url, {_TAXREF_GROUP}, tx.cd_ref, s.common_name_fr
        FROM taxa s LEFT JOIN st ON st.taxon_id = s.id {_taxref_join("s.id")} WHERE s.id = ?"""
    row = con.execute(q, [species_key]).fetchone()
    if row is None:
        return None
    keys = ["id", "sci_name", "common_name_fr", "rank", "iconic", "status", "photo_url", "wikipedia_url",
            "inpn_group", "cd_ref", "inat_common_name_fr"]
    out = dict(zip(keys, row))
    out["group"] = out["inpn_group"] or group_fr(out["iconic"])   # TAXREF's INPN group when imported
    return out


def new_species(con: duckdb.DuckDBPyConnection, year: int, f: Filters = NO_FILTERS) -> pd.DataFrame:
    """Species first seen in the territory (all data of the filter's quality grades, as the
    ``new_species_by_year`` named query) during ``year``, or during the filter's period when
    it has one (the "new species" follow the period).

    The other filters only narrow which of these species are listed (e.g. birds only).
    """
    base, base_params = filtered_sql(Filters(quality=f.quality, public=f.public,
                                             sensitivity_default=f.sensitivity_default))
    sql, params = filtered_sql(f)
    if f.since is not None:
        when, extra = "first.first_seen >= ?", [f.since.date()]
    elif f.date_from is None and f.date_to is None:
        when, extra = "year(first.first_seen) = ?", [year]
    else:
        when = "first.first_seen BETWEEN ? AND ?"
        extra = [f.date_from or date(1, 1, 1), f.date_to or date(9999, 12, 31)]
    q = f"""WITH b AS ({base}), f AS ({sql}),
        first AS (SELECT species_key, min(observed_on) AS first_seen, count(*) AS observations
                  FROM b WHERE species_key IS NOT NULL GROUP BY 1)
        SELECT first.species_key, coalesce({_TAXREF_FR}, s.common_name_fr, '') AS common_name_fr,
               s.name AS sci_name, {_TAXREF_GROUP} AS inpn_group,
               s.iconic_taxon_name AS iconic, first.first_seen, first.observations
        FROM first LEFT JOIN taxa s ON s.id = first.species_key {_taxref_join("first.species_key")}
        WHERE {when} AND first.species_key IN (SELECT species_key FROM f)
        ORDER BY first.first_seen DESC, sci_name"""
    return _with_group(_df(con, q, base_params + params + extra), 3)


def species_sensitivity(con: duckdb.DuckDBPyConnection, species_key: int, sensitivity_default: int = 2) -> str:
    """The SINP levels given to a species' observations, in French, for its sheet ("" when none)."""
    from biodiv.sensitivity.rules import SHORT_FR

    d = max(0, min(4, int(sensitivity_default)))
    rows = con.execute(
        f"""SELECT lvl, count(*) FROM (
                SELECT greatest(s.level, CASE WHEN s.cautious THEN {d} ELSE 0 END) AS lvl
                FROM observation_sensitivity s JOIN taxa t ON t.id = s.taxon_id
                WHERE coalesce(t.species_id, t.id) = ?) WHERE lvl > 0 GROUP BY 1 ORDER BY 1""",
        [species_key]).fetchall()
    return ", ".join(f"niveau {lvl} ({SHORT_FR[lvl]}) : {n} obs." for lvl, n in rows)


def species_areas(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Areas (any type) holding the filtered observations: type, code, name, count, last date."""
    links, on = sensitive.links_sql(f.public, "f")
    sql, params = _with_filtered(
        f,
        f"""SELECT a.id AS area_id, a.type, a.code, a.name, count(*) AS observations,
                  max(f.observed_on) AS last_observed
           FROM f JOIN {links} oa ON {on}
                  JOIN areas a ON a.id = oa.area_id
           GROUP BY ALL ORDER BY a.type, observations DESC, a.name""",
    )
    return _df(con, sql, params)


# ---------------------------------------------------------------------------
# Observations
# ---------------------------------------------------------------------------

def latest_observations(con: duckdb.DuckDBPyConnection, n: int = 10, f: Filters = NO_FILTERS,
                        with_photo: bool = False) -> pd.DataFrame:
    sql, params = _with_filtered(f, _observation_names(
        f"""SELECT id, observed_on, common_name_fr, sci_name, iconic, quality_grade, user_login,
                   photo_url, uri, obscured OR coalesce(sensitivity_level, 0) > 0 AS obscured, species_key, taxon_id
            FROM f {'WHERE photo_url IS NOT NULL' if with_photo else ''}
            ORDER BY observed_on DESC NULLS LAST, id DESC LIMIT ?""",
        "observed_on DESC NULLS LAST, id DESC"))
    return _with_group(_df(con, sql, params + [n]), 4).drop(columns=["taxon_id"])


def mask_observers(df: pd.DataFrame, public_mode: bool) -> pd.DataFrame:
    """Replace observer logins by a neutral label in public mode (copy; input untouched)."""
    if not public_mode or "user_login" not in df.columns:
        return df
    out = df.copy()
    out["user_login"] = HIDDEN_OBSERVER_FR
    return out


def map_points(con: duckdb.DuckDBPyConnection, f: Filters, limit: int) -> pd.DataFrame:
    """Non-obscured filtered observations (at most ``limit``) with what a popup shows (public:
    the blurred ones have no coordinates, so they are never points)."""
    sql, params = filtered_sql(f)
    q = f"""WITH f AS ({sql}) """ + _observation_names(
        f"""SELECT f.id, round(f.lon, 5) AS lon, round(f.lat, 5) AS lat, f.observed_on, f.common_name_fr,
                   f.sci_name, f.iconic, f.quality_grade, f.user_login, f.photo_url, f.uri,
                   {certainty_sql('f', f.public)} AS certainty, f.taxon_id, f.species_key
            FROM f WHERE NOT f.obscured AND f.lon IS NOT NULL
            ORDER BY f.observed_on DESC NULLS LAST, f.id DESC LIMIT ?""",
        "observed_on DESC NULLS LAST, id DESC")
    return _with_group(_df(con, q, params + [limit]), 7).drop(columns=["taxon_id", "species_key"])


def _in_grid_sql(size_m: int) -> tuple[str, str, str]:
    """Lambert-93 cell indices of the filtered rows ``f`` and the condition for a row to be
    placed in a cell of ``size_m``: not obscured, with coordinates, and located at least as
    precisely as the cell (an observation known to 5 km is not put in a 1 km cell). On a
    public page a level-2 sensitive observation has no coordinates but its 10 km cell
    (``cell_ix``/``cell_iy``): it is placed in 10 km cells only."""
    from biodiv.dashboard.grid import l93_sql

    x, y = l93_sql("lon", "lat")
    size = int(size_m)
    cond = (f"NOT obscured AND lon IS NOT NULL AND (positional_accuracy IS NULL "
            f"OR positional_accuracy <= {size})")
    ix, iy = f"CAST(floor({x} / {size}) AS INTEGER)", f"CAST(floor({y} / {size}) AS INTEGER)"
    if size == sensitive.CELL_M:
        cond = f"(({cond}) OR cell_ix IS NOT NULL)"
        ix, iy = f"coalesce(CAST(cell_ix AS INTEGER), {ix})", f"coalesce(CAST(cell_iy AS INTEGER), {iy})"
    return ix, iy, cond


def grid_counts(con: duckdb.DuckDBPyConnection, f: Filters, size_m: int = 10_000) -> pd.DataFrame:
    """Filtered observations per cell of the national Lambert-93 grid (``grid.SIZES``).

    Returns ix, iy (cell indices), code (INPN/EEA code), observations, species, observers and
    observation days (distinct observer × day), and how many filtered rows could not be
    placed (obscured, no coordinates, or too imprecise for the cell) in ``attrs["unplaced"]``.
    """
    from biodiv.dashboard.grid import cell_code

    ix, iy, cond = _in_grid_sql(size_m)
    sql, params = _with_filtered(
        f,
        f"""SELECT {ix} AS ix, {iy} AS iy, count(*) AS observations,
                   count(DISTINCT species_key) AS species,
                   count(DISTINCT coalesce(user_id, hash(user_login))) AS observers,
                   count(DISTINCT (coalesce(user_id, hash(user_login)), observed_on)) AS obs_days
            FROM f WHERE {cond} GROUP BY 1, 2 ORDER BY 1, 2""",
    )
    df = _df(con, sql, params)
    df.insert(2, "code", [cell_code(size_m, a, b) for a, b in zip(df["ix"], df["iy"])])
    total = key_figures(con, f)["observations"]
    df.attrs["unplaced"] = int(total - df["observations"].sum())
    return df


def cell_species(con: duckdb.DuckDBPyConnection, f: Filters, size_m: int, ix: int, iy: int) -> pd.DataFrame:
    """Species of one grid cell (as :func:`species_list`, limited to the cell)."""
    sub_ix, sub_iy, cond = _in_grid_sql(size_m)
    sql, params = filtered_sql(f)
    q = f"""WITH f AS ({sql}), c AS (SELECT * FROM f WHERE {cond} AND {sub_ix} = ? AND {sub_iy} = ?),
        agg AS (SELECT species_key, count(*) AS observations, max(observed_on) AS last_observed,
                       any_value(sci_name) AS any_sci, any_value(common_name_fr) AS any_fr
                FROM c WHERE species_key IS NOT NULL GROUP BY 1)
        SELECT agg.species_key, coalesce({_TAXREF_FR}, s.common_name_fr, agg.any_fr, '') AS common_name_fr,
               coalesce(s.name, agg.any_sci) AS sci_name, s.iconic_taxon_name AS iconic,
               {_TAXREF_GROUP} AS inpn_group,
               agg.observations, agg.last_observed
        FROM agg LEFT JOIN taxa s ON s.id = agg.species_key {_taxref_join("agg.species_key")}
        ORDER BY agg.observations DESC, sci_name"""
    return _with_group(_df(con, q, params + [int(ix), int(iy)]), 3)


def cell_observations(con: duckdb.DuckDBPyConnection, f: Filters, size_m: int, ix: int, iy: int,
                      limit: int = 200) -> pd.DataFrame:
    """The latest observations of one grid cell (at most ``limit``)."""
    sub_ix, sub_iy, cond = _in_grid_sql(size_m)
    sql, params = _with_filtered(f, _observation_names(
        f"""SELECT id, observed_on, common_name_fr, sci_name, quality_grade, user_login, uri, taxon_id, species_key,
                   sensitivity_level
            FROM f WHERE {cond} AND {sub_ix} = ? AND {sub_iy} = ?
            ORDER BY observed_on DESC NULLS LAST, id DESC LIMIT ?""",
        "observed_on DESC NULLS LAST, id DESC"))
    return _df(con, sql, params + [int(ix), int(iy), int(limit)]).drop(columns=["taxon_id", "species_key", "inpn_group"])


# ---------------------------------------------------------------------------
# Areas
# ---------------------------------------------------------------------------

def area_list(con: duckdb.DuckDBPyConnection, types: tuple[str, ...] | str) -> pd.DataFrame:
    """Areas of the given type(s); communes are limited to the territory's members."""
    if isinstance(types, str):
        types = (types,)
    return _df(
        con,
        """SELECT id AS area_id, type, code, name, area_km2 FROM areas
           WHERE list_contains(?::VARCHAR[], type) AND (type <> 'commune' OR in_territory)
           ORDER BY type, name, code""",
        [list(types)],
    )


def area_types_present(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT DISTINCT type FROM areas WHERE type <> 'commune' OR in_territory ORDER BY 1"
    ).fetchall()]


def area_info(con: duckdb.DuckDBPyConnection, area_id: int) -> dict[str, Any] | None:
    row = con.execute(
        "SELECT id, type, code, name, area_km2, xmin, ymin, xmax, ymax FROM areas WHERE id = ?",
        [area_id],
    ).fetchone()
    if row is None:
        return None
    return dict(zip(["area_id", "type", "code", "name", "area_km2", "xmin", "ymin", "xmax", "ymax"], row))


def area_measures(con: duckdb.DuckDBPyConnection, f: Filters = NO_FILTERS,
                  area_type: str = "commune") -> pd.DataFrame:
    """Per area of ``area_type``: observations, species, observations per km², last date."""
    sql, params = filtered_sql(f)
    links, on = sensitive.links_sql(f.public, "f")
    q = f"""WITH f AS ({sql}),
        counts AS (SELECT oa.area_id, count(*) AS observations, count(DISTINCT f.species_key) AS species,
                          max(f.observed_on) AS last_observed,
                          count(DISTINCT coalesce(f.user_id, hash(f.user_login))) AS observers,
                          count(DISTINCT (coalesce(f.user_id, hash(f.user_login)), f.observed_on)) AS obs_days
                   FROM f JOIN {links} oa ON {on} GROUP BY 1)
        SELECT a.id AS area_id, a.code, a.name, a.area_km2,
               coalesce(c.observations, 0) AS observations, coalesce(c.species, 0) AS species,
               CASE WHEN a.area_km2 > 0 THEN coalesce(c.observations, 0) / a.area_km2 END AS per_km2,
               c.last_observed, coalesce(c.observers, 0) AS observers, coalesce(c.obs_days, 0) AS obs_days,
               CASE WHEN a.area_km2 > 0 THEN coalesce(c.obs_days, 0) / a.area_km2 END AS effort
        FROM areas a LEFT JOIN counts c ON c.area_id = a.id
        WHERE a.type = ? AND (a.type <> 'commune' OR a.in_territory)
        ORDER BY a.name"""
    return _df(con, q, params + [area_type])


def area_features(con: duckdb.DuckDBPyConnection, area_type: str, tolerance: float = 0.0005,
                  area_id: int | None = None) -> dict[str, Any]:
    """GeoJSON FeatureCollection of simplified, rounded outlines (light enough for a web map).

    Communes are limited to the territory; other types to areas whose bounding box meets
    the territory's (when the territory has one). Coordinates are rounded to 1e-5° (≈1 m).
    """
    cond = ["a.type = ?"]
    params: list[Any] = [area_type]
    if area_id is not None:
        cond.append("a.id = ?")
        params.append(area_id)
    elif area_type == "commune":
        cond.append("a.in_territory")
    else:
        cond.append(
            "NOT EXISTS (SELECT 1 FROM territory t WHERE t.xmin IS NOT NULL AND "
            "(a.xmax < t.xmin OR a.xmin > t.xmax OR a.ymax < t.ymin OR a.ymin > t.ymax))"
        )
    rows = con.execute(
        f"""SELECT a.id, a.code, a.name,
                   ST_AsGeoJSON(ST_ReducePrecision(ST_SimplifyPreserveTopology(a.geom, ?), 0.00001)),
                   round(ST_X(ST_PointOnSurface(a.geom)), 5), round(ST_Y(ST_PointOnSurface(a.geom)), 5)
            FROM areas a WHERE {' AND '.join(cond)} ORDER BY a.name""",
        [tolerance] + params,
    ).fetchall()
    features = [
        {
            "type": "Feature",
            "properties": {"area_id": r[0], "code": r[1], "name": r[2], "label_lon": r[4], "label_lat": r[5]},
            "geometry": json.loads(r[3]),
        }
        for r in rows
        if r[3] is not None
    ]
    return {"type": "FeatureCollection", "features": features}


def territory_bounds(con: duckdb.DuckDBPyConnection) -> tuple[float, float, float, float] | None:
    """(xmin, ymin, xmax, ymax) of the territory, else of its communes, else of the points."""
    row = con.execute("SELECT xmin, ymin, xmax, ymax FROM territory WHERE id = 1").fetchone()
    if row and None not in row:
        return tuple(row)
    row = con.execute(
        "SELECT min(xmin), min(ymin), max(xmax), max(ymax) FROM areas WHERE type = 'commune' AND in_territory"
    ).fetchone()
    if row and None not in row:
        return tuple(row)
    row = con.execute(
        "SELECT min(lon), min(lat), max(lon), max(lat) FROM observations WHERE in_territory"
    ).fetchone()
    if row and None not in row:
        return tuple(row)
    return None


# ---------------------------------------------------------------------------
# The territory's species list (« Espèces du territoire »)
# ---------------------------------------------------------------------------

# IUCN red-list categories, as the French red lists (UICN France) name them
IUCN_FR = {
    "EX": "Éteinte", "EW": "Éteinte à l'état sauvage", "RE": "Disparue au niveau régional",
    "CR": "En danger critique", "EN": "En danger", "VU": "Vulnérable", "NT": "Quasi menacée",
    "LC": "Préoccupation mineure", "DD": "Données insuffisantes", "NA": "Non applicable", "NE": "Non évaluée",
}
THREATENED_IUCN = ("CR", "EN", "VU")
PATRIMONIAL_IUCN = ("RE", "CR", "EN", "VU", "NT")


def territory_species(con: duckdb.DuckDBPyConnection, f: Filters = NO_FILTERS) -> pd.DataFrame:
    """:func:`species_list` plus, per species: protected (an official protection), threatened
    (CR/EN/VU on a red list, or iNaturalist's threatened flag), patrimonial (protected, or
    RE/CR/EN/VU/NT on a red list) and ``red_list``: the red-list categories as IUCN codes
    with their French label (« VU — Vulnérable »)."""
    species = species_list(con, f)
    flags = _df(con, """
        SELECT t.id AS species_key,
               bool_or(s.kind = 'protected') AS protected,
               list_sort(list_distinct(list(upper(regexp_extract(s.code, '^[A-Za-z]+')))
                   FILTER (WHERE s.kind = 'threatened' OR upper(regexp_extract(s.code, '^[A-Za-z]+')) IN
                           ('RE','CR','EN','VU','NT','LC','DD','NA','NE','EX','EW')))) AS codes,
               any_value(coalesce(t.threatened, false)) AS inat_threatened,
               any_value(upper(t.conservation_status)) AS inat_code
        FROM taxa t LEFT JOIN taxon_statuses s ON s.taxon_id = t.id
        WHERE t.id IN (SELECT unnest(?::BIGINT[])) GROUP BY t.id""", [[int(k) for k in species["species_key"]]])
    out = species.merge(flags, on="species_key", how="left")
    codes = [list(c) if isinstance(c, (list, tuple)) or hasattr(c, "__len__") and not isinstance(c, str) else []
             for c in out["codes"]]
    out["protected"] = out["protected"].fillna(False).astype(bool)
    out["threatened"] = [bool(set(c) & set(THREATENED_IUCN)) or bool(t) for c, t in zip(codes, out["inat_threatened"])]
    out["patrimonial"] = [p or bool(set(c) & set(PATRIMONIAL_IUCN)) or t
                          for p, c, t in zip(out["protected"], codes, out["threatened"])]
    out["red_list"] = [", ".join(f"{c} — {IUCN_FR[c]}" for c in cs if c in IUCN_FR) for cs in codes]
    # one French text: the protections, then the red-list categories spelt out (or the status
    # as species_list gives it when no red list is imported)
    out["status"] = [
        ", ".join([p for p in str(st).split(", ") if p.startswith("Protégée")] + [red]) if red else st
        for st, red in zip(out["status"], out["red_list"])]
    return out.drop(columns=["codes", "inat_threatened", "inat_code"])
