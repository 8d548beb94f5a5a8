"""The selection every export format shares: which observations, which columns, which types.

Why one selection for every format: the same filters (area, period, group, quality grade,
certainty of the area link) and the same privacy rules must hold whatever the format. The
rows come from the ``v_observations`` view (removed observations never leave the store).

Privacy (``dashboard.public_mode``): observer logins, names and ids are dropped. Obscured
observations keep the coordinates iNaturalist published (already randomised in a 0.2° cell,
never anything more precise) and get an uncertainty covering that cell, so no consumer
mistakes them for precise points. Sensitive species (SINP levels) go through
:func:`biodiv.sensitivity.public.export_frame`: every export carries each observation's
``sensitivity_level``; a public one blurs it (commune, 10 km cell, department, or left out),
also when the export is filtered by area (the blurred place's areas, never the point's), and
leaves out the observer's free text (notes, place names) unless asked (``free_text``).

Time: ``observed_at`` is an instant (TIMESTAMPTZ). It is read as UTC whatever the host's or
the session's zone, and shown in the observation's own zone: the ``time_zone`` iNaturalist
gives with the record when the store has it, else the zone of the commune's department
(Europe/Paris, Indian/Reunion, America/Guadeloupe...), else UTC. So the same export is
byte-identical on every host.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import pandas as pd
import pyarrow as pa

from biodiv.analysis.queries import DEFAULT_QUALITY

from biodiv.errors import BiodivError
from biodiv.sensitivity import public as sensitive

QUALITIES = ("any", "verifiable", "research", "needs_id", "casual")
PRIVATE_COLUMNS = ("user_id", "user_login", "user_name", "identified_by")


class ExportError(BiodivError):
    """An export that cannot be produced (one-line message)."""


@dataclass
class ExportFilter:
    """Which observations to export. Without ``area``: the territory (``include_outside``
    adds observations attached outside it, or not attached at all). ``certain_only`` keeps
    observations surely inside the area (or, without area, surely inside their commune)."""

    area: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    group: str | None = None
    quality: str = DEFAULT_QUALITY   # as the dashboard and the named queries ("any": every grade)
    certain_only: bool = False
    include_outside: bool = False

    def describe(self) -> str:
        parts = [f"area {self.area}" if self.area else
                 ("all observations" if self.include_outside else "the territory")]
        if self.since:
            parts.append(f"from {self.since}")
        if self.until:
            parts.append(f"until {self.until}")
        if self.group:
            parts.append(f"group {self.group}")
        if self.quality != "any":
            parts.append(f"quality {self.quality}")
        if self.certain_only:
            parts.append("certain links only")
        return ", ".join(parts)


@dataclass
class ExportResult:
    path: Path
    format: str
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Places: country code and time zone from the INSEE commune code (pure)
# ---------------------------------------------------------------------------

# Overseas departments and collectivities by the first three digits of the INSEE code:
# (ISO 3166-1 alpha-2 code Darwin Core wants, IANA time zone).
OVERSEAS = {
    "971": ("GP", "America/Guadeloupe"), "972": ("MQ", "America/Martinique"),
    "973": ("GF", "America/Cayenne"), "974": ("RE", "Indian/Reunion"),
    "975": ("PM", "America/Miquelon"), "976": ("YT", "Indian/Mayotte"),
    "977": ("BL", "America/St_Barthelemy"), "978": ("MF", "America/Marigot"),
    "986": ("WF", "Pacific/Wallis"), "987": ("PF", "Pacific/Tahiti"),
    "988": ("NC", "Pacific/Noumea"),
}
_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


def country_code(commune_code) -> str | None:
    """ISO country code of a French commune (FR, or RE, GP... overseas); None without one."""
    if not isinstance(commune_code, str) or not _INSEE.match(commune_code):
        return None
    return OVERSEAS.get(commune_code[:3], ("FR", None))[0]


def commune_zone(commune_code) -> str | None:
    if not isinstance(commune_code, str) or not _INSEE.match(commune_code):
        return None
    return OVERSEAS.get(commune_code[:3], ("FR", "Europe/Paris"))[1]


@lru_cache(maxsize=256)
def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def observation_zones(obs: pd.DataFrame) -> pd.Series:
    """Each observation's IANA zone: its own (``time_zone``), else its commune's, else UTC."""
    own = obs["time_zone"] if "time_zone" in obs else pd.Series(None, index=obs.index, dtype=object)
    own = own.where(own.map(lambda z: isinstance(z, str) and _valid_zone(z)), None)
    by_commune = obs["commune_code"].map(commune_zone)
    return own.fillna(by_commune).fillna("UTC").astype(object)


def local_iso(utc: pd.Series, zones: pd.Series) -> pd.Series:
    """ISO 8601 strings in each row's zone with its offset ('2018-09-05T00:30:00+02:00');
    UTC rows end in 'Z'; missing instants give None. ``utc`` is tz-aware UTC."""
    out = pd.Series(None, index=utc.index, dtype=object)
    present = utc.notna()
    for zone, idx in zones[present].groupby(zones[present]).groups.items():
        local = utc.loc[idx].dt.tz_convert(zone)
        text = local.dt.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)
        out.loc[idx] = text.str.replace(r"\+00:00$", "Z", regex=True) if zone == "UTC" else text
    return out


def utc_iso(utc: pd.Series) -> pd.Series:
    """ISO 8601 UTC strings ('2021-07-28T04:07:34Z'), None where missing."""
    return utc.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(utc.notna(), None)


# ---------------------------------------------------------------------------
# Selection (SQL)
# ---------------------------------------------------------------------------

# Columns written by the harvest of newer stores (migration 006 and later): selected when the
# store has them, NULL otherwise, so that exports work on every schema version.
OPTIONAL_COLUMNS = {
    "time_zone": "VARCHAR", "user_name": "VARCHAR", "identified_by": "VARCHAR",
    "identified_at": "TIMESTAMPTZ", "photo_attribution": "VARCHAR", "description": "VARCHAR",
}
# TAXREF link of the taxon (migration 007, `biodiv refs import TAXREFvNN.txt`).
TAXREF_COLUMNS = ("cd_nom", "cd_ref", "taxref_name", "nom_valide", "taxref_vernacular", "regne",
                  "group1_inpn", "group2_inpn", "taxref_rank")

_OBS_COLUMNS = """
    o.id, o.uuid, o.observed_on, timezone('UTC', o.observed_at) AS observed_at_utc,
    timezone('UTC', o.created_at) AS created_at_utc, timezone('UTC', o.updated_at) AS updated_at_utc,
    o.quality_grade,
    o.taxon_id, o.scientific_name, o.common_name_fr, o.rank, o.group_name,
    o.kingdom_name, o.phylum_name, o.class_name, o.order_name, o.family_name, o.genus_name,
    o.lon, o.lat, o.positional_accuracy,
    CAST(CASE WHEN o.obscured AND o.lat IS NOT NULL
              THEN greatest(coalesce(o.positional_accuracy, 0),
                            round(sqrt(pow(22239.0, 2) * (1 + pow(cos(radians(o.lat)), 2)))))
              ELSE o.positional_accuracy END AS DOUBLE) AS coordinate_uncertainty_m,
    o.obscured, o.geoprivacy, o.taxon_geoprivacy, o.captive, o.place_guess,
    o.user_id, o.user_login, o.license_code, o.uri, o.photo_url, r.photo_license, o.in_territory,
    o.commune_code, o.commune_name, o.commune_relation,
    array_to_string(o.n2000_codes, ',') AS n2000_codes,
    o.protected, o.threatened, o.protection_codes, o.redlist_codes,
    ST_AsWKB(o.geom) AS wkb
