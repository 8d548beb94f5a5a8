"""Benchmark: `attach` end to end against geopandas.sjoin on the same data.

    BIODIV_SHARED_DATA=../shared/data python bench/attach.py [--sizes 100000 1000000] [--repeat 3]
        [--verify] [--sjoin-processes 2] [--command] [--naive-sample 20000]

Builds a real DuckDB file (spatial loaded) with the 343 real Hérault communes (the 28 of
the CCVH as territory), ten large overlapping polygons standing for Natura 2000 sites
(unions of neighbouring communes: thousands of vertices each), and N observations with a
realistic mix of accuracies (some unknown, some obscured), drawn from (--seed, N) so that
a size is the same data whatever the other --sizes of the command. As in real use, the areas are
attached when they are loaded (as `biodiv areas import` does), which builds their spatial
index once and caches it in the file (table area_index; its build time is printed).
Prints, for each N, the time of `biodiv.attach.links.attach(all_observations=True)` (read,
compute, write in one transaction) and of `geopandas.sjoin(points, areas,
predicate="within")` on the same points and polygons (points already in memory: the
baseline pays no read or write), and the ratio. Each size is timed --repeat times, attach
and sjoin alternately (the machine's load changes both alike); between runs the
observations are put back as freshly harvested (no links, all pending).

attach runs on every core (projection slices, one thread per core over the areas, a side
thread for obscured points) while sjoin runs on one: each run's CPU time over its wall
time (the cores it kept busy on average) is printed next to the ratio, and
``--sjoin-processes 2`` adds the fair peer, sjoin over two halves of the points in two
forked processes (pool started before the clock; each returns only its pair count).

``--verify`` checks every link of the last attach against a brute-force computation on the
same rows read back from the file: membership by ``shapely.intersects`` of each projected
polygon with every projected point (an STRtree narrows the candidates), certainty by
``shapely.distance`` from the point to the polygon's border, greater than its accuracy;
obscured points by ``shapely.contains`` of their whole 0.2° cell, in WGS84. It prints
the pairs compared and every disagreement (missing, extra, other relation).

``--command`` times ``biodiv attach --all`` run as its own process on the same file (Python
start, working copy, spatial load, the attach with its links to delete first, checkpoint
and publication). ``--naive-sample K`` times DuckDB's plain ``JOIN … ON ST_Contains`` of
the first K points with the same polygons, and prints it per million points.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import shapely

from _common import shared_data
from biodiv.attach.crs import territory_crs
from biodiv.attach import crs, precision
from biodiv.attach.links import attach
from biodiv.config import Config
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


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def clocked(fn):
    """(wall seconds, CPU seconds of this process and its threads, result) of ``fn()``."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


# -- sjoin in two processes: the data reach the workers by fork, not by pickling ------------
_SJOIN_DATA: tuple | None = None


def _sjoin_part(bounds: tuple[int, int]) -> int:
    points, areas = _SJOIN_DATA
    return len(gpd.sjoin(points.iloc[bounds[0]:bounds[1]], areas, predicate="within"))


def _noop(_) -> int:
    return os.getpid()


class ForkedSjoin:
    """``processes`` forked workers that hold the points and areas, started before timing."""

    def __init__(self, points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, processes: int):
        global _SJOIN_DATA
        _SJOIN_DATA = (points, areas)
        self.n, self.processes = len(points), processes
        self.pool = multiprocessing.get_context("fork").Pool(processes)
        self.pool.map(_noop, range(processes * 4))   # every worker is up

    def run(self) -> int:
        cuts = np.linspace(0, self.n, self.processes + 1).astype(int)
        return sum(self.pool.map(_sjoin_part, list(zip(cuts[:-1], cuts[1:])), chunksize=1))

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


