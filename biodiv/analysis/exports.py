"""Exports for other tools: QGIS (GeoPackage), web (GeoJSON), spreadsheets (CSV), data
science (GeoParquet) and biodiversity networks (Darwin Core Archive, see :mod:`biodiv.analysis.dwca`).

Why one selection for every format: the same filters (area, period, group, quality grade,
certainty of the area link) and the same privacy rules must hold whatever the format. The
rows come from the ``v_observations`` view (removed observations never leave the store).

Privacy (``dashboard.public_mode``): observer logins and ids are dropped. Obscured
observations keep the coordinates iNaturalist published (already randomised in a 0.2° cell,
never anything more precise) and get an uncertainty covering that cell, so no consumer
mistakes them for precise points.

Every file is written under a temporary name and renamed when complete: an error never
leaves a half-written export, and never touches an existing file at the target path.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from biodiv.errors import BiodivError

FORMATS = ("gpkg", "geojson", "csv", "parquet", "dwca")
QUALITIES = ("any", "verifiable", "research", "needs_id", "casual")
PRIVATE_COLUMNS = ("user_id", "user_login")


class ExportError(BiodivError):
    """An export that cannot be produced (one-line message)."""


@dataclass
class ExportFilter:
    """Which observations to export. Without ``area``: the territory (``include_outside``
    adds observations attached outside it). ``certain_only`` keeps observations surely inside
    the area (or, without area, surely inside their commune)."""

    area: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    group: str | None = None
    quality: str = "any"
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
# Selection (SQL)
# ---------------------------------------------------------------------------

_OBS_COLUMNS = """
    o.id, o.uuid, o.observed_on, timezone('UTC', o.observed_at) AS observed_at,
    timezone('UTC', o.updated_at) AS updated_at, o.quality_grade,
    o.taxon_id, o.scientific_name, o.common_name_fr, o.rank, o.group_name,
    o.kingdom_name, o.phylum_name, o.class_name, o.order_name, o.family_name, o.genus_name,
    o.lon, o.lat, o.positional_accuracy,
    CAST(CASE WHEN o.obscured AND o.lat IS NOT NULL
              THEN greatest(coalesce(o.positional_accuracy, 0),
                            round(sqrt(pow(22239.0, 2) * (1 + pow(cos(radians(o.lat)), 2)))))
              ELSE o.positional_accuracy END AS DOUBLE) AS coordinate_uncertainty_m,
    o.obscured, o.geoprivacy, o.taxon_geoprivacy, o.captive,
    o.user_id, o.user_login, o.license_code, o.uri, o.in_territory,
    o.commune_code, o.commune_name, o.commune_relation,
    array_to_string(o.n2000_codes, ',') AS n2000_codes,
    o.protected, o.threatened, o.protection_codes, o.redlist_codes,
    ST_AsWKB(o.geom) AS wkb
