"""A harvest stores exactly the observations iNaturalist lists for the territory's bbox: the
id sets are compared (not counts), on a first harvest and after edits, moves and deletions,
through API v2 and the v1 fallback.

The territory's bbox is narrower than the box the stand-in draws its points in (as the real
CCVH outline's bbox is: a record at 43.793678 N lies north of its 43.79359 N), so some
records of the server are outside the query and must not be listed nor stored."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from biodiv.inat.harvest import harvest
from biodiv.store.database import Store
from helpers_harvest import (
    BBOX,
    ObservationSet,
    StandInInat,
    Taxonomy,
    harvest_config,
    listed_ids,
    make_observation,
    make_territory,
)

# BBOX shrunk by a tenth of its size on each side: about a third of the drawn points lie outside
_DX, _DY = (BBOX[2] - BBOX[0]) / 10, (BBOX[3] - BBOX[1]) / 10
NARROW = (BBOX[0] + _DX, BBOX[1] + _DY, BBOX[2] - _DX, BBOX[3] - _DY)
INSIDE = ((NARROW[0] + NARROW[2]) / 2, (NARROW[1] + NARROW[3]) / 2)
# points are drawn in a box wider than the one asked (NARROW widened to the 0.2° obscuring
# grid, biodiv.inat.query.query_box), so that some lie outside what iNaturalist lists
WIDE = (BBOX[0] - 0.1, BBOX[1] - 0.1, BBOX[2] + 0.1, BBOX[3] + 0.1)
OUTSIDE = (WIDE[0] + 0.03, WIDE[1] + 0.05)             # drawn-box corner, outside the asked box


@pytest.fixture(scope="module")
def narrow_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("narrow") / "biodiv.duckdb"
    with Store(path).write(create=True) as con:
        make_territory(con, bbox=NARROW)
    return path


def _stored(con, active_only: bool = True) -> set[int]:
    where = " WHERE removed_at IS NULL" if active_only else ""
    return {r[0] for r in con.execute(f"SELECT id FROM observations{where}").fetchall()}


def _run(cfg, con, **kw):
    summary = harvest(cfg, con, progress=False, attach=False, **kw)
    assert summary["status"] == "ok", summary
    return summary


@pytest.mark.parametrize("api_version", ["v2", "v1"])
def test_harvest_stores_exactly_the_listed_ids_and_converges_after_changes(tmp_path, narrow_template,
                                                                             api_version):
    import shutil

    tax = Taxonomy(30)
    obs = ObservationSet(1200, tax, bbox=WIDE)
    expected = set(listed_ids(obs, NARROW))
    assert 0 < len(expected) < len(obs.ids()) - 100      # the test can tell "all" from "listed"
    with StandInInat(obs, tax) as api:
        if api_version == "v1":
            api.v2_status = 422
        cfg = harvest_config(tmp_path, api.url, overlap_days=1)
        shutil.copyfile(narrow_template, cfg.db)
        with cfg.store().write() as con:
            first = _run(cfg, con)
            assert first["api"] == api_version
            assert _stored(con, active_only=False) == expected
            assert first["new"] == len(expected)
            assert first["pages"] == -(-len(expected) // 200)
            began = con.execute("SELECT epoch_us(started_at) FROM runs WHERE id = ?",
                                [first["run_id"]]).fetchone()[0]
            began = datetime.fromtimestamp(began / 1e6, tz=timezone.utc)

            # iNaturalist changes: an edit, a move out of the bbox, a move into it, two
            # deletions, two new observations (one inside, one outside), and an edit stamped
            # two hours before the first run started (a server clock behind ours: the
            # overlap window catches it)
            now = datetime.now(timezone.utc)
            inside = sorted(expected)
            outside = sorted(set(obs.ids()) - expected)
            species = tax.records[tax.species[-1]]
            edited, moved_out, late = inside[5], inside[250], inside[600]
            moved_in = outside[3]
            deleted = [inside[0], inside[420]]
            obs.put(make_observation(edited, species, *INSIDE, now))
            obs.put(make_observation(moved_out, species, *OUTSIDE, now))
            obs.put(make_observation(moved_in, species, *INSIDE, now))
            obs.put(make_observation(late, species, INSIDE[0] + 0.01, INSIDE[1], began - timedelta(hours=2)))
            for oid in deleted:
                obs.vanish(oid)
            new_inside, new_outside = obs.ids()[-1] + 7, obs.ids()[-1] + 11
            obs.put(make_observation(new_inside, species, *INSIDE, now))
            obs.put(make_observation(new_outside, species, *OUTSIDE, now))
            now_listed = set(listed_ids(obs, NARROW))
            assert now_listed == (expected - {moved_out, *deleted}) | {moved_in, new_inside}

            second = _run(cfg, con)
            assert second["mode"] == "incremental"
            # what changed is stored; gone and moved-out ones stay until a reconciliation
            assert _stored(con) == now_listed | {moved_out, *deleted}
            assert (second["new"], second["updated"]) == (2, 2)       # moved_in, new_inside; edited, late
            taxa = dict(con.execute("SELECT id, taxon_id FROM observations WHERE id IN (?, ?, ?, ?)",
                                    [edited, late, moved_in, new_inside]).fetchall())
            assert set(taxa.values()) == {species["id"]}

            third = _run(cfg, con, reconcile=True)
            assert _stored(con) == now_listed                          # converged
            assert third["removed"] == 3
            assert _stored(con, active_only=False) - _stored(con) == {moved_out, *deleted}

            # a full re-read agrees and changes nothing
            full = _run(cfg, con, full=True)
            assert _stored(con) == now_listed and full["new"] == full["updated"] == 0
            assert full["unchanged"] == len(now_listed)
