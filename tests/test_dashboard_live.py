"""`biodiv dashboard --live`: the background update rounds, their status file, and the
screens saying when data was last refreshed and that the last attempt failed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from biodiv.dashboard import live
from biodiv.errors import BiodivError

from helpers_dashboard import build_fixture_db

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_interval_parsing_and_the_one_minute_floor():
    assert live.parse_interval("5m") == 300 and live.parse_interval("90s") == 90
    assert live.parse_interval("1h") == 3600 and live.parse_interval("120") == 120
    with pytest.raises(BiodivError, match="at least 1 minute"):
        live.parse_interval("30s")
    with pytest.raises(BiodivError, match="5m, 90s or 1h"):
        live.parse_interval("often")


def test_rounds_record_success_then_failure_keeping_the_last_success(tmp_path):
    db = tmp_path / "biodiv.duckdb"
    ok = live.LiveUpdater(db, [sys.executable, "-c", "print('updated')"], 60).run_once()
    assert ok["status"] == "ok" and ok["ok_at"] == ok["attempt_at"] and ok["message"] is None
    bad = live.LiveUpdater(db, [sys.executable, "-c", "import sys; sys.exit('error: iNaturalist unreachable')"],
                           60).run_once()
    assert bad["status"] == "failed" and bad["message"] == "error: iNaturalist unreachable"
    assert bad["ok_at"] == ok["ok_at"]                      # the last success is kept
    assert live.read_status(db) == bad
    partial = live.LiveUpdater(db, [sys.executable, "-c", "import sys; sys.exit(3)"], 60).run_once()
    assert partial["status"] == "ok"                       # exit 3: harvested, a layer missing


def test_the_thread_runs_at_once_then_waits(tmp_path):
    db = tmp_path / "biodiv.duckdb"
    u = live.LiveUpdater(db, [sys.executable, "-c", "pass"], 3600).start()
    for _ in range(100):
        if u.rounds:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    u.stop()
    assert u.rounds == 1 and live.read_status(db)["status"] == "ok"


def test_workshop_screen_shows_a_failed_refresh(monkeypatch, tmp_path):
    db = build_fixture_db(tmp_path / "fx.duckdb")
    live.LiveUpdater(db, [sys.executable, "-c", "import sys; sys.exit('error: no network')"], 60).run_once()
    monkeypatch.setenv("BIODIV_DB", str(db))
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    from biodiv.dashboard import pacing

    monkeypatch.setattr(pacing, "DELAY_S", 0.0)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("biodiv/dashboard/pages/atelier.py").run()
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown)
    assert "La dernière actualisation a échoué le" in text and "error: no network" in text
    assert "atl-fail" in text
    live.LiveUpdater(db, [sys.executable, "-c", "pass"], 60).run_once()
    at.run()
    text = "\n".join(m.value for m in at.markdown)
    assert "a échoué" not in text and "Données iNaturalist actualisées le" in text


def test_cli_refuses_too_short_an_interval_in_one_line(tmp_path):
    import os
    import subprocess

    env = dict(os.environ, BIODIV_DB=str(tmp_path / "biodiv.duckdb"))
    env.pop("BIODIV_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "biodiv", "dashboard", "--live", "--every", "10s"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "at least 1 minute" in lines[0]