"""


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $t", {"t": table}).fetchall()}


def _extra_columns(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """SELECT items and joins for the optional and TAXREF columns this store has."""
    in_view, in_table = _columns(con, "v_observations"), _columns(con, "observations")
    items = []
    for name, sqltype in OPTIONAL_COLUMNS.items():
        src = f"o.{name}" if name in in_view else (f"r.{name}" if name in in_table else f"CAST(NULL AS {sqltype})")
        if sqltype == "TIMESTAMPTZ":
            src = f"timezone('UTC', {src})"
            name = f"{name}_utc"
        items.append(f"{src} AS {name}")
    joins = "JOIN observations r ON r.id = o.id"
    if "cd_nom" in _columns(con, "v_taxon_taxref"):
        joins += " LEFT JOIN v_taxon_taxref tx ON tx.taxon_id = o.taxon_id"
        items += [f"tx.{c}" for c in TAXREF_COLUMNS]
        # the author of the TAXREF name matched (the iNaturalist name's own authorship)
        joins += " LEFT JOIN taxref ta ON ta.cd_nom = TRY_CAST(tx.cd_nom AS INTEGER)"
        items.append("ta.lb_auteur AS taxref_author")
    else:
        items += [f"CAST(NULL AS VARCHAR) AS {c}" for c in TAXREF_COLUMNS + ("taxref_author",)]
    return ", ".join(items), joins


def _where(f: ExportFilter, public: bool = False, default_level: int = 2) -> tuple[str, dict]:
    clauses, params = [], {}
    if f.area and public:
        # the areas of the blurred place (levels 1-2), none for levels 3-4 (biodiv.sensitivity.public)
        clauses.append(
            """(coalesce(lv.level, 0) = 0 AND in_area(o.id, $area, $certain_only)
                 OR lv.level IN (1, 2) AND EXISTS (
                    SELECT 1 FROM observation_public_areas p JOIN areas a ON a.id = p.area_id
                    WHERE p.observation_id = o.id AND a.code = $area
                      AND p.kind = CASE lv.level WHEN 1 THEN 'commune' ELSE 'cell' END
                      AND (NOT $certain_only OR p.relation = 'certain')))""")
        params["area"] = f.area
        params["certain_only"] = bool(f.certain_only)
    elif f.area:
        clauses.append("in_area(o.id, $area, $certain_only)")
        params["area"] = f.area
        params["certain_only"] = bool(f.certain_only)
    else:
        if not f.include_outside:
            clauses.append("coalesce(o.in_territory, false)")
        if f.certain_only:
            clauses.append("o.commune_relation = 'certain'")
    if f.since:
        clauses.append("o.observed_on >= $since")
        params["since"] = f.since
    if f.until:
        clauses.append("o.observed_on <= $until")
        params["until"] = f.until
    if f.group:
        clauses.append(
            "lower($group) IN (lower(o.group_name), lower(o.kingdom_name), lower(o.phylum_name), "
            "lower(o.class_name), lower(o.order_name), lower(o.family_name), lower(o.genus_name))"
        )
        params["group"] = f.group
    if f.quality != "any":
        clauses.append("quality_ok(o.quality_grade, $quality)")
        params["quality"] = f.quality
    return (" AND ".join(clauses) or "true"), params


def check_filter(con: duckdb.DuckDBPyConnection, f: ExportFilter) -> None:
    if f.quality not in QUALITIES:
        raise ExportError(f"quality must be one of {', '.join(QUALITIES)}; got {f.quality!r}")
    if f.since and f.until and f.since > f.until:
        raise ExportError(f"--since {f.since} is after --until {f.until}")
    if f.area:
        found = con.execute("SELECT count(*) FROM areas WHERE code = $c", {"c": f.area}).fetchone()[0]
        if not found:
            raise ExportError(f"unknown area code {f.area!r}: use an INSEE commune code or a Natura 2000 site code")


def select_observations(
    con: duckdb.DuckDBPyConnection, f: ExportFilter, public_mode: bool = False,
    sensitivity_default: int = 2, free_text: bool = False,
) -> pd.DataFrame:
    """Filtered observations (internal names, geometry as WKB in ``wkb``), ordered by id.

    Instants arrive as tz-aware UTC (``observed_at`` ...), plus ``zone`` (the IANA zone each
    observation is shown in) and ``country_code``; dates stay calendar dates. Each row has its
    ``sensitivity_level``; ``public_mode`` blurs the sensitive ones (see the module docstring)
    and ``df.attrs["notes"]`` says what was blurred or left out.
    """
    check_filter(con, f)
    where, params = _where(f, public_mode, sensitivity_default)
    extra, joins = _extra_columns(con)
    if public_mode and f.area:
        joins += f" LEFT JOIN ({sensitive.levels_sql(sensitivity_default)}) lv ON lv.observation_id = o.id"
    df = con.execute(
        f"SELECT {_OBS_COLUMNS}, {extra} FROM v_observations o {joins} WHERE {where} ORDER BY o.id", params
    ).fetchdf()
    # DuckDB DATE arrives as a midnight timestamp: keep it a calendar date
    df["observed_on"] = pd.to_datetime(df["observed_on"]).dt.date.astype(object)
    df.loc[df["observed_on"].isna(), "observed_on"] = None
    for col in [c for c in df.columns if c.endswith("_utc")]:
        df[col[:-4]] = pd.to_datetime(df.pop(col)).dt.tz_localize("UTC")
    df["zone"] = observation_zones(df)
    df["country_code"] = df["commune_code"].map(country_code)
    df, notes = sensitive.export_frame(con, df, public_mode, sensitivity_default, free_text)
    df = obscured_places(con, df)
    if public_mode:
        df = df.drop(columns=list(PRIVATE_COLUMNS))
    df.attrs["notes"] = notes
    return df


def territory_place(con: duckdb.DuckDBPyConnection) -> tuple[str | None, str | None]:
    """(country, time zone) of the territory's communes when they all share one (else None)."""
    codes = [r[0] for r in con.execute(
        "SELECT code FROM areas WHERE type = 'commune' AND coalesce(in_territory, false)").fetchall()]
    countries = {country_code(c) for c in codes} - {None}
    zones = {commune_zone(c) for c in codes} - {None}
    return (countries.pop() if len(countries) == 1 else None), (zones.pop() if len(zones) == 1 else None)


