"""GeoPackage for QGIS: the observations layer and the communes, natura2000 and territory
layers with counts over the exported observations.

Types as the GeoPackage standard defines them: ``observed_on`` a DATE, instants DATETIME in
UTC ending in ``Z`` (the observation's zone is in ``time_zone``), integers (``cd_nom`` and
``cd_ref`` too), reals and booleans as such.

What a GIS officer meets when opening it:

* GeoPackage **1.2** (GDAL writes 1.4 by default, which GDAL 3.6 / QGIS 3.22, still common in
  local authorities, open with a "may only be partially supported" warning each time);
* each layer **opens styled** (:mod:`.styles`: the dashboard's classes and colours);
* the observations' feature id is the **iNaturalist id** (stable from one export to the
  next: a join or a selection kept in a QGIS project survives a new export);
* area layers are always **MULTIPOLYGON**, whatever the extract holds.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from biodiv.analysis.exports import styles
from biodiv.analysis.exports.select import ExportFilter, table_frame, to_geodataframe

VERSION = {"VERSION": "1.2"}


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


def observations_table(obs: pd.DataFrame) -> pd.DataFrame:
    """The observations layer's columns: ``fid`` = the iNaturalist id, TAXREF codes as integers."""
    table = table_frame(obs)
    for col in ("cd_nom", "cd_ref"):
        if col in table:
            table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    if "id" in table:
        table.insert(0, "fid", table["id"].astype("int64"))
    return table


def write(con: duckdb.DuckDBPyConnection, obs: pd.DataFrame, tmp: Path, f: ExportFilter) -> dict[str, int]:
    """Write every layer to ``tmp``; returns the feature count of the area layers."""
    gdf = to_geodataframe(observations_table(obs), obs["wkb"])
    gdf.to_file(tmp, layer="observations", driver="GPKG", engine="pyogrio", use_arrow=True, dataset_options=VERSION)
    counts = {}
    layers = area_layers(con, obs, f)
    for name, layer in layers.items():
        layer.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", use_arrow=True, append=False,
                      promote_to_multi=True)
        counts[name] = len(layer)
    found = {"observations": (styles.points(), "Observations iNaturalist (un point par observation)")}
    if "communes" in layers:
        found["communes"] = (styles.graduated("n_observations",
                                              styles.quantile_breaks(layers["communes"]["n_observations"])),
                             "Communes colorées selon le nombre d'observations exportées")
    if "natura2000" in layers:
        found["natura2000"] = (styles.categorized("type", [("n2000_zsc", "Natura 2000 ZSC (directive Habitats)", styles.ZSC),
                                                           ("n2000_zps", "Natura 2000 ZPS (directive Oiseaux)", styles.ZPS)],
                                                  alpha=0.25), "Sites Natura 2000")
    if "territory" in layers:
        found["territory"] = (styles.outline("#000000"), "Contour du territoire")
    styles.add_styles(tmp, found)
    return counts
