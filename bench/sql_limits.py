"""Benchmark: what the limits of `biodiv sql` save (peak memory, time) on a large result.

    python bench/sql_limits.py [--rows 3000000] [--timeout 2] [--memory 1GB]

Runs the real command line in its own process, on a migrated store in a temporary folder,
for a query returning ``--rows`` rows of four columns (written as CSV to a temporary file),
and prints each process's peak memory (``VmHWM``) and wall time:

* baseline: ``--max-rows <rows>`` (the whole result fetched, as before the row limit);
* the default limit (``sql.max_rows`` = 10,000 rows, applied inside DuckDB);
* a runaway cross join under ``[sql] timeout_seconds = --timeout``: the time it takes to stop;
* the three ``repeat`` queries of issue 22 under ``[sql] memory_limit = --memory`` (the
  peak counts the command and the child its read runs in: ``RUSAGE_CHILDREN``);
* ``--format table`` of 100,000 wide rows under the time limit (formatting included).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from biodiv.store.database import Store  # noqa: E402

RUNNER = """
import sys
from biodiv.cli import main
sys.argv = ["biodiv", *sys.argv[1:]]
import resource
try:
    main()
finally:
    own = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss   # the bounded read's child
    print(f"VmHWM_KB={max(own, child)}", file=sys.stderr)
"""


def run(args: list[str], env: dict, cwd: Path) -> tuple[float, float, int, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=900)
    wall = time.perf_counter() - start
    peak = next(int(line.split("=")[1]) for line in proc.stderr.splitlines() if line.startswith("VmHWM_KB="))
    message = " ".join(line for line in proc.stderr.splitlines() if not line.startswith("VmHWM_KB="))
    return wall, peak / 1024, proc.returncode, message.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--memory", default="1GB")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = Store(work / "biodiv.duckdb")
        with store.write(create=True):
            pass
        config = work / "biodiv.toml"
        config.write_text(f'db_path = "biodiv.duckdb"\n[sql]\ntimeout_seconds = {args.timeout}\n'
                          f'memory_limit = "{args.memory}"\n', encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIODIV_")}
        query = ("SELECT range AS id, 'Genus species ' || range AS name, 3.4 + range * 1e-7 AS lon, "
                 f"43.5 + range * 1e-7 AS lat FROM range({args.rows})")
        out = work / "out.csv"
        base = ["--config", str(config), "sql", query, "--format", "csv", "--out", str(out)]
        results = {}
        for label, extra in (("whole result (baseline)", ["--max-rows", str(args.rows)]),
                             ("default limit, 10,000 rows", [])):
            wall, peak, code, message = run(base + extra, env, work)
            size = out.stat().st_size if out.exists() else 0
            results[label] = peak
            print(f"{label:28} exit {code}  peak {peak:7.0f} MB  wall {wall:6.2f} s  csv {size / 1e6:7.1f} MB  {message}")
        ratio = results["default limit, 10,000 rows"] / results["whole result (baseline)"]
        print(f"peak memory with the limit: {ratio:.2f} x the baseline")
        cross = "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b"
        wall, peak, code, message = run(["--config", str(config), "sql", cross], env, work)
        print(f"{'cross join, timeout ' + format(args.timeout, 'g') + ' s':28} exit {code}  peak {peak:7.0f} MB  "
              f"wall {wall:6.2f} s  ({message})")
        idle_wall, idle, _, _ = run(["--config", str(config), "sql", "SELECT 42"], env, work)
        print(f"{'SELECT 42 (idle command)':28} peak {idle:7.0f} MB  wall {idle_wall:6.2f} s")
        for n, unit in ((1_000_000_000, "x"), (1_500_000_000, "x"), (2_000_000_000, "xy")):
            q = f"SELECT length(repeat('{unit}', {n})) AS n"
            wall, peak, code, message = run(["--config", str(config), "sql", q, "-f", "csv"], env, work)
            print(f"{f'repeat({unit!r}, {n:.1e})':28} exit {code}  peak {peak:7.0f} MB  wall {wall:6.2f} s  ({message[:90]})")
        wide = ", ".join(f"'colonne {i} ' || range AS c{i}" for i in range(8))
        wall, peak, code, message = run(["--config", str(config), "sql", f"SELECT {wide} FROM range(100000)",
                                         "--max-rows", "100000"], env, work)
        print(f"{'table of 100,000 wide rows':28} exit {code}  peak {peak:7.0f} MB  wall {wall:6.2f} s  ({message[:90]})")
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")


if __name__ == "__main__":
    main()