def obscured_places(con: duckdb.DuckDBPyConnection, df: pd.DataFrame) -> pd.DataFrame:
    """What is known of where an obscured record lies when its 0.2° cell is in no single
    commune (so it has no commune link): ``country_code`` is the territory's country when the
    published point is in the territory, and ``cell_communes`` names the loaded communes the
    cell overlaps (GeoNature's ``communes``). ``cell_wkt`` is the cell itself. A record the
    public layer blurred (``occurrence_ref``) is left as that layer made it."""
    from biodiv.attach.precision import OBSCURED_CELL_DEG, obscured_cells

    df["cell_wkt"] = pd.Series(None, index=df.index, dtype=object)
    df["cell_communes"] = pd.Series(None, index=df.index, dtype=object)
    hidden = df["obscured"].fillna(False).astype(bool) & df["lat"].notna() & df["lon"].notna()
    if "occurrence_ref" in df:
        hidden &= df["occurrence_ref"].isna()
    if not hidden.any():
        return df
    corners = obscured_cells(df.loc[hidden, "lon"].to_numpy(float), df.loc[hidden, "lat"].to_numpy(float))
    step = OBSCURED_CELL_DEG
    wkt = [f"POLYGON(({x:.6g} {y:.6g}, {x + step:.6g} {y:.6g}, {x + step:.6g} {y + step:.6g}, "
           f"{x:.6g} {y + step:.6g}, {x:.6g} {y:.6g}))" for x, y in (tuple(map(float, c)) for c in corners)]
    df.loc[hidden, "cell_wkt"] = wkt
    missing = hidden & df["country_code"].isna() & df["in_territory"].fillna(False).astype(bool)
    if missing.any():
        country, zone = territory_place(con)
        df.loc[missing, "country_code"] = country
        own = df["time_zone"].notna() if "time_zone" in df else pd.Series(False, index=df.index)
        if zone:
            df.loc[missing & ~own & (df["zone"] == "UTC"), "zone"] = zone
    unplaced = hidden & df["commune_code"].isna()
    if unplaced.any():
        cells = sorted(set(df.loc[unplaced, "cell_wkt"]))
        con.register("_cells", pd.DataFrame({"wkt": cells}))
        try:
            found = con.execute(
                """SELECT c.wkt, string_agg(a.name, ', ' ORDER BY a.name) AS names
                   FROM _cells c JOIN areas a ON a.type = 'commune'
                    AND ST_Intersects(a.geom, ST_GeomFromText(c.wkt))
                    AND NOT ST_Touches(a.geom, ST_GeomFromText(c.wkt))
                   GROUP BY c.wkt""").fetchall()
        finally:
            con.unregister("_cells")
        names = dict(found)
        df.loc[unplaced, "cell_communes"] = df.loc[unplaced, "cell_wkt"].map(names)
    return df


