"""Switching territory in one store (issue 24 item 5): the harvest cursor belongs to the
territory's query, so the first harvest after a switch reads the new territory in full
(before: an incremental run asked the new box only for what changed since the last run,
0 observations), and the switched store holds every observation a fresh store of the new
territory holds; ``init`` on a store of another territory says what happens.

Real HTTP to the stand-in, real DuckDB files (the test territory of helpers_harvest, moved)."""

from __future__ import annotations


import pytest

from biodiv.inat.harvest import harvest
from biodiv.store.database import Store
from helpers_harvest import BBOX, ObservationSet, StandInInat, Taxonomy, harvest_config, listed_ids, make_territory

pytestmark = pytest.mark.shared

OTHER = (BBOX[0] + 0.6, BBOX[1], BBOX[2] + 0.6, BBOX[3])       # another territory, east, not overlapping
WORLD = (BBOX[0] - 0.05, BBOX[1] - 0.1, OTHER[2] + 0.05, BBOX[3] + 0.05)


def _move_territory(con, bbox) -> None:
    xmin, ymin, xmax, ymax = bbox
    outline = f"POLYGON(({xmin} {ymin}, {xmax} {ymin}, {xmax} {ymax}, {xmin} {ymax}, {xmin} {ymin}))"
    con.execute("UPDATE territory SET name = 'Autre', geom = ST_GeomFromText(?), xmin = ?, ymin = ?, xmax = ?, "
                "ymax = ? WHERE id = 1", [outline, xmin, ymin, xmax, ymax])


def _ids(con) -> set[int]:
    return {r[0] for r in con.execute("SELECT id FROM observations WHERE removed_at IS NULL").fetchall()}


def test_first_harvest_after_a_switch_reads_the_new_territory_in_full(tmp_path):
    tax = Taxonomy(20)
    obs = ObservationSet(1200, tax, bbox=WORLD)
    first_ids, other_ids = set(listed_ids(obs, BBOX)), set(listed_ids(obs, OTHER))
    assert first_ids and other_ids and not (first_ids & other_ids)
    with StandInInat(obs, tax) as api:
        switched = harvest_config(tmp_path / "switched", api.url)
        fresh = harvest_config(tmp_path / "fresh", api.url)
        for cfg, bbox in ((switched, BBOX), (fresh, OTHER)):
            cfg.db.parent.mkdir(parents=True)
            with Store(cfg.db).write(create=True) as con:
                make_territory(con, bbox=bbox)
        with switched.store().write() as con:
            assert harvest(switched, con, progress=False, attach=False)["mode"] == "full"
            assert _ids(con) == first_ids
            _move_territory(con, OTHER)
            summary = harvest(switched, con, progress=False, attach=False)
            log = " ".join(summary.get("log") or [])
            assert summary["mode"] == "full" and summary.get("query_changed") and "query changed" in log
            after = _ids(con)
            again = harvest(switched, con, progress=False, attach=False)      # then incremental again
            assert again["mode"] == "incremental" and not again.get("query_changed")
        with fresh.store().write() as con:
            harvest(fresh, con, progress=False, attach=False)
            fresh_ids = _ids(con)
    assert fresh_ids == other_ids
    # every observation of the new territory, as a fresh store has them; the old ones kept
    assert after & other_ids == fresh_ids and after == first_ids | other_ids


