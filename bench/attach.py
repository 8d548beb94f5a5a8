"""Benchmark: `attach` end to end against geopandas.sjoin on the same data.

    BIODIV_SHARED_DATA=../shared/data python bench/attach.py [--sizes 100000 1000000] [--repeat 3]

Builds a real DuckDB file (spatial loaded) with the 343 real Hérault communes (the 28 of
the CCVH as territory), ten large overlapping polygons standing for Natura 2000 sites
(unions of neighbouring communes: thousands of vertices each), and N observations with a
realistic mix of accuracies (some unknown, some obscured). As in real use, the areas are
attached when they are loaded (as `biodiv areas import` does), which builds their spatial
index once and caches it in the file (table area_index; its build time is printed).
Prints, for each N, the time of `biodiv.attach.links.attach(all_observations=True)` (read,
compute, write in one transaction) and of `geopandas.sjoin(points, areas,
predicate="within")` on the same points and polygons (points already in memory: the
baseline pays no read or write), and the ratio. Each size is timed --repeat times, attach
and sjoin alternately (the machine's load changes both alike); between runs the
observations are put back as freshly harvested (no links, all pending).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import shapely

from _common import shared_data
from biodiv.attach.links import attach
from biodiv.store.database import Store


def build_areas(data: Path, rng: np.random.Generator) -> gpd.GeoDataFrame:
    communes = gpd.read_file(data / "admin" / "communes-34-herault.geojson")
    with open(data / "admin" / "ccvh_communes.csv", encoding="utf-8") as f:
        members = {row["insee_code"] for row in csv.DictReader(f)}
    communes = communes.rename(columns={"nom": "name"})
    communes["type"] = "commune"
    communes["in_territory"] = communes["code"].isin(members)
    # ten stand-ins for Natura 2000 sites: unions of communes within 6–12 km of a seed
    l93 = communes.to_crs(2154)
    centroids = l93.geometry.centroid
    territory = l93[communes["in_territory"]]
    sites = []
    for k, seed in enumerate(rng.choice(territory.index.to_numpy(), size=10, replace=False)):
        radius = rng.uniform(6000, 12000)
        near = l93[centroids.distance(centroids[seed]) < radius]
        geom = shapely.union_all(near.geometry.to_numpy())
        sites.append({"code": f"FR99{k:05d}", "name": f"Site {k}", "type": "n2000_zsc" if k % 2 else "n2000_zps",
                      "in_territory": None, "geometry": geom})
    sites = gpd.GeoDataFrame(sites, crs=2154).to_crs(4326)
    return gpd.GeoDataFrame(
        [*communes[["code", "name", "type", "in_territory", "geometry"]].to_dict("records"),
         *sites.to_dict("records")],
        crs=4326,
    )


def build_points(n: int, rng: np.random.Generator) -> pa.Table:
    # the territory's bbox widened by ~10 km: most points fall in a commune, some outside
    lon = rng.uniform(3.30, 3.88, n)
    lat = rng.uniform(43.41, 43.89, n)
    acc = np.exp(rng.uniform(np.log(3), np.log(300), n))
    far = rng.random(n) < 0.05
    acc[far] = rng.uniform(1000, 10000, int(far.sum()))
    unknown = rng.random(n) < 0.05
    obscured = rng.random(n) < 0.03
    return pa.table({
        "id": np.arange(1, n + 1, dtype=np.int64),
        "lon": lon, "lat": lat,
        "positional_accuracy": pa.array(acc, mask=unknown),
        "obscured": obscured,
    })


def load(store: Store, areas: gpd.GeoDataFrame, points: pa.Table) -> dict:
    """Areas first, attached as `areas import` does (which builds and caches their index),
    then the observations. Returns the stats of that first attach."""
    with store.write(create=True) as con:
        areas = areas.assign(wkb=shapely.to_wkb(areas.geometry.to_numpy()))
        con.register("a", areas.drop(columns="geometry"))
        con.execute("""INSERT INTO areas (type, code, name, geom, in_territory)
                       SELECT type, code, name, ST_GeomFromWKB(wkb), in_territory FROM a""")
        imported = attach(con, all_observations=True)
    with store.write() as con:
        con.register("p", points)
        con.execute("""INSERT INTO observations (id, lon, lat, geom, positional_accuracy, obscured)
                       SELECT id, lon, lat, ST_Point(lon, lat), positional_accuracy, obscured FROM p""")
    return imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per size (medians are printed)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    areas = build_areas(shared_data(), rng)
    vertices = int(shapely.get_num_coordinates(areas.geometry.to_numpy()).sum())
    print(f"areas: {len(areas)} polygons ({(areas['type'] == 'commune').sum()} communes, "
          f"{(areas['type'] != 'commune').sum()} large sites), {vertices:,} vertices")
    print(f"{'N':>10} {'attach (s)':>17} {'sjoin (s)':>17} {'ratio':>6} {'links':>10}   "
          "median run: read + compute + write (commit included)")
    for n in args.sizes:
        points = build_points(n, rng)
        gpts = gpd.GeoDataFrame(
            {"id": points["id"].to_numpy()},
            geometry=gpd.points_from_xy(points["lon"].to_numpy(), points["lat"].to_numpy()), crs=4326,
        )
        runs, sjoins = [], []
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "bench.duckdb")
            imported = load(store, areas, points)
            if n == args.sizes[0]:
                print(f"area index: {imported['areas_indexed']} areas indexed in {imported['seconds_index']:.2f} s "
                      "when the layers are imported (cached in area_index, not part of the attach below)")
            for r in range(args.repeat):
                if r:   # back to freshly harvested observations: no links, every one pending
                    with store.write() as con:
                        con.execute("DELETE FROM observation_areas")
                        con.execute("UPDATE observations SET needs_attach = true, in_territory = NULL")
                with store.write() as con:
                    t0 = time.perf_counter()
                    stats = attach(con, all_observations=True)
                    runs.append((time.perf_counter() - t0, stats))
                # the baseline right after, in the same conditions
                t0 = time.perf_counter()
                joined = gpd.sjoin(gpts, areas[["code", "geometry"]], predicate="within")
                sjoins.append(time.perf_counter() - t0)
        runs.sort(key=lambda run: run[0])
        t_attach, stats = runs[len(runs) // 2]
        t_sjoin = statistics.median(sjoins)
        spread = f"{t_attach:.2f} ({runs[0][0]:.2f}–{runs[-1][0]:.2f})"
        sj_spread = f"{t_sjoin:.2f} ({min(sjoins):.2f}–{max(sjoins):.2f})"
        print(f"{n:>10,} {spread:>17} {sj_spread:>17} {t_sjoin / t_attach:>5.1f}x {stats['links']:>10,}"
              f"   {stats['seconds_read']:.2f} + {stats['seconds_compute']:.2f} + {stats['seconds_write']:.2f} s"
              f" (sjoin pairs {len(joined):,})")
    print(f"medians of {args.repeat} runs (min–max); ratio = sjoin median / attach median")


if __name__ == "__main__":
    main()
