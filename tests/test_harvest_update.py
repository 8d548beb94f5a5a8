"""``biodiv update``: the territory and reference areas when missing, then harvest, then attach, through the real CLI
entry point, against stand-ins of geo.api.gouv.fr/WFS (areas' helper) and iNaturalist (ours)."""

from __future__ import annotations

from biodiv.areas import sources as geo_sources
from helpers_areas import GeoStandIn, run_cli
from helpers_harvest import ObservationSet, StandInInat, Taxonomy


def test_update_fetches_missing_areas_then_harvests_and_attaches(config, shared_data, monkeypatch, capsys):
    monkeypatch.setattr(geo_sources, "BACKOFF_FACTOR", 0.0)
    tax = Taxonomy(20)
    obs = ObservationSet(400, tax)
    with GeoStandIn(shared_data / "admin") as geo, StandInInat(obs, tax) as api:
        config.sources.geo_api_url, config.sources.wfs_url = geo.geo_api_url, geo.wfs_url
        config.inaturalist.api_url = api.url
        config.inaturalist.per_second, config.inaturalist.per_minute = 200, 100_000
        cfg_file = str(config.save(config.source_file))

        # a fresh machine: no database yet, `update` defines the configured territory first
        code, out, err = run_cli(["-c", cfg_file, "update", "--no-progress"], monkeypatch, capsys)
        assert code == 0, err
        assert "defining the territory first" in err
        assert "fetching missing reference areas" in err
        assert "requests made" in out and "400" in out
        fetched = len(geo.requests)

        code, out, err = run_cli(["-c", cfg_file, "update", "--no-progress"], monkeypatch, capsys)
        assert code == 0, err
        assert len(geo.requests) == fetched          # areas present: not fetched again

    with config.store().read() as con:
        types = dict(con.execute("SELECT type, count(*) FROM areas GROUP BY type").fetchall())
        n_obs, pending, inside, outside = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE needs_attach), count(*) FILTER (WHERE in_territory), "
            "count(*) FILTER (WHERE NOT in_territory) FROM observations").fetchone()
        links = con.execute("SELECT count(DISTINCT observation_id) FROM observation_areas").fetchone()[0]
        kinds = [r[0] for r in con.execute("SELECT kind FROM runs ORDER BY id").fetchall()]
    assert types["commune"] == 28 and "n2000_zsc" in types
    assert n_obs == 400 and pending == 0 and inside > 0 and outside > 0 and links > 0
    # the bbox is wider than the outline: observations outside are kept and flagged, not dropped
    assert kinds.count("harvest") == 2 and "attach" in kinds