# ---------------------------------------------------------------------------
# The tabular layout (CSV, GeoPackage, GeoJSON, GeoParquet): names and types
# ---------------------------------------------------------------------------

# (public name, internal column, type). Names follow iNaturalist's own CSV export where they
# mean the same thing (docs/exports.md has the mapping); the accuracy is named for what it
# is: the *public* accuracy, which for an obscured record is not the observer's.
DATE = pd.ArrowDtype(pa.date32())
UTC = "datetime64[ms, UTC]"
TABLE_COLUMNS: list[tuple[str, str, object]] = [
    ("id", "id", "Int64"), ("uuid", "uuid", "string"),
    ("observed_on", "observed_on", DATE), ("time_observed_at", "observed_at", UTC),
    ("time_zone", "zone", "string"),
    ("created_at", "created_at", UTC), ("updated_at", "updated_at", UTC),
    ("quality_grade", "quality_grade", "string"),
    ("taxon_id", "taxon_id", "Int64"), ("scientific_name", "scientific_name", "string"),
    ("common_name", "common_name_fr", "string"), ("taxon_rank", "rank", "string"),
    ("iconic_taxon_name", "group_name", "string"),
    ("taxon_kingdom_name", "kingdom_name", "string"), ("taxon_phylum_name", "phylum_name", "string"),
    ("taxon_class_name", "class_name", "string"), ("taxon_order_name", "order_name", "string"),
    ("taxon_family_name", "family_name", "string"), ("taxon_genus_name", "genus_name", "string"),
    ("cd_nom", "cd_nom", "string"), ("cd_ref", "cd_ref", "string"),
    ("taxref_name", "taxref_name", "string"), ("group2_inpn", "group2_inpn", "string"),
    ("latitude", "lat", "float64"), ("longitude", "lon", "float64"),
    ("public_positional_accuracy", "positional_accuracy", "float64"),
    ("coordinate_uncertainty_m", "coordinate_uncertainty_m", "float64"),
    ("coordinates_obscured", "obscured", "boolean"), ("geoprivacy", "geoprivacy", "string"),
    ("taxon_geoprivacy", "taxon_geoprivacy", "string"), ("captive_cultivated", "captive", "boolean"),
    ("place_guess", "place_guess", "string"),
    ("user_id", "user_id", "Int64"), ("user_login", "user_login", "string"),
    ("user_name", "user_name", "string"),
    ("license", "license_code", "string"), ("url", "uri", "string"),
    ("image_url", "photo_url", "string"), ("image_license", "photo_license", "string"),
    ("in_territory", "in_territory", "boolean"), ("country_code", "country_code", "string"),
    ("commune_code", "commune_code", "string"), ("commune_name", "commune_name", "string"),
    ("commune_relation", "commune_relation", "string"), ("n2000_codes", "n2000_codes", "string"),
    ("protected", "protected", "boolean"), ("threatened", "threatened", "boolean"),
    ("protection_codes", "protection_codes", "string"), ("redlist_codes", "redlist_codes", "string"),
    ("sensitivity_level", "sensitivity_level", "Int64"), ("diffusion", "diffusion", "string"),
    ("blurred_to", "blurred_to", "string"),
]


