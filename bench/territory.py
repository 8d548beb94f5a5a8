"""Benchmark: re-flagging the observations after a territory change (`biodiv init` for
another territory on a harvested store), against re-attaching them as `init` did before.

    BIODIV_SHARED_DATA=../shared/data python bench/territory.py [--sizes 100000 1000000] [--repeat 3]

Builds the store of bench/attach.py (343 real Hérault communes, ten large Natura 2000
stand-ins, N observations with a realistic mix of accuracies, 3 % obscured), attaches it
with the CCVH as territory, then switches the territory to the CC du Clermontais (its 21
communes from the real decoupage-administratif file) and times, alternately:

- ``refresh_territory_flags``: what ``save_territory`` now runs in the territory's own
  transaction (flags from the stored commune links; obscured points tested against the
  member communes);
- ``attach(all_observations=True, area_types=["commune"])``: what ``init`` ran before
  (every observation matched again against every commune).

Both must leave the same flags (checked after each pair). Prints seconds, the ratio and
the load average (the machine is shared: ratios come from the same run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import shared_data  # noqa: E402
from attach import build_areas, build_points, load, load_average  # noqa: E402  (bench/attach.py)

from biodiv.areas.territory import save_territory  # noqa: E402
from biodiv.attach.links import attach, refresh_territory_flags  # noqa: E402
from biodiv.store.database import Store, transaction  # noqa: E402

CLERMONTAIS = "243400355"


def flags(con) -> np.ndarray:
    rows = con.execute("SELECT coalesce(in_territory::INT, -1) FROM observations ORDER BY id").fetchnumpy()
    return np.asarray(list(rows.values())[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = shared_data()
    epcis = json.loads((data / "admin" / "epci-34-herault_decoupage-administratif-6.0.0.json").read_text())
    clermontais = [m["code"] for m in next(e for e in epcis if e["code"] == CLERMONTAIS)["membres"]]
    ccvh = [m["code"] for m in next(e for e in epcis if e["code"] == "243400694")["membres"]]
    rng = np.random.default_rng(11)
    areas = build_areas(data, rng)
    print(f"load average before: {load_average()}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "bench.duckdb")
            load(store, areas, build_points(n, rng))
            with store.write() as con:
                with transaction(con):
                    save_territory(con, "CCVH", "243400694", ccvh)
                attach(con, all_observations=True)
                with transaction(con):   # the new territory (flags refreshed inside, untimed here)
                    save_territory(con, "Clermontais", CLERMONTAIS, clermontais)
                inside = int((flags(con) == 1).sum())
                t_flags, t_attach = [], []
                for _ in range(args.repeat):
                    con.execute("UPDATE observations SET in_territory = NULL")
                    start = time.perf_counter()
                    with transaction(con):
                        refresh_territory_flags(con)
                    t_flags.append(time.perf_counter() - start)
                    refreshed = flags(con)
                    con.execute("UPDATE observations SET in_territory = NULL")
                    start = time.perf_counter()
                    attach(con, all_observations=True, area_types=["commune"], log_run=False)
                    t_attach.append(time.perf_counter() - start)
                    assert np.array_equal(refreshed, flags(con)), "flags differ from a re-attach"
            f, a = statistics.median(t_flags), statistics.median(t_attach)
            print(f"{n:>9,} observations ({inside:,} in the new territory): flags refresh {f:.2f} s "
                  f"(runs {', '.join(f'{x:.2f}' for x in t_flags)}), re-attach {a:.2f} s "
                  f"(runs {', '.join(f'{x:.2f}' for x in t_attach)}), ratio {a / f:.1f}x; "
                  f"load average {load_average()}")


if __name__ == "__main__":
    main()
