"""One run history, owned by the store (biodiv/store/runs.py): the ``runs`` table, plus the
no-change runs and the last live round kept beside the file until the next writer folds them in."""

from __future__ import annotations

import json

from biodiv.store import runs
from biodiv.store.status import collect_status
from helpers_analysis import build_fixture


def test_a_failed_live_round_is_folded_into_runs_once(tmp_path):
    store = build_fixture(tmp_path / "biodiv.duckdb")
    runs.write_live_status(store.path, {"attempt_at": "2026-12-01T08:00:00+00:00", "ok_at": None,
                                        "status": "failed", "message": "iNaturalist cannot be reached"})
    runs.live_status_path(store.path).with_name("x").write_text("")   # unrelated files are ignored
    for _ in range(2):   # a second writer does not record it again
        with store.write() as con:
            runs.merge_pending(con, store.path)
    with store.read() as con:
        rows = con.execute("SELECT kind, status, message, params FROM runs WHERE status = 'failed'").fetchall()
        assert [(k, s, m) for k, s, m, _ in rows] == [("update", "failed", "iNaturalist cannot be reached")]
        assert json.loads(rows[0][3]) == {"live_attempt_at": "2026-12-01T08:00:00+00:00", "kinds": []}
        status = collect_status(con, store.path)
    assert any(r.get("status") == "failed" for r in status["runs"]), status["runs"]


def test_a_successful_live_round_adds_no_run(tmp_path):
    store = build_fixture(tmp_path / "biodiv.duckdb")
    runs.write_live_status(store.path, {"attempt_at": "2026-12-01T08:00:00+00:00",
                                        "ok_at": "2026-12-01T08:00:00+00:00", "status": "ok", "message": None})
    with store.write() as con:
        before = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        assert runs.merge_pending(con, store.path) == 0
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == before


def test_status_shows_a_failed_live_round_before_any_writer(tmp_path):
    store = build_fixture(tmp_path / "biodiv.duckdb")
    runs.write_live_status(store.path, {"attempt_at": "2026-12-01T08:00:00+00:00", "ok_at": None,
                                        "status": "failed", "message": "offline"})
    with store.read() as con:
        status = collect_status(con, store.path)
    assert [(r["kind"], r["status"], r["message"]) for r in status["runs"] if r["status"] == "failed"] == \
        [("update", "failed", "offline")]