"""


def _where(f: ExportFilter) -> tuple[str, dict]:
    clauses, params = [], {}
    if f.area:
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
    con: duckdb.DuckDBPyConnection, f: ExportFilter, public_mode: bool = False
) -> pd.DataFrame:
    """Filtered observations as a DataFrame (geometry as WKB in column ``wkb``)."""
    check_filter(con, f)
    where, params = _where(f)
    df = con.execute(
        f"SELECT {_OBS_COLUMNS} FROM v_observations o WHERE {where} ORDER BY o.id", params
    ).fetchdf()
    # TIMESTAMPTZ is read as naive UTC and localised here: DuckDB's own TIMESTAMPTZ conversion
    # calls pandas' deprecated DataFrame.drop(inplace=True) (a warning per query), and UTC keeps
    # the exported instants independent of the machine's time zone
    for col in ("observed_at", "updated_at"):
        df[col] = pd.to_datetime(df[col]).dt.tz_localize("UTC")
    # DuckDB DATE arrives as a midnight timestamp: keep it a calendar date
    df["observed_on"] = pd.to_datetime(df["observed_on"]).dt.date.astype(object)
    df.loc[df["observed_on"].isna(), "observed_on"] = None
    if public_mode:
        df = df.drop(columns=list(PRIVATE_COLUMNS))
    return df


def to_geodataframe(df: pd.DataFrame):
    import geopandas as gpd

    geom = gpd.GeoSeries.from_wkb(df["wkb"].map(lambda b: bytes(b) if b is not None else None), crs="EPSG:4326")
    return gpd.GeoDataFrame(df.drop(columns=["wkb"]), geometry=geom, crs="EPSG:4326")


def _areas(con: duckdb.DuckDBPyConnection, where: str):
    import geopandas as gpd

    df = con.execute(
        f"SELECT id, type, code, name, area_km2, in_territory, source, source_date, "
        f"ST_AsWKB(geom) AS wkb FROM areas WHERE {where} ORDER BY type, code"
    ).fetchdf()
    geom = gpd.GeoSeries.from_wkb(df["wkb"].map(bytes), crs="EPSG:4326")
    return gpd.GeoDataFrame(df.drop(columns=["wkb", "id"]), geometry=geom, crs="EPSG:4326")


def area_layers(con: duckdb.DuckDBPyConnection, obs: pd.DataFrame, f: ExportFilter) -> dict:
    """communes / natura2000 / territory layers, with counts over the exported observations."""
    import geopandas as gpd

    layers = {}
    communes = _areas(con, "type = 'commune'" + ("" if f.include_outside else " AND in_territory"))
    by_commune = obs.groupby("commune_code").agg(
        n_observations=("id", "size"), n_taxa=("taxon_id", "nunique")
    )
    communes = communes.join(by_commune, on="code")
    communes[["n_observations", "n_taxa"]] = communes[["n_observations", "n_taxa"]].fillna(0).astype("int64")
    layers["communes"] = communes

    n2000 = _areas(con, "type LIKE 'n2000_%'")
    if len(n2000):
        codes = obs["n2000_codes"].fillna("").str.split(",").explode()
        counts = codes[codes != ""].value_counts()
        n2000["n_observations"] = n2000["code"].map(counts).fillna(0).astype("int64")
        layers["natura2000"] = n2000

    terr = con.execute(
        "SELECT name, epci_siren, array_to_string(insee_codes, ',') AS insee_codes, area_km2, "
        "ST_AsWKB(geom) AS wkb FROM territory WHERE geom IS NOT NULL"
    ).fetchdf()
    if len(terr):
        geom = gpd.GeoSeries.from_wkb(terr["wkb"].map(bytes), crs="EPSG:4326")
        layers["territory"] = gpd.GeoDataFrame(terr.drop(columns=["wkb"]), geometry=geom, crs="EPSG:4326")
    return layers


def territory_info(con: duckdb.DuckDBPyConnection) -> dict:
    row = con.execute("SELECT name, epci_siren, xmin, ymin, xmax, ymax FROM territory").fetchone()
    if not row:
        return {"name": "biodiv", "epci_siren": None, "bbox": None}
    return {"name": row[0], "epci_siren": row[1], "bbox": row[2:6] if row[2] is not None else None}


# ---------------------------------------------------------------------------
# Writing (files)
# ---------------------------------------------------------------------------

def _temp_path(out: Path) -> Path:
    return out.with_name(f".{out.stem}.part{out.suffix}")


def export(
    con: duckdb.DuckDBPyConnection,
    fmt: str,
    out: Path | str,
    f: ExportFilter | None = None,
    public_mode: bool = False,
) -> ExportResult:
    """Write the filtered observations (and area layers for GeoPackage) to ``out``."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    f = f or ExportFilter()
    out = Path(out)
    if not out.parent.exists():
        raise ExportError(f"folder {out.parent} does not exist")
    obs = select_observations(con, f, public_mode)
    if obs.empty:
        raise ExportError(f"no observation matches these filters ({f.describe()}): nothing written")
    result = ExportResult(out, fmt, {"observations": len(obs)})
    tmp = _temp_path(out)
    tmp.unlink(missing_ok=True)
    try:
        if fmt == "csv":
            import pyarrow as pa
            import pyarrow.csv as pacsv

            pacsv.write_csv(pa.Table.from_pandas(obs.drop(columns=["wkb"]), preserve_index=False), tmp)
        elif fmt == "dwca":
            from biodiv.analysis.dwca import write_dwca

            notes = write_dwca(obs, tmp, territory_info(con), f.describe(), public_mode)
            result.notes.extend(notes)
        else:
            gdf = to_geodataframe(obs)
            if fmt == "parquet":
                gdf.to_parquet(tmp, index=False)  # GeoParquet, native types kept
                gdf = None
            elif fmt == "geojson":
                _geo_ready(gdf).to_file(tmp, driver="GeoJSON", engine="pyogrio", use_arrow=True)
            else:  # gpkg
                _geo_ready(gdf).to_file(tmp, layer="observations", driver="GPKG", engine="pyogrio", use_arrow=True)
                for name, layer in area_layers(con, obs, f).items():
                    _geo_ready(layer).to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", append=False)
                    result.counts[name] = len(layer)
        os.replace(tmp, out)
    except BiodivError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"writing {out} failed: {first}") from None
    return result


def _geo_ready(gdf):
    """Types that OGR drivers accept: dates as ISO strings, timestamps as naive UTC."""
    gdf = gdf.copy()
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        s = gdf[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            gdf[col] = s.dt.tz_convert("UTC").dt.tz_localize(None)
        elif s.dtype == object:
            first = s.dropna().head(1)
            if len(first) and isinstance(first.iloc[0], dt.date) and not isinstance(first.iloc[0], dt.datetime):
                gdf[col] = pd.to_datetime(s).dt.strftime("%Y-%m-%d").where(s.notna(), None)
    return gdf
