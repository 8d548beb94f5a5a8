"""Benchmark: documents of `biodiv report` on a real-shaped CCVH store (real commune
polygons of the 28 CCVH communes, generated observations of real shape: biodiv/demo.py).

Each document is made by the real command (`python -m biodiv --db … report …`) in its own
process, whose wall time and peak memory (``VmHWM``, read by a wrapper at exit) are printed
with the output's size, next to the issue's goals and next to the baseline of the same run:
the same command on a 4,000-observation store (what the document costs beyond the
command's start-up and a small store).

    BIODIV_SHARED_DATA=../shared/data .venv/bin/python bench/report.py --sizes 100000

Goals (issue 25): a commune sheet PDF ≤ 2 s and ≤ 1 MB; a PNG card or map ≤ 1 s and
≤ 300 KB; the CCVH atlas ≤ 60 s, ≤ 15 MB, peak ≤ 500 MB. Issue 29: the public atlas rebuilt
in full ≤ 2 min (its size is the folder's); the stakes map is printed for reference.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import shared_data  # noqa: E402
from dashboard import build  # noqa: E402  (the dashboard bench's store: same data, same seed)

BASELINE = 4000
GIGNAC = "34114"
# (name, arguments, output, goal seconds, goal bytes, goal peak MB)
CASES = [
    ("commune sheet PDF (Gignac)", ["report", "commune", GIGNAC, "--out", "{d}/gignac.pdf"], "gignac.pdf", 2.0, 1_000_000, None),
    ("map PNG 1080x1080", ["report", "map", "--size", "1080x1080", "--out", "{d}/map.png"], "map.png", 1.0, 300_000, None),
    ("card PNG 1080x1080", ["report", "card", "--size", "1080x1080", "--out", "{d}/card.png"], "card.png", 1.0, 300_000, None),
    ("atlas PDF", ["report", "atlas", "--out", "{d}/atlas.pdf"], "atlas.pdf", 60.0, 15_000_000, 500),
    # issue 29: the public atlas, a full build (the folder removed first) then a rebuild with
    # nothing changed (only the pages whose bytes changed are written: none)
    ("public atlas: full build", ["publish", "site", "--out", "{d}/site"], "site", 120.0, 1_000_000_000, None),
    ("public atlas: rebuild", ["publish", "site", "--out", "{d}/site"], "site", 120.0, 1_000_000_000, None),
    ("stakes map GeoPackage", ["publish", "stakes", "--out", "{d}/enjeux.gpkg"], "enjeux.gpkg", 60.0, 50_000_000, None),
]
WRAP = ("import runpy, sys\n"
        "sys.argv = ['biodiv'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('biodiv', run_name='__main__')\n"
        "finally:\n"
        "    peak = next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]\n"
        "    print(f'VmHWM_KB={peak}', file=sys.stderr)\n")


def run(db: Path, args: list[str], out_dir: Path) -> tuple[float, float]:
    argv = [a.replace("{d}", str(out_dir)) for a in args]
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAP, "--db", str(db), *argv], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    peak = next(int(line.split("=")[1]) for line in proc.stderr.splitlines() if line.startswith("VmHWM_KB="))
    return wall, peak / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "biodiv-bench")
    args = ap.parse_args()
    shared = shared_data()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    results: dict[int, dict[str, tuple[float, float, int]]] = {}
    for n in [BASELINE, *args.sizes]:
        db = build(args.dir, n, shared)
        out = args.dir / f"report-{n}"
        out.mkdir(exist_ok=True)
        results[n] = {}
        shutil.rmtree(out / "site", ignore_errors=True)
        for name, argv, file, *_ in CASES:
            wall, peak = run(db, argv, out)
            target = out / file
            size = (sum(f.stat().st_size for f in target.rglob("*") if f.is_file()) if target.is_dir()
                    else target.stat().st_size)
            results[n][name] = (wall, peak, size)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print(f"\n{'document':<28} {'N':>9} {'time s':>7} {'×base':>6} {'size KB':>8} {'peak MB':>8}  goal")
    for name, _argv, _file, goal_s, goal_b, goal_mb in CASES:
        base = results[BASELINE][name][0]
        for n, by in results.items():
            wall, peak, size = by[name]
            goal = f"≤ {goal_s:g} s, ≤ {goal_b / 1e6:g} MB" + (f", peak ≤ {goal_mb} MB" if goal_mb else "")
            met = wall <= goal_s and size <= goal_b and (goal_mb is None or peak <= goal_mb)
            print(f"{name:<28} {n:>9,} {wall:>7.2f} {wall / base:>6.2f} {size / 1000:>8.0f} {peak:>8.0f}  "
                  f"{goal} {'met' if met else 'NOT met'}" if n != BASELINE else
                  f"{name:<28} {n:>9,} {wall:>7.2f} {1:>6.2f} {size / 1000:>8.0f} {peak:>8.0f}  (baseline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
