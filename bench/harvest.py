"""Benchmark: a full harvest against a rate-limited stand-in iNaturalist server.

    python bench/harvest.py [--sizes 20000 200000] [--rate 50] [--species 2000]

For each N the stand-in server (tests/helpers_harvest.py: real HTTP on 127.0.0.1,
synthetic observations with the real response shape, generated lazily so that the
server's memory does not grow with N) answers 429 above 1.2 × ``--rate`` (averaged
over the client's 5-second burst window; iNaturalist likewise enforces 100/min and
asks for 60/min), and the client is configured to ``--rate``. Each measured program
runs in its own subprocess, whose peak memory is read from its own ``VmHWM``
(/proc/self/status: the high-water mark of its resident set since ``exec``).
Why not ``ru_maxrss``: Linux carries the parent's peak over ``fork``/``vfork`` + ``exec``
into the child's ``ru_maxrss``, so a child of this bench (whose process holds the
stand-in server and its synthetic data) would report at least the parent's RSS
(measured: a 12 MB child of a 311 MB parent reports 311 MB). Both are printed.

1. baseline, measured in the same run: fetch every observation page through the same
   pyinaturalist session and rate limiter, storing nothing (the practical floor);
2. ``biodiv.inat.harvest.harvest`` into a real DuckDB file (parse, compress, upsert
   every page with its cursor in one transaction, resolve taxa, attach);
3. an incremental run right after, when nothing changed.

Printed per N: requests made against the minimum (⌈N/200⌉ observation pages + taxa
batches), harvest time against the theoretical floor (requests / rate) and against the
measured fetch-only baseline, peak memory, and the requests of the incremental run.
The rates used are faster than iNaturalist's 1 request/s so that runs fit in minutes.
Storing a page costs ~0.1 s of CPU on a 2-core machine; it overlaps the wait for
the next page (prefetch), so the floor is reached when 1/rate exceeds that cost, and
the harvest is CPU-bound above (50 req/s, where the stand-in server's own ~0.05 s of
CPU per page also competes for the cores).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the server's hard limit sits above the rate the client asks for, as iNaturalist's
# (100 requests/min enforced, 60/min asked)
HARD_LIMIT = 1.2
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))


def _status_mb(field: str = "VmRSS") -> float:
    """A memory field of /proc/self/status in MB (VmRSS: now, VmHWM: peak since exec)."""
    with open("/proc/self/status") as f:
        return int(f.read().split(f"{field}:")[1].split()[0]) / 1024


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _child(mode: str, cfg_path: str) -> None:
    """Runs in a subprocess: one measured program, JSON on stdout."""
    from biodiv.config import load_config
    from biodiv.inat.client import OBSERVATIONS_PER_PAGE, InatClient
    from biodiv.inat.db import territory_bbox
    from biodiv.inat.harvest import harvest, query_params

    cfg = load_config(cfg_path)
    out: dict = {}
    if mode == "fetch":
        with cfg.store().read() as con:
            bbox = territory_bbox(con)
        client = InatClient(cfg)
        params = query_params(cfg, bbox) | {"order_by": "id", "order": "asc",
                                            "per_page": OBSERVATIONS_PER_PAGE, "locale": "fr"}
        cursor, pages, records = 0, 0, 0
        t0 = time.perf_counter()
        while True:
            data = client.observations(params | {"id_above": cursor})
            results = data["results"]
            pages += 1
            records += len(results)
            if not results or len(results) >= data["total_results"]:
                break
            cursor = results[-1]["id"]
        out.update(seconds=time.perf_counter() - t0, requests=client.counter.sent, records=records)
    else:
        t0 = time.perf_counter()
        with cfg.store().write() as con:
            t1 = time.perf_counter()
            out["rss_before_mb"] = _rss_mb()
            summary = harvest(cfg, con, progress=False)
            t2 = time.perf_counter()
            taxa = con.execute("SELECT count(*) FROM taxa").fetchone()[0]
        t3 = time.perf_counter()
        out.update(seconds=t2 - t1, open_s=t1 - t0, publish_s=t3 - t2, requests=summary["requests"],
                   pages=summary["pages"], taxa_requests=summary["taxa_requests"], new=summary["new"],
                   taxa=taxa, attach_s=(summary.get("attach") or {}).get("seconds"))
    out["maxrss_mb"] = _status_mb("VmHWM")
    out["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # includes the parent's
    print(json.dumps(out))


def _run_child(mode: str, cfg_path: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(cfg_path)],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        sys.exit(f"{mode} run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench(n: int, rate: float, species: int) -> dict:
    from biodiv.inat.client import BURST
    from biodiv.store.database import Store
    from helpers_harvest import ObservationSet, StandInInat, Taxonomy, harvest_config, make_territory

    tax = Taxonomy(species)
    obs = ObservationSet(n, tax)
    work = Path(tempfile.mkdtemp(prefix="bench-harvest-"))
    try:
        with StandInInat(obs, tax, rate_per_second=rate * HARD_LIMIT, rate_window=BURST) as api:
            cfg = harvest_config(work, api.url, per_second=rate, per_minute=int(rate * 60), timeout=60)
            with Store(cfg.db).write(create=True) as con:
                make_territory(con)
            cfg_path = cfg.save(work / "biodiv.toml")
            fetch = _run_child("fetch", cfg_path)
            full = _run_child("harvest", cfg_path)
            before = api.count
            _run_child("harvest", cfg_path)
            incr_requests = api.count - before
            db_mb = cfg.db.stat().st_size / 1e6
            parent_mb = _rss_mb()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pages = math.ceil(n / 200)
    floor_s = (pages + full["taxa_requests"]) / rate
    return {"n": n, "rate": rate, "fetch": fetch, "full": full, "incr_requests": incr_requests,
            "pages_min": pages, "floor_s": floor_s, "db_mb": db_mb,
            "refused": api.refused, "parent_mb": parent_mb}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    ap.add_argument("--rate", type=float, default=50.0, help="requests per second (server limit and client rate)")
    ap.add_argument("--species", type=int, default=2000, help="distinct species among the observations")
    args = ap.parse_args()
    print(f"harvest bench: rate {args.rate:g} req/s, {args.species} species, synthetic records ~4 KB")
    header = (f"{'N':>8} {'requests':>9} {'minimum':>8} {'taxa req':>8} {'harvest s':>10} {'floor s':>8} "
              f"{'×floor':>7} {'fetch-only s':>12} {'×fetch':>7} {'peak MB':>8} {'incr req':>8} {'DB MB':>7}")
    print(header)
    for n in args.sizes:
        r = bench(n, args.rate, args.species)
        full, fetch = r["full"], r["fetch"]
        minimum = r["pages_min"] + full["taxa_requests"]
        print(f"{n:>8} {full['requests']:>9} {minimum:>8} {full['taxa_requests']:>8} {full['seconds']:>10.1f} "
              f"{r['floor_s']:>8.1f} {full['seconds'] / r['floor_s']:>7.2f} {fetch['seconds']:>12.1f} "
              f"{full['seconds'] / fetch['seconds']:>7.2f} {full['maxrss_mb']:>8.0f} {r['incr_requests']:>8} "
              f"{r['db_mb']:>7.1f}", flush=True)
        print(f"{'':>8} RSS before harvest {full['rss_before_mb']:.0f} MB, store open {full['open_s']:.1f} s, publish {full['publish_s']:.1f} s, attach "
              f"{full['attach_s']} s, taxa stored {full['taxa']}, fetch-only peak {fetch['maxrss_mb']:.0f} MB, "
              f"429s {r['refused']}", flush=True)
        print(f"{'':>8} peak = the harvest process's own VmHWM; its ru_maxrss {full['ru_maxrss_mb']:.0f} MB "
              f"includes this bench process's RSS ({r['parent_mb']:.0f} MB, stand-in server and data)", flush=True)


if __name__ == "__main__":
    main()
