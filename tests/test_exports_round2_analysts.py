"""Analysts, second round (issue 27): a closed pipe neither undoes nor hides a reference
import, and the stored macro ``in_area`` reads the caller's row whatever its column names,
checked from Python and from the DuckDB command-line client as docs/analysis.md shows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from helpers_analysis import build_fixture

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path):
    return build_fixture(tmp_path / "biodiv.duckdb", with_statuses=False)


def _env(store, tmp_path) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "BIODIV_DB": str(store.path),
            "BIODIV_CONFIG": str(tmp_path / "absent.toml"), "COLUMNS": "200"}


def _statuses(store) -> int:
    with store.read() as con:
        return con.execute("SELECT count(*) FROM ref_statuses").fetchone()[0]


def test_refs_import_into_head_keeps_and_shows_the_import(store, shared_data, tmp_path):
    src = shared_data / "conservation" / "liste-especes-protegees-france.csv"
    run = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m biodiv refs import "{src}" | head -3; echo "rc=${{PIPESTATUS[0]}}"'],
        env=_env(store, tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert "now carry an official status" in run.stdout                 # the success line, within 3 lines
    assert "rc=0" in run.stdout, run.stderr
    assert _statuses(store) > 0


def test_refs_import_into_a_closed_pipe(store, shared_data, tmp_path):
    src = shared_data / "conservation" / "liste-especes-protegees-france.csv"
    proc = subprocess.Popen([sys.executable, "-m", "biodiv", "refs", "import", str(src)],
                            env=_env(store, tmp_path), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()                                   # the reader is gone before anything is printed
    err = proc.stderr.read()
    assert proc.wait(timeout=600) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert _statuses(store) > 0                           # committed all the same


QUERIES = {
    # (query, expected): observations 1, 2 and 6 are in Alpha (34001); 8 is removed
    "bare id": ("SELECT count(*) FROM v_observations WHERE in_area(id, '34001', false)", 3),
    "qualified id": ("SELECT count(*) FROM v_observations o WHERE in_area(o.id, '34001', false)", 3),
    # the links of observation 1 and 3 to the Gorges site; only 1's is certain
    "bare observation_id": ("SELECT count(DISTINCT observation_id) FROM observation_areas "
                            "WHERE in_area(observation_id, 'FR9101388', true)", 1),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_in_area_binds_to_the_callers_row_in_python(store, name):
    sql, expected = QUERIES[name]
    with store.read() as con:
        assert con.execute(sql).fetchone()[0] == expected


def _duckdb_cli() -> str | None:
    return os.environ.get("BIODIV_DUCKDB_CLI") or shutil.which("duckdb") or (
        str(Path(sys.executable).with_name("duckdb")) if Path(sys.executable).with_name("duckdb").exists() else None)


@pytest.mark.parametrize("name", list(QUERIES))
def test_in_area_binds_to_the_callers_row_in_the_duckdb_cli(store, name):
    cli = _duckdb_cli()
    if cli is None:
        pytest.skip("no DuckDB command-line client (pip install duckdb-cli, the test extra)")
    version = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout
    if not version.startswith(f"v{duckdb.__version__}"):
        pytest.skip(f"DuckDB CLI {version.strip()} is not duckdb {duckdb.__version__}")
    sql, expected = QUERIES[name]
    run = subprocess.run([cli, "-readonly", "-noheader", "-list", str(store.path), "-c", sql],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(expected)
