"""GeoPackage for QGIS: the observations layer and the communes, natura2000 and territory
layers with counts over the exported observations.

Types as the GeoPackage standard defines them: ``observed_on`` a DATE, instants DATETIME in
UTC ending in ``Z`` (the observation's zone is in ``time_zone``), integers, reals and
booleans as such.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from biodiv.analysis.exports.select import ExportFilter, table_frame, to_geodataframe


def _areas(con: duckdb.DuckDBPyConnection, where: str):
    import geopandas as gpd

    df = con.execute(
        f"SELECT type, code, name, area_km2, in_territory, source, source_date, "
        f"ST_AsWKB(geom) AS wkb FROM areas WHERE {where} ORDER BY type, code"
    ).fetchdf()
    df["source_date"] = pd.array(list(pd.to_datetime(df["source_date"]).dt.date.where(df["source_date"].notna(), None)),
                                 dtype=pd.ArrowDtype(__import__("pyarrow").date32()))
    geom = gpd.GeoSeries.from_wkb(df.pop("wkb").map(bytes), crs="EPSG:4326")
    return gpd.GeoDataFrame(df, geometry=geom, crs="EPSG:4326")


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
        geom = gpd.GeoSeries.from_wkb(terr.pop("wkb").map(bytes), crs="EPSG:4326")
        layers["territory"] = gpd.GeoDataFrame(terr, geometry=geom, crs="EPSG:4326")
    return layers


def write(con: duckdb.DuckDBPyConnection, obs: pd.DataFrame, tmp: Path, f: ExportFilter) -> dict[str, int]:
    """Write every layer to ``tmp``; returns the feature count of the area layers."""
    gdf = to_geodataframe(table_frame(obs), obs["wkb"])
    gdf.to_file(tmp, layer="observations", driver="GPKG", engine="pyogrio", use_arrow=True)
    counts = {}
    for name, layer in area_layers(con, obs, f).items():
        layer.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", use_arrow=True, append=False)
        counts[name] = len(layer)
    return counts
