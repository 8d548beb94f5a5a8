"""Benchmark: the same store on both backends (one DuckDB file, a DuckLake), side by side.

    BIODIV_SHARED_DATA=../shared/data python bench/store_backends.py [--sizes 100000 1000000] [--repeat 3]

For each size N a file store is built by the demo generator over the real CCVH communes
(biodiv/demo.py, as bench/dashboard.py does), then copied into a DuckLake with a
SQLite catalog and a local data path (``biodiv store migrate --to ducklake``'s function;
its time is printed). On each backend, each measured step runs in its own subprocess,
whose bytes written are read from /proc/self/io (``wchar``: bytes handed to write(),
sendfile() included, so the file backend's working copy counts; ``write_bytes``: bytes
the process sent to the block layer):

* one-page update: 200 real-shaped observations (the real API v1 records of
  $BIODIV_SHARED_DATA/inaturalist/api_v1/get_observation*.json, tens of KB of JSON each, given
  the ids of 200 stored observations, new coordinates and a new ``updated_at``) upserted with
  their taxa and the harvest cursor in one transaction, as a harvest page is
  (biodiv.inat.harvest._store_page: the records projected on the selected fields first), in
  one ``Store.write()``; "on disk" is the growth of the file, or of the catalog plus the
  data folder;
* no-change update: the same page again (every record identical: nothing to write);
* attach: ``biodiv.attach.links.attach`` of every observation (``--all``), in one write;
* readers: the dashboard's map queries (``grid_counts`` (10 km cells) and ``map_points`` with no filter) and
  every named query (queries/*.sql, sample parameters), median of ``--repeat``.

Goal on DuckLake: a one-page update writes ≤ 1 MB (proportional to what changed).
The load average is printed beside the figures (the machine is shared).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import median_time  # noqa: E402

END = date(2026, 11, 20)
PAGE = 200
UPDATED_AT = "2026-11-30T12:00:00+00:00"
REAL_FILES = ("get_observation.json", "get_observation_with_ofvs.json", "get_observations_by_id.json",
              "get_observations_page1.json", "get_observations_page2.json")


def _io() -> dict[str, int]:
    with open("/proc/self/io") as f:
        return {k: int(v) for k, v in (line.split(": ") for line in f.read().splitlines())}


def _page_records(shared: Path, ids: list[int], shift: float) -> list[dict]:
    """Real API v1 records, one per stored id, moved by ``shift`` degrees and updated now."""
    real = []
    for name in REAL_FILES:
        real.extend(r for r in json.loads((shared / "inaturalist" / "api_v1" / name).read_text())["results"]
                    if r.get("id") and r.get("taxon"))
    now = UPDATED_AT   # fixed: the no-change pass must send exactly the same records
    out = []
    for i, oid in enumerate(ids):
        rec = copy.deepcopy(real[i % len(real)])
        lon, lat = 3.45 + (i % 20) * 0.01 + shift, 43.55 + (i // 20) * 0.01
        rec.update(id=oid, updated_at=now, location=f"{lat},{lon}",
                   geojson={"type": "Point", "coordinates": [lon, lat]})
        out.append(rec)
    return out


def child(step: str, cfg_file: str, shared: str, repeat: int) -> None:
    """One measured step in its own process: prints JSON."""
    from biodiv.config import load_config

    store = load_config(cfg_file).store()
    before = _io()
    t0 = time.perf_counter()
    out: dict = {}
    if step in ("page", "nochange"):
        from biodiv.inat import db
        from biodiv.inat.fields import project
        from biodiv.inat.parse import observation_taxon, parse_observation, parse_taxon, raw_json
        from biodiv.store.database import transaction

        with store.write() as con:
            ids = [r[0] for r in con.execute(
                f"SELECT id FROM observations ORDER BY id LIMIT {PAGE} OFFSET 1000").fetchall()]
            records = [project(r) for r in _page_records(Path(shared), ids, 0.0)]  # as _store_page does
            rows = [parse_observation(r) for r in records]
            texts = [raw_json(r) for r in records]
            taxa = {t["id"]: parse_taxon(t) for t in (observation_taxon(r) for r in records) if t}
            now = db.utcnow()
            with transaction(con):
                counts = db.upsert_observations(con, rows, texts, now)
                db.upsert_taxa(con, list(taxa.values()), now)
                db.save_state(con, "observations", id_above=max(ids))
        out["counts"] = counts
        out["json_kb"] = sum(len(t) for t in texts) / 1e3
    elif step == "attach":
        from biodiv.attach.links import attach

        with store.write() as con:
            stats = attach(con, all_observations=True)
        out["links"] = stats["links"]
        out["attach_s"] = stats["seconds"]
    elif step == "read":
        from biodiv.analysis.queries import list_queries, lock_down, run_query
        from biodiv.dashboard import data

        con = lock_down(store.reader())
        code = con.execute("SELECT code FROM areas WHERE type = 'commune' AND in_territory LIMIT 1").fetchone()[0]
        taxon = con.execute("SELECT taxon_id FROM observations GROUP BY ALL ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
        samples = {"species_by_area": {"area": code}, "phenology": {"taxon_id": taxon}}

        def median(fn):
            return median_time(fn, repeat)

        out["grid_counts_ms"] = median(lambda: data.grid_counts(con, data.NO_FILTERS)) * 1000
        out["map_points_ms"] = median(lambda: data.map_points(con, data.NO_FILTERS, 3000)) * 1000
        out["queries_ms"] = {q.name: median(lambda: run_query(con, q, samples.get(q.name, {}))) * 1000
                             for q in list_queries()}
        # "what changed in the last update" (the one-page update): by the harvest time stamp
        # (both backends), and on DuckLake by the change feed over that update's snapshots,
        # then over every snapshot since (the attach --all re-flagged every observation)
        since = os.environ["BENCH_SINCE"]
        sql = f"SELECT count(*) FROM observations WHERE harvested_at >= TIMESTAMPTZ '{since}'"
        out["changed_rows"] = con.execute(sql).fetchone()[0]
        out["changed_ms"] = median(lambda: con.execute(sql).fetchall()) * 1000
        if os.environ.get("BENCH_SNAP_FROM"):
            lo, hi = int(os.environ["BENCH_SNAP_FROM"]) + 1, int(os.environ["BENCH_SNAP_TO"])
            last = con.execute("SELECT max(snapshot_id) FROM biodiv.snapshots()").fetchone()[0]
            # a FILTER, not a WHERE: DuckDB 1.5.5 fails on a WHERE pushed into table_changes
            # ("INTERNAL Error: optional_idx cannot be initialized with an invalid index")
            feed = ("SELECT count(DISTINCT id) FILTER (WHERE change_type IN ('insert', 'update_postimage'))"
                    " FROM biodiv.table_changes('observations', {}, {})")
            out["feed_rows"] = con.execute(feed.format(lo, hi)).fetchone()[0]
            out["feed_ms"] = median(lambda: con.execute(feed.format(lo, hi)).fetchall()) * 1000
            out["feed_all_rows"] = con.execute(feed.format(lo, last)).fetchone()[0]
            out["feed_all_ms"] = median(lambda: con.execute(feed.format(lo, last)).fetchall()) * 1000
        con.close()
    after = _io()
    out["seconds"] = time.perf_counter() - t0
    out["wchar"] = after["wchar"] - before["wchar"]
    out["write_bytes"] = after["write_bytes"] - before["write_bytes"]
    print(json.dumps(out))


def run_child(step: str, cfg_file: Path, shared: Path, repeat: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", step, str(cfg_file), str(shared), str(repeat)],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"{step} on {cfg_file} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def last_snapshot(cfg_file: Path) -> int | None:
    """The lake's last snapshot id (None for the file backend)."""
    from biodiv.config import load_config

    store = load_config(cfg_file).store()
    if store.lake is None:
        return None
    with store.read() as con:
        return con.execute("SELECT max(snapshot_id) FROM biodiv.snapshots()").fetchone()[0]


def disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench(n: int, shared: Path, work: Path, repeat: int) -> dict:
    from biodiv.config import Config, StoreConfig
    from biodiv.demo import build_demo, real_commune_areas
    from biodiv.store.lake_copy import file_to_lake

    admin = shared / "admin"
    codes = {r["insee_code"] for r in csv.DictReader(open(admin / "ccvh_communes.csv", encoding="utf-8"))}
    areas = real_commune_areas(admin / "communes-34-herault.geojson", codes)
    d = work / f"n{n}"
    d.mkdir()
    file_cfg = Config(db_path=str(d / "biodiv.duckdb"))
    t = time.perf_counter()
    build_demo(file_cfg.file_db, n_observations=n, seed=2026, end=END, areas=areas,
               territory_name="CCVH (banc d'essai)", link="direct")
    built = time.perf_counter() - t
    file_toml = file_cfg.save(d / "file.toml")
    lake_cfg = Config(db_path=str(d / "biodiv.duckdb"),
                      store_=StoreConfig(backend="ducklake", catalog="sqlite:catalog.sqlite", data_path="lake"))
    lake_cfg.source_file = d / "lake.toml"
    t = time.perf_counter()
    file_to_lake(file_cfg.file_db, lake_cfg.store())
    migrated = time.perf_counter() - t
    lake_toml = lake_cfg.save(d / "lake.toml")
    res = {"n": n, "build_s": built, "migrate_s": migrated, "backends": {}}
    for name, toml, size_of in (("file", file_toml, lambda: disk_bytes(d / "biodiv.duckdb")),
                                ("ducklake", lake_toml, lambda: disk_bytes(d / "lake") + disk_bytes(d / "catalog.sqlite"))):
        r = {"size_before": size_of()}
        os.environ.pop("BENCH_SNAP_FROM", None)
        for step in ("page", "nochange", "attach", "read"):
            before = size_of()
            if step == "page":
                os.environ["BENCH_SINCE"] = datetime.now(timezone.utc).isoformat()
                snap_from = last_snapshot(toml)
            r[step] = run_child(step, toml, shared, repeat)
            r[step]["disk_growth"] = size_of() - before
            if step == "page" and snap_from is not None:
                os.environ["BENCH_SNAP_FROM"], os.environ["BENCH_SNAP_TO"] = str(snap_from), str(last_snapshot(toml))
        r["size_after"] = size_of()
        res["backends"][name] = r
    return res


