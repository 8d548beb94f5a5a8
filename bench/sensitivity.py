"""Cost of the sensitivity layer (biodiv/sensitivity/, docs/performance.md "Sensitivity"):
the levels' refresh on a demo of N observations, and the dashboard's queries on the same file
in private and public mode (median-free: the best of 5 runs each).

    PYTHONPATH=. python bench/sensitivity.py 200000 [referential.csv]
"""

import sys
import tempfile
import time
from pathlib import Path

import duckdb

from biodiv.dashboard import data
from biodiv.demo import build_demo
from biodiv.sensitivity import levels, referential
from biodiv.store.database import Store


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    db = Path(tempfile.mkdtemp()) / "bench.duckdb"
    build_demo(db, n_observations=n, link="direct")
    with Store(db).write() as con:
        t = time.perf_counter()
        levels.refresh(con)
        print(f"refresh (cautious default) of {n:,} observations: {time.perf_counter() - t:.2f} s")
        if len(sys.argv) > 2:
            t = time.perf_counter()
            levels.store_referential(con, referential.read_referential(sys.argv[2]), None)
            print(f"referential import and refresh: {time.perf_counter() - t:.2f} s")
    con = duckdb.connect(str(db), read_only=True)
    for public in (False, True):
        f = data.Filters(public=public)
        for fn, args in ((data.key_figures, (f,)), (data.area_measures, (f, "commune")),
                         (data.grid_counts, (f, 10_000)), (data.map_points, (f, 3000)), (data.species_list, (f,))):
            times = []
            for _ in range(5):
                t = time.perf_counter()
                fn(con, *args)
                times.append(time.perf_counter() - t)
            print(f"{'public ' if public else 'private'} {fn.__name__:14s} {min(times) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