# -- brute-force verification ---------------------------------------------------------------
def verify(store: Store) -> dict:
    """Every link in the file against shapely on the same rows (see the module docstring)."""
    with store.read() as con:
        metric = territory_crs(con)
        area_rows = con.execute("SELECT id, ST_AsWKB(geom) FROM areas ORDER BY id").fetchall()
        obs = con.execute("""SELECT id, lon, lat, coalesce(positional_accuracy, 'NaN'::DOUBLE), obscured
                             FROM observations WHERE lon IS NOT NULL AND lat IS NOT NULL
                             ORDER BY id""").fetchnumpy()
        got = con.execute("""SELECT observation_id, area_id, relation = 'certain'
                             FROM observation_areas""").fetchnumpy()
    t0 = time.perf_counter()
    ids, lon, lat = obs["id"], obs["lon"], obs["lat"]
    acc = np.asarray(obs[list(obs)[3]], dtype=float)
    hidden = np.asarray(obs["obscured"], dtype=bool)
    precise = ~hidden
    x, y = crs.project(lon[precise], lat[precise], metric)
    points_m = shapely.points(x, y)
    tree_m = shapely.STRtree(points_m)
    acc_p, ids_p = acc[precise], ids[precise]
    cells = precision.obscured_cells(lon[hidden], lat[hidden])
    boxes = shapely.box(cells[:, 0], cells[:, 1],
                        np.round(cells[:, 0] + precision.OBSCURED_CELL_DEG, 6),
                        np.round(cells[:, 1] + precision.OBSCURED_CELL_DEG, 6))
    tree_cells, ids_h = shapely.STRtree(boxes), ids[hidden]
    want_id, want_area, want_certain = [], [], []
    for area_id, wkb in area_rows:
        geom = shapely.from_wkb(bytes(wkb))
        poly = crs.project_geometry(geom, metric)
        inside = tree_m.query(poly, predicate="intersects")
        dist = shapely.distance(points_m[inside], poly.boundary)
        a = acc_p[inside]
        want_id.append(ids_p[inside])
        want_area.append(np.full(inside.size, area_id, dtype=np.int64))
        want_certain.append(~np.isnan(a) & (dist > a))
        whole = tree_cells.query(geom, predicate="contains")
        want_id.append(ids_h[whole])
        want_area.append(np.full(whole.size, area_id, dtype=np.int64))
        want_certain.append(np.ones(whole.size, dtype=bool))
    want_id, want_area, want_certain = (np.concatenate(c) for c in (want_id, want_area, want_certain))
    seconds = time.perf_counter() - t0

    def keyed(oid, aid, certain):
        key = np.asarray(oid, dtype=np.int64) * 1_000_003 + np.asarray(aid, dtype=np.int64)
        order = np.argsort(key)
        return key[order], np.asarray(certain, dtype=bool)[order]

    wk, wc = keyed(want_id, want_area, want_certain)
    gk, gc = keyed(got["observation_id"], got["area_id"], got[list(got)[2]])
    both, wi, gi = np.intersect1d(wk, gk, assume_unique=True, return_indices=True)
    return {
        "pairs": int(wk.size), "links": int(gk.size), "certain": int(wc.sum()),
        "missing": int(wk.size - both.size), "extra": int(gk.size - both.size),
        "other_relation": int((wc[wi] != gc[gi]).sum()), "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per size (medians are printed)")
    parser.add_argument("--verify", action="store_true",
                        help="check every link of the last attach against shapely (brute force)")
    parser.add_argument("--sjoin-processes", type=int, default=0, metavar="P",
                        help="also time sjoin split over P forked processes (a peer using as many cores)")
    parser.add_argument("--command", action="store_true",
                        help="also time `biodiv attach --all` run as its own process on the same file")
    parser.add_argument("--naive-sample", type=int, default=0, metavar="K",
                        help="also time DuckDB's plain JOIN ON ST_Contains on the first K points")
    args = parser.parse_args()
    print(f"load average at the start: {load_average()}; {os.cpu_count()} cores: attach runs "
          f"{os.cpu_count()} threads over the areas (+1 for obscured points), sjoin one")
    rng = np.random.default_rng(args.seed)
    areas = build_areas(shared_data(), rng)
    vertices = int(shapely.get_num_coordinates(areas.geometry.to_numpy()).sum())
    print(f"areas: {len(areas)} polygons ({(areas['type'] == 'commune').sum()} communes, "
          f"{(areas['type'] != 'commune').sum()} large sites), {vertices:,} vertices")
    print(f"{'N':>10} {'attach (s)':>17} {'cores':>5} {'sjoin (s)':>17} {'cores':>5} {'ratio':>6} "
          f"{'links':>10}   median run: read + compute + write (commit included)")
    for n in args.sizes:
        # points drawn from their own seed: size N is the same data whatever the other --sizes
        points = build_points(n, np.random.default_rng([args.seed, n]))
        gpts = gpd.GeoDataFrame(
            {"id": points["id"].to_numpy()},
            geometry=gpd.points_from_xy(points["lon"].to_numpy(), points["lat"].to_numpy()), crs=4326,
        )
        runs, sjoins, forked = [], [], []
        pool = ForkedSjoin(gpts, areas[["code", "geometry"]], args.sjoin_processes) if args.sjoin_processes else None
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
                    wall, cpu, stats = clocked(lambda: attach(con, all_observations=True))
                    runs.append((wall, stats, cpu))
                # the baseline right after, in the same conditions
                wall, cpu, joined = clocked(
                    lambda: gpd.sjoin(gpts, areas[["code", "geometry"]], predicate="within"))
                sjoins.append((wall, cpu))
                if pool:
                    t0 = time.perf_counter()
                    pairs_forked = pool.run()
                    forked.append(time.perf_counter() - t0)
            extra = []
            if args.naive_sample:
                k = min(args.naive_sample, n)
                with store.read() as con:
                    wall, _, pairs = clocked(lambda: con.execute(
                        "SELECT count(*) FROM (SELECT geom FROM observations WHERE id <= ?) o "
                        "JOIN areas a ON ST_Contains(a.geom, o.geom)", [k]).fetchone()[0])
                extra.append(f"naive DuckDB JOIN ON ST_Contains, first {k:,} points: {wall:.2f} s "
                             f"({pairs:,} pairs), {wall * 1e6 / k:.1f} s per million points")
            if args.command:
                cfg = Config(db_path=str(store.path), cache_dir=str(Path(tmp) / "cache"))
                cfg_file = cfg.save(Path(tmp) / "biodiv.toml")
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "biodiv", "-c", str(cfg_file), "attach", "--all"],
                               check=True, capture_output=True)
                extra.append(f"`biodiv attach --all` as its own process (links already there): "
                             f"{time.perf_counter() - t0:.2f} s")
            checked = verify(store) if args.verify else None
        if pool:
            pool.close()
        attach_cores = statistics.median(cpu / wall for wall, _, cpu in runs)
        sjoin_cores = statistics.median(cpu / wall for wall, cpu in sjoins)
        runs.sort(key=lambda run: run[0])
        t_attach, stats, _ = runs[len(runs) // 2]
        sj_walls = [wall for wall, _ in sjoins]
        t_sjoin = statistics.median(sj_walls)
        spread = f"{t_attach:.2f} ({runs[0][0]:.2f}–{runs[-1][0]:.2f})"
        sj_spread = f"{t_sjoin:.2f} ({min(sj_walls):.2f}–{max(sj_walls):.2f})"
        print(f"{n:>10,} {spread:>17} {attach_cores:>5.2f} {sj_spread:>17} {sjoin_cores:>5.2f} "
              f"{t_sjoin / t_attach:>5.1f}x {stats['links']:>10,}"
              f"   {stats['seconds_read']:.2f} + {stats['seconds_compute']:.2f} + {stats['seconds_write']:.2f} s"
              f" (sjoin pairs {len(joined):,})", flush=True)
        if forked:
            t_forked = statistics.median(forked)
            print(f"{'':>10} sjoin in {args.sjoin_processes} processes: {t_forked:.2f} s "
                  f"({min(forked):.2f}–{max(forked):.2f}), {pairs_forked:,} pairs; "
                  f"ratio {t_forked / t_attach:.1f}x (this sjoin median / attach median)", flush=True)
        for line in extra:
            print(f"{'':>10} {line}", flush=True)
        if checked:
            bad = checked["missing"] + checked["extra"] + checked["other_relation"]
            print(f"{'':>10} verify: {checked['pairs']:,} (point, area) pairs by shapely "
                  f"({checked['certain']:,} certain) against {checked['links']:,} links: "
                  f"{checked['missing']} missing, {checked['extra']} extra, "
                  f"{checked['other_relation']} with another relation -> "
                  f"{'all agree' if bad == 0 else 'DISAGREE'} ({checked['seconds']:.0f} s)", flush=True)
    print(f"medians of {args.repeat} runs (min–max); ratio = sjoin median / attach median; "
          "cores = median over runs of CPU time / wall time of this process (all its threads)")
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