def report(res: dict) -> None:
    f, k = res["backends"]["file"], res["backends"]["ducklake"]
    mb = lambda b: f"{b / 1e6:10.2f}"  # noqa: E731
    print(f"\nN = {res['n']:,} observations (demo build {res['build_s']:.1f} s; "
          f"file -> DuckLake copy {res['migrate_s']:.1f} s); load average {os.getloadavg()[0]:.1f}")
    print(f"  page: {f['page']['counts']}, {f['page']['json_kb']:.0f} KB of JSON; "
          f"no change: {f['nochange']['counts']}")
    print(f"{'':34} {'file':>10} {'ducklake':>10} {'ratio':>7}")

    def row(label, a, b, fmt=mb):
        ratio = f"{b / a:7.2f}" if a else "    n/a"
        print(f"{label:34} {fmt(a)} {fmt(b)} {ratio}")

    row("one-page update: MB written", f["page"]["wchar"], k["page"]["wchar"])
    row("  (to the block layer, MB)", f["page"]["write_bytes"], k["page"]["write_bytes"])
    row("  on disk: growth, MB", f["page"]["disk_growth"], k["page"]["disk_growth"])
    row("  seconds", f["page"]["seconds"], k["page"]["seconds"], lambda x: f"{x:10.2f}")
    row("no-change update: MB written", f["nochange"]["wchar"], k["nochange"]["wchar"])
    row("  on disk: growth, MB", f["nochange"]["disk_growth"], k["nochange"]["disk_growth"])
    row("  seconds", f["nochange"]["seconds"], k["nochange"]["seconds"], lambda x: f"{x:10.2f}")
    row("attach --all: seconds (attach)", f["attach"]["attach_s"], k["attach"]["attach_s"], lambda x: f"{x:10.2f}")
    row("  seconds (whole write)", f["attach"]["seconds"], k["attach"]["seconds"], lambda x: f"{x:10.2f}")
    row("  MB written", f["attach"]["wchar"], k["attach"]["wchar"])
    row("dashboard grid_counts ms", f["read"]["grid_counts_ms"], k["read"]["grid_counts_ms"], lambda x: f"{x:10.1f}")
    row("dashboard map_points ms", f["read"]["map_points_ms"], k["read"]["map_points_ms"], lambda x: f"{x:10.1f}")
    for q, ms in f["read"]["queries_ms"].items():
        row(f"query {q} ms", ms, k["read"]["queries_ms"][q], lambda x: f"{x:10.1f}")
    row("new since last update (harvested_at) ms", f["read"]["changed_ms"], k["read"]["changed_ms"],
        lambda x: f"{x:10.1f}")
    print(f"  rows: {f['read']['changed_rows']} (file), {k['read']['changed_rows']} (ducklake)")
    print(f"{'  change feed, that update (ducklake)':34} {'':>10} {k['read']['feed_ms']:10.1f} ms, "
          f"{k['read']['feed_rows']} rows")
    print(f"{'  change feed, every snapshot since':34} {'':>10} {k['read']['feed_all_ms']:10.1f} ms, "
          f"{k['read']['feed_all_rows']} rows (attach --all re-flagged them)")
    row("on disk before, MB", f["size_before"], k["size_before"])
    row("on disk after, MB", f["size_after"], k["size_after"])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    shared = Path(os.environ.get("BIODIV_SHARED_DATA", ROOT.parent / "shared" / "data"))
    if not (shared / "admin" / "communes-34-herault.geojson").exists():
        sys.exit("set BIODIV_SHARED_DATA to the shared data folder (real Hérault communes, API v1 records)")
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        for n in args.sizes:
            report(bench(n, shared, Path(tmp), args.repeat))


if __name__ == "__main__":
    main()
