"""The SQL console's limits hold for the whole command (issue 22, item 3).

The real ``biodiv sql`` in its own process, measured from outside: the peak resident memory
of the command and the child it runs the read in (``RUSAGE_CHILDREN`` of a wrapper process,
which counts every descendant waited for) and its wall time. With ``memory_limit`` the three
``repeat`` queries of the issue stay under the command's idle peak + the limit + the
child's margin; a runaway ``repeat`` and a huge ``--format table`` stop at the time limit
(formatting included); a result above ``max_result_size`` is refused in one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from biodiv.analysis.sandbox import MARGIN
from biodiv.config import size_bytes
from helpers_analysis import build_fixture

WRAPPER = """
import resource, subprocess, sys, time
start = time.monotonic()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
sys.stdout.write(f"{proc.returncode}\\t{peak}\\t{time.monotonic() - start}\\n{proc.stderr}")
"""
SLACK = 64 * 2**20


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_fixture(tmp_path_factory.mktemp("sqlmem") / "biodiv.duckdb").path


def _setup(template: Path, tmp_path: Path, **sql) -> Path:
    shutil.copyfile(template, tmp_path / "biodiv.duckdb")
    cfg = tmp_path / "biodiv.toml"
    lines = ['db_path = "biodiv.duckdb"', "[sql]"] + [f"{k} = {v!r}".replace("'", '"') for k, v in sql.items()]
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


def _run(cfg: Path, *args: str) -> tuple[int, int, float, str]:
    """(exit code, peak RSS in bytes of the command and its children, wall seconds, stderr)."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, sys.executable, "-m", "biodiv", "-c", str(cfg), *args],
                         capture_output=True, text=True, timeout=600, cwd=cfg.parent)
    head, _, err = out.stdout.partition("\n")
    code, peak, wall = head.split("\t")
    return int(code), int(peak), float(wall), err


REPEATS = ["SELECT length(repeat('x', 1000000000)) AS n",
           "SELECT length(repeat('x', 1500000000)) AS n",
           "SELECT length(repeat('xy', 2000000000)) AS n"]


def test_repeat_queries_stay_under_the_memory_limit(template, tmp_path):
    limit = "256MB"
    cfg = _setup(template, tmp_path, memory_limit=limit, timeout_seconds=60)
    code, idle, _, err = _run(cfg, "sql", "SELECT 42 AS n", "-f", "csv")
    assert code == 0, err
    bound = idle + size_bytes(limit) + MARGIN + SLACK
    for query in REPEATS:
        code, peak, _, err = _run(cfg, "sql", query, "-f", "csv")
        assert peak <= bound, (query, peak / 2**20, bound / 2**20, err)
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and "sql.memory_limit" in lines[0], err


def test_a_runaway_repeat_stops_at_the_time_limit(template, tmp_path):
    cfg = _setup(template, tmp_path, memory_limit="8GB", timeout_seconds=1)
    _, _, startup, _ = _run(cfg, "sql", "SELECT 42 AS n", "-f", "csv")
    code, _, wall, err = _run(cfg, "sql", "SELECT length(repeat('xy', 2000000000)) AS n", "-f", "csv")
    assert code == 1 and "stopped after 1 s" in err, err
    assert wall < startup + 1 + 0.5 + 5.0, (wall, startup)   # slack for a loaded machine


def test_formatting_a_huge_table_is_inside_the_time_limit(template, tmp_path):
    cfg = _setup(template, tmp_path, timeout_seconds=2)
    _, _, startup, _ = _run(cfg, "sql", "SELECT 42 AS n", "-f", "csv")
    wide = ", ".join(f"'colonne {i} ' || range AS c{i}" for i in range(8))
    start = time.monotonic()
    code, _, wall, err = _run(cfg, "sql", f"SELECT {wide} FROM range(100000)", "--max-rows", "100000")
    assert code == 1 and "stopped after 2 s" in err, err
    assert wall < startup + 2 + 0.5 + 8.0, (wall, startup, time.monotonic() - start)   # was 55 s


def test_a_result_above_max_result_size_is_refused(template, tmp_path):
    cfg = _setup(template, tmp_path, max_result_size="16MB")
    code, _, _, err = _run(cfg, "sql", "SELECT repeat('x', 1000) AS s FROM range(50000)", "-f", "csv",
                           "--max-rows", "50000")
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "sql.max_result_size" in lines[0], err
    code, _, _, err = _run(cfg, "sql", "SELECT repeat('x', 10) AS s FROM range(50000)", "-f", "csv",
                           "--max-rows", "50000")
    assert code == 0, err
