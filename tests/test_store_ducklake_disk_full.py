"""A full disk on DuckLake: the lake (SQLite catalog and Parquet data folder) on a small tmpfs,
a harvest by the real command (its own process) that fills it. One line (exit 1) saying where and what was
kept; every page committed before is kept, nothing is half-written; once space is freed the
next run completes without a duplicate. As tests/test_hardening_failures.py does for the file
backend (a small tmpfs needs root: skipped otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from conftest import shared_data_dir
from helpers_hardening import build_harvested, small_tmpfs, write_config
from helpers_harvest import ObservationSet, StandInInat, Taxonomy, listed_ids

pytest.importorskip("duckdb_extension_ducklake")

from biodiv.config import StoreConfig, load_config  # noqa: E402
from biodiv.store.lake_copy import file_to_lake  # noqa: E402

pytestmark = pytest.mark.shared


def _disk_bytes(path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _counts(store) -> tuple[int, int, int]:
    with store.read() as con:
        return con.execute("SELECT count(*), count(DISTINCT id), (SELECT count(*) FROM observation_raw)"
                           " FROM observations").fetchone()


def _harvest(cfg_file, api_url) -> tuple[int, str, str]:
    """``biodiv harvest --full`` in its own process (as cron runs it)."""
    env = dict(os.environ, BIODIV_INAT_API_URL=api_url)
    proc = subprocess.run([sys.executable, "-m", "biodiv", "-c", str(cfg_file), "harvest", "--full", "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def test_disk_full_during_a_harvest_on_ducklake_is_one_line_and_keeps_committed_pages(tmp_path):
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    template = build_harvested(tmp_path / "template", shared)      # 300 observations, CCVH communes
    disk = tmp_path / "disk"
    # room for the copied lake plus a page or two, not for 600 more real-shaped records
    probe_dir = tmp_path / "probe"
    cfg_file = write_config(tmp_path, db=disk / "biodiv.duckdb")
    cfg = load_config(cfg_file)
    cfg.store_ = StoreConfig(backend="ducklake", catalog="sqlite:disk/catalog.sqlite", data_path="disk/lake")
    cfg_file = cfg.save(cfg_file)
    probe = cfg.model_copy()
    probe.store_ = StoreConfig(backend="ducklake", catalog=f"sqlite:{probe_dir}/catalog.sqlite",
                               data_path=f"{probe_dir}/lake")
    file_to_lake(template, probe.store())
    size = _disk_bytes(probe_dir)
    with small_tmpfs(disk, size + 150_000):
        store = load_config(cfg_file).store()
        file_to_lake(template, store)
        before = _counts(store)
        assert before[0] == 300
        tax = Taxonomy(30)
        obs = ObservationSet(900, tax)
        with StandInInat(obs, tax) as api:
            code, _, err = _harvest(cfg_file, api.url)
            lines = err.strip().splitlines()
            assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
            line = lines[0]
            assert "disk full" in line and str(disk) in line, line
            assert "committed" in line and "run the command again" in line, line
            # the lake still opens; what was committed is whole (every observation has its raw record)
            after_fail = _counts(store)
            assert after_fail[0] == after_fail[1] == after_fail[2] >= 300

            # space freed: the next run completes, no observation twice
            subprocess.run(["mount", "-o", f"remount,size={size * 6 + 20_000_000}", str(disk)], check=True)
            code, out, err = _harvest(cfg_file, api.url)
            assert code == 0, err
            n, distinct, raw = _counts(store)
            with store.read() as con:
                bbox = con.execute("SELECT xmin, ymin, xmax, ymax FROM territory").fetchone()
                stored = {r[0] for r in con.execute("SELECT id FROM observations").fetchall()}
                raw_ids = {r[0] for r in con.execute("SELECT id FROM observation_raw").fetchall()}
        # exactly the ids iNaturalist lists for the territory's box widened to the 0.2° obscuring
        # grid (biodiv.inat.query.query_box), each once
        listed = set(listed_ids(obs, bbox))
        assert 600 < len(listed) <= 900
        assert n == distinct == raw == len(listed) and stored == raw_ids == listed
    # the template was only read
    con = duckdb.connect(str(template), read_only=True)
    assert con.execute("SELECT count(*) FROM observations").fetchone()[0] == 300
    con.close()