def table_frame(obs: pd.DataFrame) -> pd.DataFrame:
    """The exported table: public names, one fixed type per column whatever the rows hold
    (an all-empty column stays a string column), so every extract has the same schema."""
    out = {}
    for name, col, dtype in TABLE_COLUMNS:
        if col not in obs:
            continue  # dropped by public mode
        s = obs[col]
        if dtype == DATE:
            s = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(s.tolist(), type=pa.date32())), index=obs.index)
        elif dtype == UTC:
            s = pd.to_datetime(s, utc=True).astype(UTC)
        elif dtype == "string":
            s = s.astype("string")
        else:
            s = s.astype(dtype)
        out[name] = s
    return pd.DataFrame(out, index=obs.index)


def text_times(table: pd.DataFrame, obs: pd.DataFrame) -> pd.DataFrame:
    """The table with its instants as text, for text formats (CSV, GeoJSON): the observation
    time in its own zone with its offset, the record times in UTC ('Z')."""
    table = table.copy()
    table["time_observed_at"] = pd.array(local_iso(obs["observed_at"], obs["zone"]), dtype="string")
    for col in ("created_at", "updated_at"):
        table[col] = pd.array(utc_iso(obs[col]), dtype="string")
    return table


def to_geodataframe(df: pd.DataFrame, wkb: pd.Series):
    """``df`` with the point geometry decoded from ``wkb`` (a NULL blob is a missing point)."""
    import geopandas as gpd

    blobs = [None if (b is None or b is pd.NA or (isinstance(b, float) and b != b)) else bytes(b) for b in wkb]
    geom = gpd.GeoSeries.from_wkb(blobs, index=df.index, crs="EPSG:4326")
    return gpd.GeoDataFrame(df, geometry=geom, crs="EPSG:4326")


def territory_info(con: duckdb.DuckDBPyConnection) -> dict:
    row = con.execute("SELECT name, epci_siren, xmin, ymin, xmax, ymax FROM territory").fetchone()
    if not row:
        return {"name": "biodiv", "epci_siren": None, "bbox": None}
    return {"name": row[0], "epci_siren": row[1], "bbox": row[2:6] if row[2] is not None else None}
