"""The harvester end to end: real HTTP to a stand-in iNaturalist server, a real DuckDB file."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from biodiv.errors import BiodivError
from biodiv.inat.client import InatClient, InatError, InatUnreachable, make_session
from biodiv.inat.db import TerritoryMissing
from biodiv.inat.harvest import harvest
from biodiv.store.database import Store
from biodiv.inat.query import query_box
from helpers_harvest import (
    BBOX,
    ObservationSet,
    StandInInat,
    Taxonomy,
    build_template,
    harvest_config,
    make_observation,
)

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture
def world():
    tax = Taxonomy(40)
    return tax, ObservationSet(900, tax)


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def prepare(template_db):
    def _prepare(cfg):
        shutil.copyfile(template_db, cfg.db)
        return cfg.store()
    return _prepare


def _run(cfg, con=None, **kw):
    if con is not None:
        return harvest(cfg, con, progress=False, **kw)
    with cfg.store().write() as con:
        return harvest(cfg, con, progress=False, **kw)


def _ids(con_or_store, active_only=False):
    where = " WHERE removed_at IS NULL" if active_only else ""
    sql = f"SELECT id FROM observations{where} ORDER BY id"
    if isinstance(con_or_store, Store):
        with con_or_store.read() as con:
            return [r[0] for r in con.execute(sql).fetchall()]
    return [r[0] for r in con_or_store.execute(sql).fetchall()]


def test_full_then_incremental(tmp_path, world, prepare):
    tax, obs = world
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url, overlap_days=1)
        store = prepare(cfg)
        with store.write() as con:
            first = _run(cfg, con)
            assert first["status"] == "ok" and first["mode"] == "full" and first["new"] == 900
            assert _ids(con) == obs.ids()
            pages = (900 + 199) // 200
            obs_calls = api.requests_to("/v2/observations")
            assert len(obs_calls) == pages
            path, q, headers = obs_calls[0]
            assert q["order_by"] == "id" and q["order"] == "asc" and q["per_page"] == "200" and q["locale"] == "fr"
            assert q["id_above"] == "0" and "updated_since" not in q
            # the territory's box widened to the 0.2° obscuring grid: (3.429, 43.504, 3.749, 43.794)
            assert (float(q["swlng"]), float(q["swlat"]), float(q["nelng"]), float(q["nelat"])) == \
                (3.4, 43.4, 3.8, 43.8) == query_box(BBOX)
            assert "biodiv/" in headers["User-Agent"]
            assert [int(c[1]["id_above"]) for c in obs_calls[1:]] == [obs.ids()[200 * k - 1] for k in range(1, pages)]
            taxa_calls = api.requests_to("/v2/taxa/")
            assert first["requests"] == api.count == pages + len(taxa_calls)
            assert all(len(c[0].rsplit("/", 1)[1].split(",")) <= 30 for c in taxa_calls)
            asked = [int(i) for c in taxa_calls for i in c[0].rsplit("/", 1)[1].split(",")]
            assert len(asked) == len(set(asked))                     # no taxon asked twice
            unresolved, species_without_kingdom = con.execute(
                "SELECT count(*) FILTER (WHERE NOT ancestors_resolved), "
                "count(*) FILTER (WHERE kingdom_name IS NULL AND rank = 'species') FROM taxa").fetchone()
            geom_ok = con.execute(
                "SELECT bool_and(ST_X(geom) = lon AND ST_Y(geom) = lat) FROM observations").fetchone()[0]
            run = con.execute(
                "SELECT status, json_extract(stats, '$.new')::INT FROM runs WHERE kind = 'harvest'").fetchall()
            raw_ok = con.execute("SELECT count(*) FROM observation_raw").fetchone()[0]
            assert (unresolved, species_without_kingdom) == (0, 0) and geom_ok and run == [("ok", 900)]
            assert raw_ok == 900

            # nothing changed: one request, no taxa request
            before = api.count
            second = _run(cfg, con)
            assert second["mode"] == "incremental" and second["requests"] == api.count - before == 1
            assert (second["new"], second["updated"]) == (0, 0)
            since = datetime.fromisoformat(api.log[-1][1]["updated_since"])
            started = con.execute("SELECT epoch(started_at) FROM runs WHERE id = ?", [first["run_id"]]).fetchone()[0]
            assert abs(since.timestamp() - (started - 86400)) < 1

            # one observation moved and one new: only those come back, and need attaching again
            now = datetime.now(timezone.utc)
            moved_id = obs.ids()[10]
            moved = obs.record(moved_id)
            obs.put(make_observation(moved_id, moved["taxon"], 3.70, 43.70, now))
            new_taxon = tax.records[tax.species[-1]]
            obs.put(make_observation(obs.ids()[-1] + 5, new_taxon, 3.5, 43.6, now))
            before = api.count
            third = _run(cfg, con, attach=False)
            assert (third["new"], third["updated"], third["unchanged"]) == (1, 1, 0)
            assert api.count - before == 1   # the new observation's taxon lineage is already stored
            row = con.execute("SELECT lon, lat, needs_attach FROM observations WHERE id = ?", [moved_id]).fetchone()
            pending = con.execute("SELECT count(*) FROM observations WHERE needs_attach").fetchone()[0]
            assert row == (3.70, 43.70, True) and pending == 2

            # --full re-reads everything and finds it unchanged
            full = _run(cfg, con, full=True)
            assert full["mode"] == "full" and full["unchanged"] == 901 and full["new"] == full["updated"] == 0


def test_faults_are_retried_and_nothing_is_lost(tmp_path, world, prepare):
    tax, obs = world
    # the server also enforces 2 requests per second with 429 + Retry-After, above what the client asks
    with StandInInat(obs, tax, sleep_timeout=1.2, rate_per_second=2) as api:
        cfg = harvest_config(tmp_path, api.url, timeout=0.4, max_retries=3)
        store = prepare(cfg)
        api.faults.extend(["500", "500", "ok", "truncated", "ok", "429", "ok", "timeout", "ok", "drop"])
        with store.write() as con:
            summary = _run(cfg, con)
            assert summary["status"] == "ok"
            assert _ids(con) == obs.ids()
        assert summary["requests"] == api.count     # retries are counted too
        assert not api.faults and api.refused > 0


def test_inconsistent_rates_are_a_config_error(tmp_path, world):
    cfg = harvest_config(tmp_path, "http://127.0.0.1:9/v1", per_second=50, per_minute=60)
    with pytest.raises(BiodivError, match="per_minute"):
        make_session(cfg)


def test_daily_budget_stops_cleanly_and_holds_across_runs(tmp_path, world, prepare):
    tax, obs = world
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url, per_day=3)
        store = prepare(cfg)
        seen = []

        def peek(server):
            # readers keep working on the published file while the harvest commits pages
            if server.obs_pages == 2 and not seen:
                with store.read() as con:
                    seen.append(con.execute("SELECT count(*) FROM observations").fetchone()[0])

        api.on_request = peek
        first = _run(cfg)                                # its own store.write(): published on a budget stop
        assert seen == [0]
        assert first["status"] == "budget" and first["requests"] == 3 and api.count == 3
        assert len(_ids(store)) == 600                   # three whole pages, published
        with store.write() as con:
            second = _run(cfg, con)                      # same day: nothing left
            assert second["status"] == "budget" and second["requests"] == 0 and api.count == 3
            cfg.inaturalist.per_day = 100
            third = _run(cfg, con)
            assert third["status"] == "ok" and third["resumed"] and third["new"] == 300
            assert _ids(con) == obs.ids()
            assert int(api.requests_to("/v2/observations")[3][1]["id_above"]) == obs.ids()[599]
            statuses = [r[0] for r in con.execute("SELECT status FROM runs WHERE kind = 'harvest' ORDER BY id").fetchall()]
        assert statuses == ["budget", "budget", "ok"]


def test_reconcile_soft_deletes_and_restores(tmp_path, world, prepare):
    tax, obs = world
    with StandInInat(obs, tax, only_id_cap=250) as api:
        cfg = harvest_config(tmp_path, api.url)
        store = prepare(cfg)
        with store.write() as con:
            _run(cfg, con, attach=False)
            gone = [obs.ids()[0], obs.ids()[300], obs.ids()[-1]]
            moved_out = obs.ids()[500]
            for oid in gone:
                obs.vanish(oid)
            rec = obs.record(moved_out)
            obs.put(make_observation(moved_out, rec["taxon"], 5.0, 45.0, datetime(2024, 1, 1, tzinfo=timezone.utc)))
            summary = _run(cfg, con, reconcile=True, attach=False)
            assert summary["removed"] == 4
            listing = [c for c in api.requests_to("/v1/observations") if c[1].get("only_id") == "true"]
            assert len(listing) == 5 and listing[0][1]["per_page"] == "200"   # the real API's cap: 200
            active = _ids(con, active_only=True)
            assert len(_ids(con)) == 900 and set(_ids(con)) - set(active) == set(gone) | {moved_out}
            # one comes back
            obs.put(make_observation(gone[1], rec["taxon"], 3.5, 43.6, datetime(2024, 1, 1, tzinfo=timezone.utc)))
            back = _run(cfg, con, reconcile=True, attach=False)
            assert back["restored"] == 1 and back["removed"] == 0 and gone[1] in _ids(con, active_only=True)
            # a server refusing large id pages (422) gets pages of 200
            api.only_id_reject_above = 200
            again = _run(cfg, con, reconcile=True, attach=False)
            assert (again["removed"], again["restored"]) == (0, 0)
            assert api.log[-1][1]["per_page"] == "200" and api.log[-1][1]["only_id"] == "true"
            # a listing far smaller than what is stored looks like a wrong query: refused, nothing marked
            for oid in list(obs.ids())[:700]:
                obs.vanish(oid)
            with pytest.raises(InatError, match="not marking them removed"):
                _run(cfg, con, reconcile=True, attach=False)
            assert len(_ids(con, active_only=True)) == 897


def test_obscured_private_and_string_coordinates(tmp_path, prepare):
    tax = Taxonomy(4)
    obs = ObservationSet(0, tax)
    when = datetime(2025, 3, 1, tzinfo=timezone.utc)
    species = tax.records[tax.species[0]]
    obs.put(make_observation(1, species, 3.5, 43.6, when, string_coords=True))
    obs.put(make_observation(2, species, 3.6, 43.7, when, obscured=True, geoprivacy="obscured"))
    obs.put(make_observation(3, species, None, None, when, geoprivacy="private"))
    obs.put(make_observation(4, None, 3.55, 43.65, when))                # no taxon
    obs.put(make_observation(5, species, 9.9, 48.0, when))                # outside the bbox: not asked for
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url)
        store = prepare(cfg)
        with store.write() as con:
            summary = _run(cfg, con)
            rows = con.execute(
                "SELECT id, lon, lat, obscured, geoprivacy, taxon_id, positional_accuracy, in_territory "
                "FROM observations ORDER BY id").fetchall()
    assert summary["new"] == 4
    assert rows[0][:3] == (1, 3.5, 43.6) and rows[0][7] is True
    assert rows[1][3:5] == (True, "obscured") and rows[1][6] == 28000
    assert rows[2][1:3] == (None, None) and rows[2][4] == "private" and rows[2][7] is None
    assert rows[3][5] is None


def test_territory_required(tmp_path, world):
    tax, obs = world
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url)
        with cfg.store().write(create=True) as con:
            with pytest.raises(TerritoryMissing, match="biodiv init"):
                _run(cfg, con)
            con.execute("INSERT INTO territory (id, name, insee_codes) VALUES (1, 'T', ['99001'])")
            with pytest.raises(TerritoryMissing, match="biodiv areas fetch"):
                _run(cfg, con)
        assert api.count == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_inaturalist_leaves_data_unchanged(tmp_path, prepare):
    cfg = harvest_config(tmp_path, "http://unused/v1")
    store = prepare(cfg)
    published = store.path.read_bytes()
    cfg.inaturalist.api_url = f"http://127.0.0.1:{_free_port()}/v1"
    cfg.inaturalist.max_retries = 1
    with pytest.raises(InatUnreachable, match="cannot be reached.*unchanged.*biodiv demo"):
        InatClient(cfg).observations({"per_page": 1})
    # the CLI says it in one red line and exits non-zero
    cfg_file = cfg.save(tmp_path / "biodiv.toml")
    proc = subprocess.run([sys.executable, "-m", "biodiv", "--config", str(cfg_file), "harvest", "--no-progress"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 1
    assert "cannot be reached" in proc.stderr and "biodiv demo" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 3   # one message (wrapped at most by the terminal width)
    assert store.path.read_bytes() == published


def test_harvest_leaves_pandas_unloaded_and_still_importable(tmp_path, world, prepare):
    """DuckDB (binding parameters) and pyarrow (the attach's area cache) import pandas only
    to recognise pandas values; a harvest never needs it, so it stays out of the process,
    and a later ``.df()`` in the same process still works."""
    tax, obs = world
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url)
        prepare(cfg)
        cfg_file = cfg.save(tmp_path / "biodiv.toml")
        script = (
            "import sys\n"
            "from biodiv.config import load_config\n"
            "from biodiv.inat.harvest import harvest\n"
            f"cfg = load_config({str(cfg_file)!r})\n"
            "with cfg.store().write() as con:\n"
            "    summary = harvest(cfg, con, progress=False)\n"
            "    loaded = 'pandas' in sys.modules\n"
            "    df = con.execute('SELECT count(*) AS n FROM observations WHERE ? ', [True]).df()\n"
            "print(summary['new'], summary['attach']['observations'] > 0, loaded, int(df['n'][0]))\n"
        )
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    n = len(obs.ids())
    assert proc.stdout.split() == [str(n), "True", "False", str(n)]


def test_harvest_matches_new_taxa_to_stored_reference_lists(tmp_path, prepare):
    """With an official list imported, taxa first stored by a harvest get their statuses."""
    from biodiv.analysis.refs import import_reference
    from helpers_analysis import PROTECTION_CSV

    tax = Taxonomy(5)
    toad = tax.species[0]
    tax.records[toad]["name"] = "Bufo calamita"   # a synonym in the protection list
    obs = ObservationSet(30, tax)
    obs.put(make_observation(10**6, tax.records[toad], BBOX[0] + 0.01, BBOX[1] + 0.01,
                             datetime(2024, 5, 1, tzinfo=timezone.utc)))
    path = tmp_path / "protegees.csv"
    path.write_text(PROTECTION_CSV, encoding="utf-8")
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url)
        store = prepare(cfg)
        with store.write() as con:
            import_reference(con, path)
        summary = _run(cfg)
    assert summary["taxa_fetched"] > 0
    with store.read() as con:
        assert con.execute(
            "SELECT code, scope FROM taxon_statuses WHERE taxon_id = ? AND source = 'inpn_protection'", [toad]
        ).fetchall() == [("PN", "France")]
