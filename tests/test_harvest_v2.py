"""API v2 with the field selection: what is sent, the v1 fallback, bad answers, the
footprint each run records, and the request budget across processes.
Real HTTP to the stand-in server (real-shaped records), a real DuckDB file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from biodiv.inat.client import InatError
from biodiv.inat.fields import OBSERVATION_FIELDS
from biodiv.inat.harvest import harvest
from biodiv.inat.parse import decompress_raw
from helpers_harvest import ObservationSet, StandInInat, Taxonomy, build_template, harvest_config

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def setup(tmp_path, template_db):
    tax = Taxonomy(30)
    obs = ObservationSet(500, tax)

    def _setup(api, **inat):
        cfg = harvest_config(tmp_path, api.url, **inat)
        shutil.copyfile(template_db, cfg.db)
        return cfg
    return tax, obs, _setup


def _stored(con):
    return [r[0] for r in con.execute("SELECT id FROM observations ORDER BY id").fetchall()]


def test_v2_request_carries_the_selection_and_the_store_keeps_only_it(setup):
    tax, obs, make = setup
    with StandInInat(obs, tax) as api:
        cfg = make(api)
        with cfg.store().write() as con:
            summary = harvest(cfg, con, progress=False, attach=False)
            raw = con.execute("SELECT raw FROM observation_raw ORDER BY id LIMIT 1").fetchone()[0]
            row = con.execute("SELECT user_name, time_zone, identified_by, photo_attribution, observed_at "
                              "FROM observations ORDER BY id LIMIT 1").fetchone()
    calls = api.requests_to("/v2/observations")
    assert len(calls) == 3 and not api.requests_to("/v1/observations")
    path, q, headers = calls[0]
    assert headers["X-HTTP-Method-Override"] == "GET" and headers["_fields"] == OBSERVATION_FIELDS
    assert q["per_page"] == "200" and q["order_by"] == "id" and q["id_above"] == "0"
    assert summary["api"] == "v2" and summary["new"] == 500
    first = obs.record(obs.ids()[0])
    assert set(decompress_raw(raw)) == set(OBSERVATION_FIELDS)
    assert row[1] == "Europe/Paris" and row[2] and row[3].startswith("(c) user") and row[4] is not None
    assert row[0] == first["user"]["name"]
    # footprint: requests, bytes over the wire (gzip) and decoded, bytes written
    assert summary["requests"] == api.count
    assert summary["bytes_downloaded"] == api.bytes_sent < summary["json_bytes"]
    assert summary["json_bytes"] / 500 < 4_000          # v1 records of this shape weigh ~59 KB
    assert summary["bytes_written"] >= 0


def test_v2_error_falls_back_to_v1_and_says_so(setup):
    tax, obs, make = setup
    with StandInInat(obs, tax) as api:
        api.v2_status = 422
        cfg = make(api)
        with cfg.store().write() as con:
            summary = harvest(cfg, con, progress=False, attach=False)
            assert _stored(con) == obs.ids()
            log = con.execute("SELECT json_extract_string(stats, '$.log[0]') FROM runs WHERE id = ?",
                              [summary["run_id"]]).fetchone()[0]
            raw = con.execute("SELECT raw FROM observation_raw ORDER BY id LIMIT 1").fetchone()[0]
    assert summary["api"] == "v1" and "API v2 refused" in log and "HTTP 422" in log
    # one refused v2 request, then v1 for the rest of the pass
    assert len(api.requests_to("/v2/observations")) == 1 and len(api.requests_to("/v1/observations")) == 3
    assert set(decompress_raw(raw)) <= set(OBSERVATION_FIELDS)     # v1 records are stored projected


# A bad record no longer stops its page: tests/test_harvest_round2_quarantine.py. An empty
# page while total_results says more remain still does (nothing to quarantine, nothing skipped).
@pytest.mark.parametrize("fault, message", [
    ("empty", "empty page while total_results"),
])
def test_bad_v2_page_is_not_stored_and_nothing_is_skipped(setup, fault, message):
    tax, obs, make = setup
    with StandInInat(obs, tax) as api:
        cfg = make(api)
        store = cfg.store()
        seen = []

        def arm(server):
            # the second page is broken
            if server.obs_pages == 1 and not seen:
                seen.append(1)
                if fault == "empty":
                    server.empty_v2_pages = 1
                else:
                    server.mutate_v2 = fault
        api.on_request = arm
        with pytest.raises(InatError, match=message):
            with store.write() as con:
                harvest(cfg, con, progress=False, attach=False)
        api.on_request = None
        with store.write() as con:      # the working copy: first page kept, not the broken one
            assert _stored(con) == obs.ids()[:200]
            status, msg = con.execute("SELECT status, message FROM runs ORDER BY id DESC LIMIT 1").fetchone()
            assert status == "failed" and message.split("'")[0] in msg
            summary = harvest(cfg, con, progress=False, attach=False)
            assert summary["resumed"] and _stored(con) == obs.ids()
        resumed = api.requests_to("/v2/observations")[-2]
        assert int(resumed[1]["id_above"]) == obs.ids()[199]


RATE_SCRIPT = """
import sys, time, json
from biodiv.config import load_config
from biodiv.inat.client import InatClient
cfg = load_config(sys.argv[1])
client = InatClient(cfg)
for _ in range(int(sys.argv[2])):
    client.observations({"per_page": 1, "only_id": "true"})
