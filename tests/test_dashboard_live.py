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
    # French, from the catalogue (an error of no known kind): never the update's English line
    assert "actualisation échouée le" in text and "erreur inattendue" in text
    assert "no network" not in text and "error" not in text
    assert "atl-fail" in text and "atl-line" in text          # one line, however long
    live.LiveUpdater(db, [sys.executable, "-c", "pass"], 60).run_once()
    at.run()
    text = "\n".join(m.value for m in at.markdown)
    assert "échouée" not in text and "données du" in text


def test_a_real_update_that_cannot_reach_inaturalist_reads_in_french(monkeypatch, tmp_path):
    """The real `biodiv update` (iNaturalist and the geographic services on a closed local port)
    run by the live updater: its error kind reaches the screens, shown from the catalogue (the
    fixture has no territory outline, which the update cannot fetch here)."""
    import os

    from biodiv.dashboard.live import update_command

    db = build_fixture_db(tmp_path / "fx.duckdb")
    config = tmp_path / "biodiv.toml"
    config.write_text('[inaturalist]\napi_url = "http://127.0.0.1:9/v1"\ntimeout = 2\nmax_retries = 0\n'
                      '[sources]\ngeo_api_url = "http://127.0.0.1:9"\nwfs_url = "http://127.0.0.1:9/wfs"\n')
    status = live.LiveUpdater(db, update_command(config, db), 60, env=dict(os.environ), cwd=tmp_path).run_once()
    assert status["status"] == "failed" and status["kinds"][0] == "AreaImportError", status
    monkeypatch.setenv("BIODIV_DB", str(db))
    monkeypatch.setenv("BIODIV_CONFIG", str(config))
    from biodiv.dashboard import pacing

    monkeypatch.setattr(pacing, "DELAY_S", 0.0)
    at = AppTest.from_file(APP, default_timeout=60).run()
    overview = "\n".join(e.value for e in at.error)
    assert "contours des communes manquants" in overview and "boundaries" not in overview
    at.switch_page("biodiv/dashboard/pages/atelier.py").run()
    text = "\n".join(m.value for m in at.markdown)
    assert "actualisation échouée le" in text and "contours des communes" in text and "boundaries" not in text


def test_failure_catalogue_picks_the_most_specific_known_kind():
    from biodiv.dashboard.labels import failure_fr

    assert failure_fr(["InatUnreachable", "InatError", "BiodivError"]) == "iNaturalist injoignable (pas de réseau ?)"
    assert failure_fr(["SomethingNew", "StoreError", "BiodivError"]) == "base de données inaccessible"
    assert failure_fr([], "budget") == "quota de requêtes iNaturalist du jour atteint"
    assert failure_fr(None) == "erreur inattendue (détail dans le journal)"


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


def test_every_kind_of_the_catalogue_is_a_real_error_class():
    """A renamed error class would silently fall back to the generic text: the catalogue's
    keys are checked against the classes the library raises."""
    import importlib

    from biodiv.dashboard.labels import FAILURES_FR
    from biodiv.errors import BiodivError

    modules = ["biodiv.errors", "biodiv.config", "biodiv.inat.client", "biodiv.inat.db", "biodiv.store.engine",
               "biodiv.areas.sources", "biodiv.areas.layers", "biodiv.areas.territory"]
    classes = {name for m in modules for name, obj in vars(importlib.import_module(m)).items()
               if isinstance(obj, type) and issubclass(obj, BiodivError)}
    assert set(FAILURES_FR) - {"Timeout"} <= classes, set(FAILURES_FR) - {"Timeout"} - classes
