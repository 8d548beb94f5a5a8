"""Each observed species' complete conservation statuses (with their places) are read once,
in the batched ``/v2/taxa`` calls (issue 24 item 3): an observation embeds at most one status.

Real HTTP to the stand-in, whose species with a status answer ``/taxa`` with the real
statuses of ``api_v1/get_taxa_by_id_conservation_statuses.json`` (one with its place)."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest

from biodiv.inat.harvest import harvest
from helpers_harvest import ObservationSet, StandInInat, Taxonomy, build_template, harvest_config

pytestmark = pytest.mark.shared


def test_species_statuses_are_read_once_with_their_places(tmp_path):
    tax = Taxonomy(60, seed=3)
    obs = ObservationSet(400, tax)
    listed = [t for t in tax.species if tax.records[t].get("conservation_status")]
    assert listed                                    # the stand-in has species with statuses
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url)
        (tmp_path / "template").mkdir()
        template = build_template(tmp_path / "template")
        shutil.copyfile(template, cfg.db)
        with cfg.store().write() as con:
            harvest(cfg, con, progress=False, attach=False)
            observed = {r[0] for r in con.execute("SELECT DISTINCT taxon_id FROM observations").fetchall()}
            rows = con.execute("SELECT taxon_id, code, scope FROM taxon_statuses WHERE source = 'inaturalist'"
                               ).fetchall()
            first = len(api.requests_to("/v2/taxa/"))
            harvest(cfg, con, progress=False, attach=False, full=True)
            again = len(api.requests_to("/v2/taxa/")) - first
    asked = Counter(int(i) for path, _, _ in api.requests_to("/v2/taxa/")
                    for i in path.rsplit("/", 1)[1].split(","))
    for sid in observed:
        assert asked[sid] == 1, sid                  # every observed species once, no more
    assert again == 0                                # a second run asks nothing
    with_status = {t for t in listed if t in observed}
    assert with_status
    for sid in with_status:
        scopes = {scope for tid, code, scope in rows if tid == sid}
        assert "South Africa" in scopes, (sid, rows)  # the statuses' places, not only the embedded one
    assert first <= -(-len(observed) // 30) + 3      # batched, 30 ids a request (and a few ancestors)