"""


def test_rate_limit_holds_across_restarts(tmp_path, setup):
    """Four processes in a row, each sending 4 requests: the burst window (5 requests per
    5 s at per_second = 1) holds across them, because request times are persisted."""
    tax, obs, _ = setup
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url, per_second=1, per_minute=60)
        cfg_file = cfg.save(tmp_path / "biodiv.toml")
        times = []
        api.on_request = lambda server: times.append(time.monotonic())
        for _ in range(4):
            proc = subprocess.run([sys.executable, "-c", RATE_SCRIPT, str(cfg_file), "4"], cwd=REPO,
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr
    assert len(times) == 16
    # any 5 s window holds at most 5 requests (+1 for the window edge)
    worst = max(sum(1 for t in times if start <= t < start + 5.0) for start in times)
    assert worst <= 6, worst
    assert times[-1] - times[0] >= 10     # without persistence: 16 requests in about a second


def test_no_change_update_opens_no_writer_and_is_recorded(tmp_path, setup, monkeypatch, capsys):
    """An update that finds nothing: one request on a read-only connection, the published
    file untouched (no working copy), the run kept beside it and shown by status; the next
    run that finds something merges it into ``runs``."""
    from datetime import datetime, timezone

    from biodiv.store.runs import pending_path
    from helpers_areas import run_cli
    from helpers_harvest import make_observation

    tax, obs, make = setup
    with StandInInat(obs, tax) as api:
        cfg = make(api)
        cfg_file = str(cfg.save(tmp_path / "biodiv.toml"))
        code, out, err = run_cli(["-c", cfg_file, "harvest", "--no-progress"], monkeypatch, capsys)
        assert code == 0, err
        store = cfg.store()
        published = store.path.read_bytes()
        mtime = store.path.stat().st_mtime_ns
        before = api.count
        code, out, err = run_cli(["-c", cfg_file, "harvest", "--no-progress"], monkeypatch, capsys)
        assert code == 0, err
        assert api.count - before == 1 and "nothing" in out and "changed" in out
        assert store.path.stat().st_mtime_ns == mtime and store.path.read_bytes() == published
        assert not store.wip_path.exists()
        lines = pending_path(store.path).read_text().splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["stats"]["requests"] == 1
        code, out, err = run_cli(["-c", cfg_file, "status", "--json"], monkeypatch, capsys)
        st = json.loads(out)
        assert st["runs"][0]["stats"]["no_change"] and st["runs"][0]["stats"]["bytes_written"] < 100_000
        assert st["footprint_30_days"]["runs"] == len(st["runs"]) == 3
        assert st["footprint_30_days"]["requests"] == sum((r["stats"] or {}).get("requests", 0) for r in st["runs"])
        code, out, err = run_cli(["-c", cfg_file, "status"], monkeypatch, capsys)
        assert "footprint, last 30 days" in out and "downloaded" in out

        # something new: the writer opens, the probe's page is not asked twice, the side run is merged
        obs.put(make_observation(obs.ids()[-1] + 7, tax.records[tax.species[0]], 3.5, 43.6,
                                 datetime.now(timezone.utc)))
        before = api.count
        code, out, err = run_cli(["-c", cfg_file, "harvest", "--no-progress"], monkeypatch, capsys)
        assert code == 0, err
        assert api.count - before == 1
    with store.read() as con:
        n_runs = con.execute("SELECT count(*) FROM runs WHERE kind = 'harvest'").fetchone()[0]
        new = con.execute("SELECT json_extract(stats, '$.new')::INT FROM runs WHERE kind = 'harvest' "
                          "ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert n_runs == 3 and new == 1


def test_taxa_come_from_v2_with_their_selection(setup):
    """Missing ancestors: ``GET /v2/taxa/{ids}`` with the RISON selection; the lineage
    resolves as with v1's whole records (~36 KB each), for a fraction of the bytes."""
    from biodiv.inat.fields import TAXA_FIELDS, rison
    from helpers_harvest import parse_rison

    assert parse_rison(rison(TAXA_FIELDS)) == TAXA_FIELDS
    tax, obs, make = setup
    with StandInInat(obs, tax) as api:
        cfg = make(api)
        with cfg.store().write() as con:
            summary = harvest(cfg, con, progress=False, attach=False)
            unresolved = con.execute("SELECT count(*) FROM taxa WHERE NOT ancestors_resolved").fetchone()[0]
            kingdoms = con.execute("SELECT count(*) FROM taxa WHERE rank = 'species' AND kingdom_name IS NULL"
                                   ).fetchone()[0]
    calls = api.requests_to("/v2/taxa/")
    assert calls and not api.requests_to("/v1/taxa/") and summary["taxa_api"] == "v2"
    assert all(parse_rison(c[1]["fields"]) == TAXA_FIELDS for c in calls)
    assert unresolved == 0 and kingdoms == 0


