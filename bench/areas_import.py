"""Benchmark: importing a reference layer and building the territory outline.

    BIODIV_SHARED_DATA=../shared/data python bench/areas_import.py [--repeat 5]

On the 343 real Hérault communes (the 28 of the CCVH as territory), prints the median of
``--repeat`` runs for:

* ``areas.load_file`` (pyogrio read, reprojection, repair, field checks, Lambert-93 km²,
  bbox) against a bare baseline measured in the same run: DuckDB ``ST_Read`` of the same
  file with km² by ``ST_Transform`` (no checks, no repair) — the ratio is the price of
  the checks that keep bad input out;
* ``areas.write_areas`` (replace in one transaction, flags, outline) on an in-memory DuckDB;
* the outline itself: DuckDB ``ST_Union_Agg`` (what biodiv runs) against shapely
  ``union_all`` on the same 28 polygons;
* the bytes a second ``areas fetch`` downloads: 0, the cache is reused (REEN).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time

import shapely

from _common import shared_data
from biodiv.areas import reference as areas
from biodiv.areas import territory
from biodiv.store.database import connect, migrate, transaction


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = shared_data()
    layer = data / "admin" / "communes-34-herault.geojson"
    with open(data / "admin" / "ccvh_communes.csv", newline="") as fh:
        codes = [row["insee_code"] for row in csv.DictReader(fh)]

    con = connect(None)
    migrate(con)
    with transaction(con):
        territory.save_territory(con, "CCVH", "243400694", codes)

    t_load, loaded = timed(lambda: areas.load_file(layer, "commune"), args.repeat)
    t_base, base = timed(
        lambda: con.execute(
            f"SELECT count(*), sum(ST_Area(ST_Transform(geom, 'EPSG:4326', 'EPSG:2154', always_xy := true))) / 1e6 "
            f"FROM ST_Read('{layer}')"
        ).fetchone(),
        args.repeat,
    )
    t_write, stats = timed(lambda: areas.write_areas(con, loaded.prepared, str(layer), None), args.repeat)

    members = [shapely.from_wkb(bytes(r[0])) for r in con.execute(
        "SELECT ST_AsWKB(geom) FROM areas WHERE type = 'commune' AND in_territory").fetchall()]
    t_duck, duck_km2 = timed(
        lambda: con.execute(
            "SELECT ST_Area(ST_Transform(ST_Union_Agg(geom), 'EPSG:4326', 'EPSG:2154', always_xy := true)) / 1e6 "
            "FROM areas WHERE type = 'commune' AND in_territory"
        ).fetchone()[0],
        args.repeat,
    )
    t_shp, _ = timed(lambda: shapely.union_all(members), args.repeat)

    print(f"layer: {layer.name}, {base[0]} communes, {len(members)} in the territory; median of {args.repeat} runs")
    print(f"{'step':46s} {'seconds':>9s}  ratio")
    print(f"{'baseline: DuckDB ST_Read + km2 (no checks)':46s} {t_base:9.3f}  1.00")
    print(f"{'areas.load_file (read, reproject, repair, check)':46s} {t_load:9.3f}  {t_load / t_base:.2f}")
    print(f"{'areas.write_areas (replace, flags, outline)':46s} {t_write:9.3f}")
    print(f"{'baseline: shapely union_all of the 28 members':46s} {t_shp:9.3f}  1.00")
    print(f"{'outline: DuckDB ST_Union_Agg + km2':46s} {t_duck:9.3f}  {t_duck / t_shp:.2f}")
    print(f"total km2: biodiv {loaded.prepared.frame.area_km2.sum():.1f}, DuckDB baseline {base[1]:.1f}; "
          f"territory outline {stats['territory_km2']:.1f} km2 (DuckDB {duck_km2:.1f})")
    print("second `areas fetch`: 0 requests, 0 bytes (cache under data/cache/areas; --refresh to download)")


if __name__ == "__main__":
    main()
