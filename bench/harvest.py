"""Benchmark: the harvest's footprint on real-shaped records, against the v1 full-record
harvester measured in the same run.

    python bench/harvest.py [--sizes 20000 100000 200000] [--rate 50] [--species 2000]
    python bench/harvest.py --edges 2917 [--species 600]    # the cost of the widened box on CCVH
                            [--baseline-size 3000] [--baseline-rev 87433a5]
                            [--floor-size 4000] [--floor-rate 1]

The stand-in server (tests/helpers_harvest.py: real HTTP on 127.0.0.1) serves records
built from the real responses of ``$BIODIV_SHARED_DATA/inaturalist`` (v1: 59 KB each; v2:
the real v2 shape projected by the request's ``fields``), gzip-compressed as iNaturalist's
are, and answers 429 above 1.2 × ``--rate`` (averaged over the 5-second burst window).
Each measured program runs in its own subprocess, whose peak memory is its own ``VmHWM``
and whose disk writes are its own ``write_bytes`` (/proc/self/status, /proc/self/io).

Bytes downloaded are printed on the wire (gzip) and as JSON; the ratio to the baseline is
taken on JSON, because generated records share one real template and compress across a
page far better than real ones do (the baseline's 59 KB v1 records gzip to ~2 KB here).

Per N (``--sizes``, at ``--rate`` requests/s):

1. ``harvest``: a first full harvest through API v2 with the field selection: requests
   against the minimum computed from the data (⌈N/200⌉ observation pages + ⌈deepest
   ancestors not embedded in any observation ÷ 30⌉ taxa requests: every ``/taxa`` answer
   carries its whole lineage), bytes downloaded per observation (on the wire and as JSON),
   database size per 100,000 observations, peak RSS;
2. ``no-change``: ``biodiv harvest`` right after, nothing having changed (the CLI's path:
   probe on a read-only connection, no writer): requests, wall time inside the process
   and for the whole process, bytes written.

Baseline (same run, ``--baseline-size`` observations, the same server): the harvester of
``--baseline-rev`` (before issue 10: v1 full records, whole v1 record stored), extracted
with ``git archive``; its first harvest and its no-change run. Its 200-record v1 pages
weigh ~12 MB of JSON each, so it runs on a smaller N; per-observation figures are compared.

Time vs the rate floor: a full harvest of ``--floor-size`` observations at ``--floor-rate``
requests/s (iNaturalist's pace is 1/s), against requests / rate.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HARD_LIMIT = 1.2
sys.path.insert(0, str(REPO / "tests"))
if not (len(sys.argv) > 2 and sys.argv[1] == "--child" and sys.argv[2].startswith("old-")):
    sys.path.insert(0, str(REPO))      # the old harvester's children import biodiv from PYTHONPATH


def _proc(field: str, path: str = "/proc/self/status") -> int:
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _child(mode: str, cfg_path: str) -> None:
    """Runs in a subprocess: one measured program, JSON on stdout."""
    t_start = time.perf_counter()
    from biodiv.config import load_config

    cfg = load_config(cfg_path)
    out: dict = {}
    if mode in ("harvest", "old-harvest", "old-update"):
        from biodiv.inat.harvest import harvest

        t0 = time.perf_counter()
        with cfg.store().write() as con:
            summary = harvest(cfg, con, progress=False)
        out.update(seconds=time.perf_counter() - t0, requests=summary["requests"], new=summary["new"],
                   taxa_requests=summary["taxa_requests"], bytes_downloaded=summary.get("bytes_downloaded"),
                   json_bytes=summary.get("json_bytes"))
    elif mode == "no-change":
        from biodiv.inat.harvest import harvest
        from biodiv.inat.probe import probe

        t0 = time.perf_counter()
        store = cfg.store()
        first = probe(cfg, store)
        if isinstance(first, dict):
            summary = first
        else:
            with store.write() as con:
                summary = harvest(cfg, con, progress=False, probe=first)
        out.update(seconds=time.perf_counter() - t0, requests=summary["requests"],
                   no_change=bool(summary.get("no_change")), recorded_written=summary.get("bytes_written"))
    out["process_s"] = time.perf_counter() - t_start
    out["cpu_s"] = time.process_time()          # CPU of the whole process (imports included)
    out["maxrss_mb"] = _proc("VmHWM") / 1024
    out["write_bytes"] = _proc("write_bytes", "/proc/self/io")
    print(json.dumps(out))


def _run_child(mode: str, cfg_path: Path, pythonpath: Path | None = None) -> dict:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(cfg_path)],
                          capture_output=True, text=True, cwd=pythonpath or REPO, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{mode} run failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def _old_tree(rev: str, work: Path) -> Path:
    """The biodiv package of ``rev`` (git archive), and this bench file beside it."""
    dest = work / f"biodiv-{rev}"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "biodiv"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def _minimum_requests(obs, tax) -> tuple[int, int, int]:
    """(observation pages, taxa not stored after the pages, minimum taxa requests), from the data."""
    observed = set()
    for oid in obs.ids():
        rec = obs.record(oid)
        if rec and rec.get("taxon"):
            observed.add(rec["taxon"]["id"])
    missing, deepest = set(), set()
    for tid in observed:
        lineage = tax.records[tid]["ancestor_ids"][:-1]
        absent = [a for a in lineage if a not in observed]
        missing.update(absent)
        if absent:
            deepest.add(absent[-1])
    # an answer carries its ancestors: only the deepest missing one of each lineage is asked
    covered = {a for d in deepest for a in tax.records[d]["ancestor_ids"][:-1]}
    asked = deepest - covered
    return math.ceil(len(obs.ids()) / 200), len(missing), math.ceil(len(asked) / 30)


def _world(n: int, species: int):
    from helpers_harvest import ObservationSet, Taxonomy

    tax = Taxonomy(species)
    return tax, ObservationSet(n, tax)


def _store(work: Path, api, rate: float, name: str):
    from biodiv.store.database import Store
    from helpers_harvest import harvest_config, make_territory

    d = work / name
    d.mkdir()
    cfg = harvest_config(d, api.url, per_second=rate, per_minute=max(int(rate * 60), 6), timeout=120)
    with Store(cfg.db).write(create=True) as con:
        make_territory(con)
    return cfg, cfg.save(d / "biodiv.toml")


def bench_size(n: int, rate: float, species: int, work: Path) -> dict:
    from biodiv.inat.client import BURST
    from helpers_harvest import StandInInat

    tax, obs = _world(n, species)
    pages, missing, taxa_min = _minimum_requests(obs, tax)
    with StandInInat(obs, tax, rate_per_second=rate * HARD_LIMIT, rate_window=BURST) as api:
        cfg, cfg_path = _store(work, api, rate, f"n{n}")
        sent0, json0 = api.bytes_sent, api.json_bytes_sent
        full = _run_child("harvest", cfg_path)
        wire, js = api.bytes_sent - sent0, api.json_bytes_sent - json0
        db_bytes = cfg.db.stat().st_size
        before = api.count
        nochange = _run_child("no-change", cfg_path)
        nochange["server_requests"] = api.count - before
        refused = api.refused
    shutil.rmtree(work / f"n{n}", ignore_errors=True)
    return {"n": n, "full": full, "nochange": nochange, "wire": wire, "json": js, "db_bytes": db_bytes,
            "pages": pages, "taxa_missing": missing, "taxa_min": taxa_min, "refused": refused}


def bench_baseline(n: int, rate: float, species: int, rev: str, work: Path) -> dict:
    from biodiv.inat.client import BURST
    from helpers_harvest import StandInInat

    tree = _old_tree(rev, work)
    tax, obs = _world(n, species)
    with StandInInat(obs, tax, rate_per_second=rate * HARD_LIMIT, rate_window=BURST) as api:
        cfg, cfg_path = _store_old(work, api, rate, tree)
        sent0, json0 = api.bytes_sent, api.json_bytes_sent
        full = _run_child("old-harvest", cfg_path, tree)
        wire, js = api.bytes_sent - sent0, api.json_bytes_sent - json0
        db_bytes = cfg.db.stat().st_size
        before = api.count
        nochange = _run_child("old-update", cfg_path, tree)
        nochange["server_requests"] = api.count - before
    return {"n": n, "full": full, "nochange": nochange, "wire": wire, "json": js, "db_bytes": db_bytes}


def _store_old(work: Path, api, rate: float, tree: Path):
    """The baseline's config and database, written by the old code itself (its Config,
    its migrations 001-005)."""
    d = work / "baseline"
    d.mkdir()
    script = (
        "from biodiv.store.database import Store\n"
        "from helpers_harvest import harvest_config, make_territory\n"
        f"cfg = harvest_config(__import__('pathlib').Path({str(d)!r}), {api.url!r}, per_second={rate!r}, "
        f"per_minute={max(int(rate * 60), 6)}, timeout=120)\n"
        f"cfg.save(__import__('pathlib').Path({str(d / 'biodiv.toml')!r}))\n"
        "with Store(cfg.db).write(create=True) as con:\n"
        "    make_territory(con)\n"
    )
    env = dict(os.environ, PYTHONPATH=f"{tree}:{REPO / 'tests'}")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tree, env=env)

    class _Cfg:
        db = d / "biodiv.duckdb"
    return _Cfg, d / "biodiv.toml"


def bench_floor(n: int, rate: float, species: int, work: Path) -> dict:
    from biodiv.inat.client import BURST
    from helpers_harvest import StandInInat

    tax, obs = _world(n, species)
    pages, missing, taxa_min = _minimum_requests(obs, tax)
    with StandInInat(obs, tax, rate_per_second=rate * HARD_LIMIT, rate_window=BURST) as api:
        cfg, cfg_path = _store(work, api, rate, f"floor{n}")
        full = _run_child("harvest", cfg_path)
    return {"n": n, "rate": rate, "full": full, "pages": pages, "taxa_min": taxa_min,
            "floor_s": full["requests"] / rate, "min_floor_s": (pages + taxa_min) / rate}


def bench_no_change_only(n: int, species: int, work: Path) -> dict:
    """A store of ``n`` real-shaped observations filled without HTTP (the records a v2
    harvest would store, through the harvester's own ``_store_page``), then the no-change
    update against the stand-in server: what item 7 of issue 10 asks at 100,000 observations
    without waiting for a full harvest through the rate limiter."""
    from biodiv.inat import db
    from biodiv.inat.client import RequestCounter
    from biodiv.inat.fields import OBSERVATION_FIELDS
    from biodiv.inat.harvest import SCOPE_OBSERVATIONS, HarvestRun, _store_page
    from biodiv.store.database import Store
    from helpers_harvest import StandInInat, harvest_config, make_territory, v2_answer

    tax, obs = _world(n, species)
    with StandInInat(obs, tax) as api:
        d = work / f"nochange{n}"
        d.mkdir()
        cfg = harvest_config(d, api.url, timeout=120)
        with Store(cfg.db).write(create=True) as con:
            make_territory(con)
            run = HarvestRun(cfg, con, db.start_run(con, "harvest", {}), RequestCounter())
            ids, cursor = obs.ids(), 0
            for k in range(0, len(ids), 200):
                page = [v2_answer(obs.record(i), OBSERVATION_FIELDS) for i in ids[k:k + 200]]
                cursor = _store_page(con, run, page, cursor, may_restore=False)
            db.save_state(con, SCOPE_OBSERVATIONS, mode="full", in_progress=False, last_success_at=db.utcnow())
            db.finish_run(con, run.run_id, "ok", run.snapshot())
            con.execute("UPDATE observations SET needs_attach = false")
        cfg_path = cfg.save(d / "biodiv.toml")
        before = api.count
        nochange = _run_child("no-change", cfg_path)
        nochange["server_requests"] = api.count - before
    return {"n": n, "db_bytes": cfg.db.stat().st_size, "nochange": nochange}


def bench_edges(n_box: int, rate: float, species: int, work: Path) -> dict:
    """The cost of the widened box (issue 24 item 2) on CCVH's box (``helpers_harvest.BBOX``):
    ``n_box`` observations in the territory's own box, and the same density over the box the
    harvest asks (widened to the 0.2° obscuring grid, ``biodiv.inat.query.query_box``).
    Two first harvests: the margin's observations absent (what the exact box asked), then
    present; requests and bytes of each."""
    from biodiv.inat.client import BURST
    from biodiv.inat.query import query_box
    from helpers_harvest import BBOX, ObservationSet, StandInInat, Taxonomy

    wide = query_box(BBOX)

    def area(b):
        return (b[2] - b[0]) * (b[3] - b[1])

    n_wide = round(n_box * area(wide) / area(BBOX))
    out = {"n_box": n_box, "n_wide": n_wide, "box_asked_before": BBOX, "box_asked": wide}
    tax = Taxonomy(species)
    for name, obs in (("exact", ObservationSet(n_box, tax, bbox=BBOX)),
                      ("widened", ObservationSet(n_wide, tax, bbox=wide))):
        with StandInInat(obs, tax, rate_per_second=rate * HARD_LIMIT, rate_window=BURST) as api:
            cfg, cfg_path = _store(work, api, rate, f"edges-{name}")
            run = _run_child("harvest", cfg_path)
            out[name] = {"requests": api.count, "wire": api.bytes_sent, "json": api.json_bytes_sent,
                         "stored": run["new"], "observation_pages": api.obs_pages}
        shutil.rmtree(work / f"edges-{name}", ignore_errors=True)
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 200_000])
    ap.add_argument("--rate", type=float, default=50.0, help="requests per second for the size runs")
    ap.add_argument("--species", type=int, default=2000)
    ap.add_argument("--baseline-size", type=int, default=3000)
    ap.add_argument("--baseline-rev", default="87433a5", help="git revision of the v1 full-record harvester")
    ap.add_argument("--floor-size", type=int, default=4000)
    ap.add_argument("--floor-rate", type=float, default=1.0)
    ap.add_argument("--no-change-only", type=int, metavar="N",
                    help="only the no-change update on a store of N observations filled without HTTP")
    ap.add_argument("--edges", type=int, metavar="N",
                    help="only the cost of the widened box: N observations in CCVH's box, the same density around")
    args = ap.parse_args()
    if args.edges:
        work = Path(tempfile.mkdtemp(prefix="bench-harvest-"))
        try:
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            r = bench_edges(args.edges, args.rate, args.species, work)
            before, asked = r["box_asked_before"], r["box_asked"]
            ratio = ((asked[2] - asked[0]) * (asked[3] - asked[1])) / ((before[2] - before[0]) * (before[3] - before[1]))
            print(f"widened box, load {load}: territory box {before} -> asked {asked} (x{ratio:.2f} area, "
                  "the same density of observations around)")
            for name in ("exact", "widened"):
                x = r[name]
                print(f"  {name:>8} box: {x['stored']:,} observations, {x['requests']} requests "
                      f"({x['observation_pages']} observation pages), {x['wire'] / 1e6:.2f} MB on the wire, "
                      f"{x['json'] / 1e6:.2f} MB JSON")
            e, w = r["exact"], r["widened"]
            print(f"  extra: {w['requests'] - e['requests']} requests, {(w['wire'] - e['wire']) / 1e6:.2f} MB on the "
                  f"wire ({(w['json'] - e['json']) / 1e6:.2f} MB JSON), {w['stored'] - e['stored']:,} more "
                  f"observations stored (flagged in/out by attach); load after "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    if args.no_change_only:
        work = Path(tempfile.mkdtemp(prefix="bench-harvest-"))
        try:
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            r = bench_no_change_only(args.no_change_only, args.species, work)
            nc = r["nochange"]
            print(f"no-change update on {r['n']:,} observations ({r['db_bytes'] / 1e6:.1f} MB store), load {load}: "
                  f"{nc['server_requests']} request, {nc['seconds']:.2f} s in the process "
                  f"({nc['process_s']:.2f} s with imports, {nc['wall_s']:.2f} s wall, CPU {nc['cpu_s']:.2f} s), "
                  f"{nc['write_bytes'] / 1e3:.1f} kB written (recorded: {nc['recorded_written']} B), "
                  f"writer opened: {not nc['no_change']}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    print(f"harvest bench: real-shaped records, {args.species} species, size runs at {args.rate:g} req/s; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-harvest-"))
    try:
        base = bench_baseline(args.baseline_size, args.rate, args.species, args.baseline_rev, work)
        bn = base["n"]
        b_kb_wire, b_kb_json = base["wire"] / bn / 1e3, base["json"] / bn / 1e3
        b_db100k = base["db_bytes"] / bn * 1e5 / 1e6
        print(f"baseline ({args.baseline_rev}, v1 full records) at N={bn}: downloaded {b_kb_wire:.1f} KB/obs on "
              f"the wire ({b_kb_json:.1f} KB JSON), DB {b_db100k:,.0f} MB per 100k obs, peak RSS "
              f"{base['full']['maxrss_mb']:.0f} MB, full harvest {base['full']['seconds']:.1f} s "
              f"({base['full']['requests']} requests); no-change run: {base['nochange']['server_requests']} "
              f"request(s), {base['nochange']['wall_s']:.2f} s process, "
              f"{base['nochange']['write_bytes'] / 1e6:.1f} MB written", flush=True)
        print(f"{'N':>7} {'req':>5} {'min':>5} {'KB/obs wire':>11} {'JSON':>7} {'×base':>6} {'MB/100k':>8} "
              f"{'×base':>6} {'peak MB':>7} {'×base':>6} {'no-change: req':>14} {'in-proc s':>9} {'process s':>9} "
              f"{'written':>9} {'×base':>7}", flush=True)
        for n in args.sizes:
            r = bench_size(n, args.rate, args.species, work)
            f, nc = r["full"], r["nochange"]
            kb_wire, kb_json = r["wire"] / n / 1e3, r["json"] / n / 1e3
            db100k = r["db_bytes"] / n * 1e5 / 1e6
            written = nc["write_bytes"]
            print(f"{n:>7} {f['requests']:>5} {r['pages'] + r['taxa_min']:>5} {kb_wire:>11.2f} {kb_json:>7.2f} "
                  f"{kb_json / b_kb_json:>6.3f} {db100k:>8.1f} {db100k / b_db100k:>6.3f} {f['maxrss_mb']:>7.0f} "
                  f"{f['maxrss_mb'] / base['full']['maxrss_mb']:>6.2f} {nc['server_requests']:>14} "
                  f"{nc['seconds']:>9.2f} {nc['wall_s']:>9.2f} {written / 1e3:>7.1f}kB "
                  f"{written / max(base['nochange']['write_bytes'], 1):>7.4f}", flush=True)
            print(f"{'':>7} pages {r['pages']}, taxa requests {f['taxa_requests']} (taxa not embedded "
                  f"{r['taxa_missing']}, minimum {r['taxa_min']}); full harvest {f['seconds']:.1f} s; "
                  f"no-change recorded {nc['recorded_written']} B written, probe only: {nc['no_change']}, "
                  f"CPU {nc.get('cpu_s', 0):.2f} s for its whole process (wall depends on the load); "
                  f"429s {r['refused']}", flush=True)
        fl = bench_floor(args.floor_size, args.floor_rate, args.species, work)
        f = fl["full"]
        print(f"time vs floor at {fl['rate']:g} req/s, N={fl['n']}: {f['requests']} requests "
              f"(⌈N/200⌉ = {fl['pages']} + taxa {f['taxa_requests']}, minimum from the data "
              f"{fl['pages'] + fl['taxa_min']}), harvest {f['seconds']:.1f} s, floor {fl['floor_s']:.1f} s, "
              f"×floor {f['seconds'] / fl['floor_s']:.3f}", flush=True)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
