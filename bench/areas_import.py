"""Benchmark: importing a reference layer and building the territory outline.

    BIODIV_SHARED_DATA=../shared/data python bench/areas_import.py [--repeat 9]

On the 343 real Hérault communes (the 28 of the CCVH as territory), prints the median of
``--repeat`` runs for:

* ``areas.load_file`` (pyogrio read, reprojection, repair, field checks, Lambert-93 km²,
  bbox) against a bare baseline measured in the same run: DuckDB ``ST_Read`` of the same
  file with km² by ``ST_Transform`` (no checks, no repair) — the ratio is the price of
  the checks that keep bad input out;
* ``areas.write_areas`` (replace in one transaction, flags, outline) on an in-memory DuckDB;
* the outline itself: DuckDB ``ST_Union_Agg`` (what biodiv runs) against shapely
  ``union_all`` on the same 28 polygons;
* the requests and bytes of ``biodiv init`` + a first ``biodiv areas fetch`` (the
  baseline) and of a second ``biodiv areas fetch``, each run as its own command against a
  local stand-in of geo.api.gouv.fr and the IGN WFS (tests/helpers_areas.py) that counts
  every request and every byte it sends: the cache should make the second one free (REEN).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import shapely

from _common import shared_data
from biodiv.areas import reference as areas
from biodiv.areas import territory
from biodiv.config import Config
from biodiv.store.database import connect, migrate, transaction

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers_areas import GeoStandIn  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


class CountingStandIn(GeoStandIn):
    """The tests' stand-in, also counting the bytes it sends (status line, headers, body)."""

    def __init__(self, admin_dir: Path):
        super().__init__(admin_dir)
        self.bytes_sent = 0
        base = self.server.RequestHandlerClass
        stand_in = self

        class Counting(base):
            def setup(self):
                super().setup()
                raw = self.wfile

                class Writer:
                    def write(self, b):
                        stand_in.bytes_sent += len(b)
                        return raw.write(b)

                    def __getattr__(self, name):
                        return getattr(raw, name)

                self.wfile = Writer()

        self.server.RequestHandlerClass = Counting

    def totals(self) -> tuple[int, int]:
        return len(self.requests), self.bytes_sent


def biodiv_command(cfg_file: Path, *args: str) -> None:
    """``biodiv -c CFG ARGS`` as its own process, as an officer runs it."""
    done = subprocess.run([sys.executable, "-m", "biodiv", "-c", str(cfg_file), *args],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"biodiv {' '.join(args)} failed: {done.stderr.strip()}")


def fetch_traffic(admin_dir: Path) -> list[tuple[str, int, int]]:
    """(step, requests, bytes) of `init`, a first `areas fetch` and a second one."""
    with tempfile.TemporaryDirectory() as tmp, CountingStandIn(admin_dir) as server:
        cfg = Config(db_path=str(Path(tmp) / "biodiv.duckdb"), cache_dir=str(Path(tmp) / "cache"))
        cfg.sources.geo_api_url = server.geo_api_url
        cfg.sources.wfs_url = server.wfs_url
        cfg_file = cfg.save(Path(tmp) / "biodiv.toml")
        rows, seen = [], (0, 0)
        for step, args in (("biodiv init (CCVH)", ("init",)),
                           ("first biodiv areas fetch", ("areas", "fetch")),
                           ("second biodiv areas fetch", ("areas", "fetch"))):
            biodiv_command(cfg_file, *args)
            now = server.totals()
            rows.append((step, now[0] - seen[0], now[1] - seen[1]))
            seen = now
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    data = shared_data()
    layer = data / "admin" / "communes-34-herault.geojson"
    with open(data / "admin" / "ccvh_communes.csv", newline="") as fh:
        codes = [row["insee_code"] for row in csv.DictReader(fh)]

    con = connect(None)
    migrate(con)
    with transaction(con):
        territory.save_territory(con, "CCVH", "243400694", codes)

    # measured alternately, so that a burst of load on the shared machine hits both sides:
    # the ratio is the median of the per-round ratios
    def bare_read():
        return con.execute(
            f"SELECT count(*), sum(ST_Area(ST_Transform(geom, 'EPSG:4326', 'EPSG:2154', always_xy := true))) / 1e6 "
            f"FROM ST_Read('{layer}')"
        ).fetchone()

    loads, bases = [], []
    for _ in range(args.repeat):
        t, loaded = timed(lambda: areas.load_file(layer, "commune"), 1)
        loads.append(t)
        t, base = timed(bare_read, 1)
        bases.append(t)
    t_load, t_base = statistics.median(loads), statistics.median(bases)
    load_ratio = statistics.median(a / b for a, b in zip(loads, bases))
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
    print(f"{'areas.load_file (read, reproject, repair, check)':46s} {t_load:9.3f}  {load_ratio:.2f}")
    print(f"{'areas.write_areas (replace, flags, outline)':46s} {t_write:9.3f}")
    print(f"{'baseline: shapely union_all of the 28 members':46s} {t_shp:9.3f}  1.00")
    print(f"{'outline: DuckDB ST_Union_Agg + km2':46s} {t_duck:9.3f}  {t_duck / t_shp:.2f}")
    print(f"total km2: biodiv {loaded.prepared.frame.area_km2.sum():.1f}, DuckDB baseline {base[1]:.1f}; "
          f"territory outline {stats['territory_km2']:.1f} km2 (DuckDB {duck_km2:.1f})")
    print()
    print(f"{'command (own process, stand-in on 127.0.0.1)':46s} {'requests':>9s}  {'bytes sent':>10s}")
    for step, n, size in fetch_traffic(data / "admin"):
        print(f"{step:46s} {n:9d}  {size:10,d}")
    print("(the second fetch reads the cache under cache_dir/areas; --refresh downloads again)")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