def test_init_on_a_store_of_another_territory_says_what_happens(tmp_path, shared_data, monkeypatch, capsys):
    """``biodiv init`` of another EPCI on a store of CCVH: one paragraph naming the old territory,
    what is kept and that the next update harvests the new one in full; the same territory
    again says nothing."""
    from helpers_hardening import EPCI_FILE, cli, write_config

    cfg_file = write_config(tmp_path)
    epci = str(shared_data / EPCI_FILE)
    code, _, err = cli(["init", "--epci-file", epci], cfg_file, monkeypatch, capsys)
    assert code == 0 and "this store held" not in err, err
    code, _, err = cli(["init", "--epci-file", epci], cfg_file, monkeypatch, capsys)
    assert code == 0 and "this store held" not in err, err
    code, out, err = cli(["init", "--epci-file", epci, "--epci", "200017341"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    notice = [line for line in err.split("warning:") if "this store held" in line]
    assert len(notice) == 1 and "Vallée de l'Hérault" in notice[0]
    assert "everything is kept" in notice[0] and "harvests the new territory in full" in notice[0]
    assert "CC Lodévois et Larzac" in out


def test_areas_of_another_territory_keep_their_own_measures(tmp_path, shared_data, monkeypatch, capsys):
    """A store of Hérault communes (measured in Lambert-93) switched to a territory of
    La Réunion: the Hérault areas keep their km² (before: all re-measured in UTM 40S, far off)."""
    import duckdb

    from helpers_hardening import COMMUNES_GEOJSON, EPCI_FILE, cli, write_config

    cfg_file = write_config(tmp_path)
    code, _, err = cli(["init", "--epci-file", str(shared_data / EPCI_FILE)], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    code, _, err = cli(["areas", "import", str(shared_data / COMMUNES_GEOJSON), "--type", "commune"],
                       cfg_file, monkeypatch, capsys)
    assert code == 0, err

    def measures():
        con = duckdb.connect(str(tmp_path / "biodiv.duckdb"), read_only=True)
        try:
            return dict(con.execute("SELECT code, area_km2 FROM areas ORDER BY code").fetchall())
        finally:
            con.close()
    before = measures()
    code, _, err = cli(["init", "--communes", "97411,97415", "--name", "Réunion"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    after = measures()
    assert after == before and len(before) == 343


def test_a_switched_store_holds_what_a_fresh_store_holds(tmp_path, shared_data, monkeypatch, capsys):
    """The real pipeline (init, update) on the stand-ins: CCVH then the CC Lodévois et Larzac in
    one store, against a fresh store of the CC Lodévois et Larzac: the same observations in the
    new territory, with the same links (area type and code, certain or edge), and the same
    areas of the new territory with the same measures."""
    import duckdb

    from biodiv.areas import sources as geo_sources
    from helpers_areas import GeoStandIn
    from helpers_hardening import EPCI_FILE, cli, write_config

    monkeypatch.setattr(geo_sources, "BACKOFF_FACTOR", 0.0)
    tax = Taxonomy(20)
    obs = ObservationSet(1500, tax, bbox=(3.05, 43.45, 3.8, 44.0))     # both territories and around
    epci = str(shared_data / EPCI_FILE)

    def content(db):
        con = duckdb.connect(str(db), read_only=True)
        try:
            inside = {r[0] for r in con.execute("SELECT id FROM observations WHERE in_territory").fetchall()}
            links = set(con.execute(
                """SELECT oa.observation_id, a.type, a.code, oa.relation::VARCHAR FROM observation_areas oa
                   JOIN areas a ON a.id = oa.area_id
                   WHERE oa.observation_id IN (SELECT id FROM observations WHERE in_territory)""").fetchall())
            areas = set(con.execute("SELECT type, code, round(area_km2, 6) FROM areas WHERE in_territory").fetchall())
        finally:
            con.close()
        return inside, links, areas

    with GeoStandIn(shared_data / "admin") as geo, StandInInat(obs, tax) as api:
        monkeypatch.setenv("BIODIV_INAT_API_URL", api.url)
        results = {}
        for name, steps in (("switched", [[], ["--epci", "200017341"]]), ("fresh", [["--epci", "200017341"]])):
            folder = tmp_path / name
            folder.mkdir()
            cfg_file = write_config(folder, geo_api_url=geo.geo_api_url, wfs_url=geo.wfs_url)
            for extra in steps:
                code, _, err = cli(["init", "--epci-file", epci, *extra], cfg_file, monkeypatch, capsys)
                assert code == 0, err
                code, out, err = cli(["update", "--no-progress"], cfg_file, monkeypatch, capsys)
                assert code == 0, err
            results[name] = content(folder / "biodiv.duckdb")
    (s_inside, s_links, s_areas), (f_inside, f_links, f_areas) = results["switched"], results["fresh"]
    assert f_inside and f_links and f_areas
    assert s_inside == f_inside
    assert s_links == f_links
    assert s_areas == f_areas
