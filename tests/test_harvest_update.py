"""``biodiv update``: the territory and reference areas when missing, then harvest, then attach, through the real CLI
entry point, against stand-ins of geo.api.gouv.fr/WFS (areas' helper) and iNaturalist (ours)."""

from __future__ import annotations

import csv
import json

import shapely
from shapely.geometry import shape

from biodiv.areas import sources as geo_sources
from helpers_areas import GeoStandIn, ccvh_n2000_layers, run_cli
from helpers_harvest import ObservationSet, StandInInat, Taxonomy


def table_rows(out: str) -> dict[str, str]:
    """The two-column summary table the CLI prints, as {label: value}."""
    cells = [[c.strip() for c in line.strip().strip("│").split("│")] for line in out.splitlines()
             if line.count("│") == 3]
    return {label: value for label, value in cells}


def expected_flags(obs: ObservationSet, admin) -> tuple[int, int, int]:
    """(in the territory, outside, observations with a link), computed with shapely alone from
    the served records, the real CCVH communes and the stand-in's Natura 2000 sites: the
    published point in the union of the 28 communes; a link when a precise point lies in a
    commune or a kept site (one meeting the outline), or an obscured point's whole 0.2° cell
    does."""
    with open(admin / "ccvh_communes.csv", encoding="utf-8") as f:
        codes = {row["insee_code"] for row in csv.DictReader(f)}
    features = json.loads((admin / "communes-34-herault.geojson").read_text())["features"]
    communes = [shape(f["geometry"]) for f in features if f["properties"]["code"] in codes]
    outline = shapely.union_all(communes)
    sites = [shape(f["geometry"]) for layer in ccvh_n2000_layers().values() for f in layer]
    areas = communes + [g for g in sites if g.intersects(outline)]
    inside = linked = 0
    for oid in obs.ids():
        rec = obs.record(oid)
        lon, lat = rec["geojson"]["coordinates"]
        point = shapely.Point(lon, lat)
        inside += outline.intersects(point)
        if rec["obscured"]:
            x0, y0 = (round(float(v), 6) for v in (lon // 0.2 * 0.2, lat // 0.2 * 0.2))
            cell = shapely.box(x0, y0, x0 + 0.2, y0 + 0.2)
            linked += any(a.contains(cell) for a in areas)
        else:
            linked += any(a.intersects(point) for a in areas)
    return inside, len(obs.ids()) - inside, linked


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
        summary = table_rows(out)
        assert summary["new"] == "400" and summary["attached"] == "400" and "requests made" in summary
        fetched = len(geo.requests)

        published = config.store().path.stat().st_mtime_ns
        before = api.count
        code, out, err = run_cli(["-c", cfg_file, "update", "--no-progress"], monkeypatch, capsys)
        assert code == 0, err
        assert len(geo.requests) == fetched          # areas present: not fetched again
        # nothing changed: one request, no writer opened (the run is kept beside the store)
        assert api.count - before == 1 and "nothing" in out
        assert config.store().path.stat().st_mtime_ns == published

    with config.store().read() as con:
        types = dict(con.execute("SELECT type, count(*) FROM areas GROUP BY type").fetchall())
        n_obs, pending, inside, outside = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE needs_attach), count(*) FILTER (WHERE in_territory), "
            "count(*) FILTER (WHERE NOT in_territory) FROM observations").fetchone()
        links = con.execute("SELECT count(DISTINCT observation_id) FROM observation_areas").fetchone()[0]
        kinds = [r[0] for r in con.execute("SELECT kind FROM runs ORDER BY id").fetchall()]
    # 28 CCVH communes; the ZSC inside, repaired bow-tie and border sites, both ZPS (the
    # bbox-corner and far sites do not meet the outline)
    assert types == {"commune": 28, "n2000_zsc": 3, "n2000_zps": 2}
    assert n_obs == 400 and pending == 0
    # the bbox is wider than the outline: observations outside are kept and flagged, not dropped
    assert (inside, outside, links) == expected_flags(obs, shared_data / "admin") == (243, 157, 235)
    harvests = [i for i, kind in enumerate(kinds) if kind == "harvest"]
    assert len(harvests) == 1 and all(kinds[i + 1:i + 2] == ["attach"] for i in harvests)   # attached
    from biodiv.store.runs import read_pending

    assert [e["stats"]["no_change"] for e in read_pending(config.store().path)] == [True]
