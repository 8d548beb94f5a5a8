"""One way to pick the database: the global ``--db PATH`` and ``--demo`` reach every command
that reads or writes the store (the real ``biodiv`` entry point, in subprocesses, from a
folder with nothing but what each test writes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from biodiv.store.database import Store


def run(args, cwd: Path, env_db: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BIODIV_DB", "BIODIV_CONFIG")}
    if env_db is not None:
        env["BIODIV_DB"] = str(env_db)
    env["COLUMNS"] = "60"   # a narrow terminal: messages must still keep commands whole
    proc = subprocess.run([sys.executable, "-m", "biodiv", *args], capture_output=True, text=True,
                          env=env, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr + proc.stdout)
    return proc


def small_db(path: Path, name: str) -> Path:
    with Store(path).write(create=True) as con:
        con.execute("INSERT INTO territory (name, insee_codes) VALUES (?, ['99001'])", [name])
        con.execute("""INSERT INTO observations (id, lon, lat, geom, positional_accuracy) VALUES
            (1, 3.05, 43.05, ST_Point(3.05, 43.05), 10)""")
    return path


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    """A folder where ``biodiv demo`` was run (a small demo: 200 observations)."""
    here = tmp_path_factory.mktemp("demo_here")
    out = run(["demo", "-n", "200"], here).stdout
    assert (here / "data" / "demo.duckdb").is_file()
    # the suggestion is on one line, whole, even at 60 columns
    assert "`biodiv dashboard --demo`" in out
    return here


def test_demo_reaches_status_sql_query_and_export(demo_folder, tmp_path):
    here = demo_folder
    status = json.loads(run(["--demo", "status", "--json"], here).stdout)
    assert status["database"] == str(here / "data" / "demo.duckdb") and status["demo"] is True
    obs = status["observations"]

    out = run(["--demo", "sql", "SELECT count(*) AS n FROM observations", "--format", "csv"], here).stdout
    assert out.split() == ["n", str(obs["total"] + obs["removed"])] == ["n", "200"]

    out = run(["--demo", "query", "run", "commune_richness", "--format", "csv"], here).stdout
    assert len(out.splitlines()) == 1 + status["territory"]["communes"]   # header + one per commune

    target = tmp_path / "demo.csv"
    run(["--demo", "export", "--format", "csv", "--out", str(target)], here)
    assert len(target.read_text(encoding="utf-8").splitlines()) > 100


def test_db_wins_over_the_environment_and_the_config(tmp_path):
    small_db(tmp_path / "chosen.duckdb", "Chosen")
    other = small_db(tmp_path / "other.duckdb", "Other")
    (tmp_path / "biodiv.toml").write_text(f'db_path = "{other}"\n')
    out = run(["--db", "chosen.duckdb", "status", "--json"], tmp_path, env_db=other).stdout
    assert "Chosen" in out and "Other" not in out
    # without --db: $BIODIV_DB, as before
    assert "Other" in run(["status", "--json"], tmp_path, env_db=other).stdout


def test_db_reaches_a_writer(tmp_path):
    db = small_db(tmp_path / "w.duckdb", "W")
    run(["--db", str(db), "migrate"], tmp_path)
    out = run(["--db", str(db), "attach"], tmp_path).stdout
    assert "attached 1 observations" in out


def test_demo_without_a_demo_file_says_what_to_run(tmp_path):
    proc = run(["--demo", "status"], tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    line, = proc.stderr.strip().splitlines()
    assert "no demo database at" in line and "`biodiv demo`" in line


def test_db_and_demo_together_are_refused(tmp_path):
    proc = run(["--db", "x.duckdb", "--demo", "status"], tmp_path, check=False)
    assert proc.returncode == 1 and "not both" in proc.stderr and "Traceback" not in proc.stderr


def test_db_names_where_the_demo_is_built_and_keeps_the_real_one_safe(tmp_path):
    real = small_db(tmp_path / "real.duckdb", "Real")
    (tmp_path / "biodiv.toml").write_text(f'db_path = "{real}"\n')
    out = run(["--db", "elsewhere.duckdb", "demo", "-n", "50"], tmp_path).stdout
    assert (tmp_path / "elsewhere.duckdb").is_file()
    assert f"`biodiv --db {tmp_path / 'elsewhere.duckdb'} dashboard`" in out
    proc = run(["--db", str(real), "demo", "-n", "50"], tmp_path, check=False)
    assert proc.returncode == 1 and "is the real database" in proc.stderr
    assert "Real" in run(["--db", str(real), "status", "--json"], tmp_path).stdout


def test_in_process_runs_leave_the_environment_as_they_found_it(tmp_path, monkeypatch):
    """``--db`` is carried by the configuration (``Config.use_db``), never written into the
    environment of the process."""
    from typer.testing import CliRunner

    from biodiv.cli.root import _register, app

    monkeypatch.delenv("BIODIV_DB", raising=False)
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    db = small_db(tmp_path / "inproc.duckdb", "InProc")
    _register()
    result = CliRunner().invoke(app, ["--db", str(db), "status", "--json"])
    assert result.exit_code == 0, result.output
    assert "InProc" in result.output
    assert "BIODIV_DB" not in os.environ


def test_db_reaches_the_dashboards_server(tmp_path):
    """``biodiv --db PATH dashboard``: the server process reads PATH (it is told through
    $BIODIV_DB, which the CLI's --db sets for the command)."""
    import time
    import urllib.request

    from helpers_browser import free_port

    db = small_db(tmp_path / "served.duckdb", "Served")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("BIODIV_DB", "BIODIV_CONFIG")}
    proc = subprocess.Popen([sys.executable, "-m", "biodiv", "--db", "served.duckdb", "dashboard",
                             "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = proc.stdout.readline()
        assert f"database {db}" in first, first
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.3)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert "Traceback" not in out, out
