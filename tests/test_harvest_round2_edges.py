"""Obscured observations at the edge are asked for (issue 24 item 2): iNaturalist puts an
obscured observation's public point anywhere in the 0.2° grid cell of its true place, and its
box filter reads that public point; the harvest asks the territory's box widened to the whole
cells it touches, so such an observation is harvested even when its public point is outside
the territory's own box. The attach then applies its existing rules (flags, never drops).

Real HTTP to the stand-in (whose box filter reads the public point, as iNaturalist's), a real
DuckDB file with the test territory of helpers_harvest (two communes splitting the box)."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone

import pytest

from biodiv.inat.harvest import harvest
from biodiv.inat.query import query_box
from helpers_harvest import BBOX, ObservationSet, StandInInat, Taxonomy, build_template, harvest_config, make_observation

pytestmark = pytest.mark.shared


def test_query_box_is_the_territory_box_widened_to_the_obscuring_grid():
    assert query_box(BBOX) == (3.4, 43.4, 3.8, 43.8)
    assert query_box((3.4, 43.4, 3.8, 43.8)) == (3.4, 43.4, 3.8, 43.8)        # already on the grid
    assert query_box((55.21, -21.39, 55.84, -20.87)) == (55.2, -21.4, 56.0, -20.8)   # La Réunion
    assert query_box((179.9, 89.95, 180.0, 90.0)) == (179.8, 89.8, 180.0, 90.0)


def test_obscured_observation_outside_the_box_whose_cell_overlaps_is_harvested(tmp_path):
    tax = Taxonomy(10)
    obs = ObservationSet(50, tax)
    species = tax.records[tax.species[0]]
    now = datetime.now(timezone.utc)
    # the cell [3.4, 3.6] × [43.4, 43.6] overlaps the territory (3.429 … 3.749, 43.504 … 43.794);
    # these public points are in it, outside the territory's box
    edge_obscured, edge_precise, far = 10**6 + 1, 10**6 + 2, 10**6 + 3
    obs.put(make_observation(edge_obscured, species, 3.41, 43.45, now, obscured=True, geoprivacy="obscured"))
    obs.put(make_observation(edge_precise, species, 3.415, 43.46, now))
    obs.put(make_observation(far, species, 3.9, 43.9, now, obscured=True))        # another cell: not asked
    template = build_template(tmp_path)
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path / "run", api.url)
        (tmp_path / "run").mkdir()
        shutil.copyfile(template, cfg.db)
        with cfg.store().write() as con:
            summary = harvest(cfg, con, progress=False)
            rows = dict((r[0], r[1:]) for r in con.execute(
                "SELECT id, obscured, in_territory FROM observations WHERE id > 1000000").fetchall())
            stored = con.execute("SELECT count(*) FROM observations").fetchone()[0]
    q = api.requests_to("/v2/observations")[0][1]
    assert (float(q["swlng"]), float(q["swlat"]), float(q["nelng"]), float(q["nelat"])) == (3.4, 43.4, 3.8, 43.8)
    assert summary["status"] == "ok" and stored == 52
    assert set(rows) == {edge_obscured, edge_precise}            # harvested; the one of another cell not asked
    assert rows[edge_obscured][0] is True
    # attach's existing rules: both published points lie outside the member communes: flagged, kept
    assert rows[edge_obscured][1] is False and rows[edge_precise][1] is False