def test_bad_record_on_the_first_page_of_an_update_is_quarantined(setup, tmp_path, monkeypatch, capsys):
    """The first page of an update (asked by the no-change probe, before any writer) with a
    wrong-typed field: the record is quarantined, the run published with the rest, one
    "partial:" line naming the count, exit 3; the next run asks it again by id and stores it."""
    from datetime import datetime, timezone

    from helpers_areas import run_cli
    from helpers_harvest import make_observation

    tax, obs, make = setup
    with StandInInat(obs, tax) as api:
        cfg = make(api)
        cfg_file = str(cfg.save(tmp_path / "biodiv.toml"))
        code, _, err = run_cli(["-c", cfg_file, "harvest", "--no-progress"], monkeypatch, capsys)
        assert code == 0, err
        store = cfg.store()
        changed = obs.ids()[42]
        obs.put(make_observation(changed, tax.records[tax.species[1]], 3.5, 43.6, datetime.now(timezone.utc)))

        def mutate(results):
            results[0]["user"] = {"id": "seven", "login": "x", "name": None}
            return results
        api.mutate_v2 = mutate
        code, out, err = run_cli(["-c", cfg_file, "harvest", "--no-progress"], monkeypatch, capsys)
        assert code == 3 and "Traceback" not in err, err
        assert "partial:" in err and "1 observation record" in err
        with store.read() as con:      # published: the run is partial, the record kept aside
            status, message = con.execute("SELECT status, message FROM runs WHERE kind = 'harvest' "
                                          "ORDER BY id DESC LIMIT 1").fetchone()
            reason = con.execute("SELECT reason FROM quarantine WHERE id = ?", [changed]).fetchone()[0]
            login = con.execute("SELECT user_login FROM observations WHERE id = ?", [changed]).fetchone()[0]
        assert status == "partial" and "quarantine" in message
        assert f"observation {changed}: 'user.id' is a str" in reason
        assert login == f"user{1 + changed % 97}" != "user7"           # the former record
        code, out, err = run_cli(["-c", cfg_file, "harvest", "--no-progress"], monkeypatch, capsys)
        assert code == 0, err
    with store.read() as con:
        row = con.execute("SELECT taxon_id, user_login FROM observations WHERE id = ?", [changed]).fetchone()
        assert row == (tax.species[1], "user7")                          # the changed one
        assert _stored(con) == obs.ids()
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0


def test_description_is_harvested_and_exported_as_occurrence_remarks(setup, tmp_path):
    """The observer's notes (``description``, in the selection since migration 008) reach
    the ``description`` column and Darwin Core occurrenceRemarks; v1's "" means none."""
    from datetime import datetime, timezone

    from dwca.read import DwCAReader

    from biodiv.analysis.exports import ExportFilter, export
    from helpers_harvest import make_observation

    tax, obs, make = setup
    when = datetime(2025, 5, 1, tzinfo=timezone.utc)
    noted, blank = obs.ids()[0], obs.ids()[1]
    for oid, text in ((noted, "Chant entendu\tau bord de l'Hérault,\nprès du pont"), (blank, "")):
        rec = make_observation(oid, tax.records[tax.species[0]], 3.55, 43.65, when)
        rec["description"] = text
        obs.put(rec)
    with StandInInat(obs, tax) as api:
        cfg = make(api)
        with cfg.store().write() as con:
            harvest(cfg, con, progress=False)
            stored = dict(con.execute("SELECT id, description FROM observations WHERE id IN (?, ?)",
                                      [noted, blank]).fetchall())
    assert stored == {noted: "Chant entendu\tau bord de l'Hérault,\nprès du pont", blank: None}
    out = tmp_path / "dwca.zip"
    with cfg.store().read() as con:
        export(con, "dwca", out, ExportFilter(include_outside=True))
    with DwCAReader(str(out)) as reader:
        remarks = {row.data["http://rs.tdwg.org/dwc/terms/catalogNumber"]:
                   row.data["http://rs.tdwg.org/dwc/terms/occurrenceRemarks"] for row in reader}
    # tabs and line breaks kept, escaped as the DwC text file allows (issue 27): \t, \n
    assert remarks[str(noted)] == "Chant entendu\\tau bord de l'Hérault,\\nprès du pont"
    assert remarks[str(blank)] == ""
