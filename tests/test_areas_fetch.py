"""``biodiv init`` and ``biodiv areas fetch`` over real HTTP against a local stand-in of
geo.api.gouv.fr and the IGN Géoplateforme WFS (tests/helpers_areas.py)."""

from __future__ import annotations

import json
import tomllib

import pytest

from biodiv.areas import reference as areas
from biodiv.areas import sources as geo_sources
from biodiv.areas import territory
from biodiv.config import Config
from helpers_areas import CCVH_SIREN, GeoStandIn, closed_port_url, n2000_feature, run_cli, snapshot, square


@pytest.fixture
def stand_in(shared_data, monkeypatch):
    monkeypatch.setattr(geo_sources, "BACKOFF_FACTOR", 0.0)  # retries still happen, without sleeping
    monkeypatch.setattr(geo_sources, "WFS_PAGE_SIZE", 2)      # force several WFS pages
    with GeoStandIn(shared_data / "admin") as server:
        yield server


def write_config(config: Config, server_geo: str, server_wfs: str) -> str:
    config.sources.geo_api_url = server_geo
    config.sources.wfs_url = server_wfs
    config.sources.timeout = 5
    return str(config.save(config.source_file))


def test_init_epci_then_fetch_communes_and_natura2000(config, stand_in, monkeypatch, capsys):
    cfg_file = write_config(config, stand_in.geo_api_url, stand_in.wfs_url)
    code, out, err = run_cli(["-c", cfg_file, "init"], monkeypatch, capsys)  # CCVH is the default
    assert code == 0, err
    saved = tomllib.loads(open(cfg_file).read())
    assert saved["territory"]["epci_siren"] == CCVH_SIREN
    assert len(saved["territory"]["insee_codes"]) == 28
    assert saved["sources"]["geo_api_url"] == stand_in.geo_api_url  # the rest of the config is kept
    assert "Vallée de l'Hérault" in out and "biodiv areas fetch" in out
    assert stand_in.count(f"/epcis/{CCVH_SIREN}?") == 1 and stand_in.count(f"/epcis/{CCVH_SIREN}/communes") == 1

    code, out, err = run_cli(["-c", cfg_file, "areas", "fetch"], monkeypatch, capsys)
    assert code == 0, err
    assert all("biodiv/" in ua for ua in stand_in.user_agents)
    assert stand_in.count(f"codeEpci={CCVH_SIREN}") == 1
    # 4 ZSC features meet the bbox, pages of 2: STARTINDEX 0 and 2, then numberMatched reached
    sic = [r for r in stand_in.requests if "TYPENAMES=PROTECTEDAREAS.SIC" in r]
    assert len(sic) == 2 and "STARTINDEX=2" in sic[1]
    assert "BBOX=43.5036" in sic[0]  # latitude first

    store = config.store()
    with store.read() as con:
        terr = territory.read_territory(con)
        by_type = dict(con.execute("SELECT type, list(code ORDER BY code) FROM areas GROUP BY type").fetchall())
        zps = con.execute(
            "SELECT code, ST_NumGeometries(geom), in_territory FROM areas WHERE type = 'n2000_zps' ORDER BY code"
        ).fetchall()
        valid = con.execute("SELECT bool_and(ST_IsValid(geom)) FROM areas").fetchone()[0]
        missing = areas.missing_types(con)
    assert terr["area_km2"] == pytest.approx(482, abs=1.5)
    assert len(by_type["commune"]) == 28
    # inside, bowtie (repaired), border; not the bbox corner outside the outline, not the far one
    assert by_type["n2000_zsc"] == ["FR9100001", "FR9100004", "FR9100005"]
    # a two-part site stays one area; a site served as two features becomes one area
    assert [(c, n) for c, n, _ in zps] == [("FR9110001", 2), ("FR9110002", 1)] and all(t for *_, t in zps)
    assert valid and missing == []

    # REEN: a second fetch reads the cache, no request at all
    seen = len(stand_in.requests)
    code, out, err = run_cli(["-c", cfg_file, "areas", "fetch"], monkeypatch, capsys)
    assert code == 0 and len(stand_in.requests) == seen and out.count("cache") == 3
    code, out, err = run_cli(["-c", cfg_file, "areas", "fetch", "--type", "n2000_zps", "--refresh"], monkeypatch, capsys)
    assert code == 0 and len(stand_in.requests) == seen + 2 and "downloaded" in out  # 3 ZPS features, pages of 2

    code, out, err = run_cli(["-c", cfg_file, "areas", "list"], monkeypatch, capsys)
    assert code == 0
    for t in ("commune", "n2000_zsc", "n2000_zps"):
        assert t in out

    # re-init with a list of codes: membership follows, an unknown code is reported
    code, out, err = run_cli(["-c", cfg_file, "init", "--communes", "34114,34999", "--name", "Essai"], monkeypatch, capsys)
    assert code == 0, err
    assert "34999" in err and "no boundary" in err
    with store.read() as con:
        assert con.execute("SELECT list(code) FROM areas WHERE in_territory AND type = 'commune'").fetchone()[0] == ["34114"]
        terr = territory.read_territory(con)
    assert terr["name"] == "Essai" and terr["epci_siren"] is None and terr["area_km2"] < 100


def test_fetch_for_a_list_of_communes_uses_one_request_per_department(config, stand_in):
    config.sources.geo_api_url = stand_in.geo_api_url
    config.sources.wfs_url = stand_in.wfs_url
    store = config.store()
    with store.write(create=True) as con:
        con.execute("BEGIN")
        territory.save_territory(con, "Deux communes", None, ["34114", "34120"])
        con.execute("COMMIT")
        results = areas.fetch_areas(config, con, types=["commune"])
        assert areas.missing_types(con) == ["n2000_zsc", "n2000_zps"]
        # a territory without any Natura 2000 site: an empty answer is a valid result
        stand_in.wfs_layers = {config.sources.wfs_layer_zsc: [], config.sources.wfs_layer_zps: []}
        empty = areas.fetch_areas(config, con, types=["n2000_zsc", "n2000_zps"])
        assert areas.missing_types(con) == []  # and `update` will not ask again
    assert stand_in.count("/departements/34/communes") == 1 and stand_in.count("/geo/") == 1
    assert results[0]["count"] == 343 and results[0]["in_territory"] == 2  # neighbours kept, flagged
    assert [r["count"] for r in empty] == [0, 0]


def test_unknown_siren_is_a_clear_error_and_writes_nothing(config, stand_in, monkeypatch, capsys):
    cfg_file = write_config(config, stand_in.geo_api_url, stand_in.wfs_url)
    before = open(cfg_file).read()
    code, out, err = run_cli(["-c", cfg_file, "init", "--epci", "999999999"], monkeypatch, capsys)
    assert code == 1
    assert err.strip().count("\n") == 0 and "unknown EPCI SIREN 999999999" in err
    assert open(cfg_file).read() == before
    assert not config.db.exists() and not config.store().wip_path.exists()


def test_server_errors_are_retried_then_reported_without_damage(config, stand_in, monkeypatch, capsys):
    cfg_file = write_config(config, stand_in.geo_api_url, stand_in.wfs_url)
    stand_in.fail_status = 500
    code, out, err = run_cli(["-c", cfg_file, "init"], monkeypatch, capsys)
    assert code == 1 and "answered HTTP 500" in err and "--communes" in err
    assert stand_in.count("/epcis/") == 1 + geo_sources.RETRIES
    assert not config.db.exists()

    stand_in.fail_status = None
    assert run_cli(["-c", cfg_file, "init"], monkeypatch, capsys)[0] == 0
    assert run_cli(["-c", cfg_file, "areas", "fetch", "--type", "commune"], monkeypatch, capsys)[0] == 0
    before = snapshot(config.store())
    stand_in.fail_status = 503
    code, out, err = run_cli(["-c", cfg_file, "areas", "fetch", "--type", "n2000_zsc"], monkeypatch, capsys)
    assert code == 1
    assert "IGN Géoplateforme WFS" in err and "biodiv areas import" in err and err.strip().count("\n") == 0
    assert snapshot(config.store()) == before


def test_unreachable_service_suggests_offline_options(config, shared_data, monkeypatch, capsys):
    monkeypatch.setattr(geo_sources, "BACKOFF_FACTOR", 0.0)
    dead = closed_port_url()
    cfg_file = write_config(config, dead, dead + "/wfs")
    code, out, err = run_cli(["-c", cfg_file, "init", "--epci", CCVH_SIREN], monkeypatch, capsys)
    assert code == 1 and "geo.api.gouv.fr is unreachable" in err
    assert "--communes" in err and "--epci-file" in err and "Traceback" not in err
    assert not config.db.exists()

    epci_file = shared_data / "admin/epci-34-herault_decoupage-administratif-6.0.0.json"
    code, out, err = run_cli(["-c", cfg_file, "init", "--epci-file", str(epci_file)], monkeypatch, capsys)
    assert code == 0, err
    with config.store().read() as con:
        terr = territory.read_territory(con)
    assert terr["epci_siren"] == CCVH_SIREN and len(terr["insee_codes"]) == 28

    code, out, err = run_cli(["-c", cfg_file, "areas", "fetch"], monkeypatch, capsys)
    assert code == 1 and "unreachable" in err and "biodiv areas import" in err


def test_natura2000_needs_the_outline_first(config, stand_in):
    config.sources.wfs_url = stand_in.wfs_url
    with config.store().write(create=True) as con:
        con.execute("BEGIN")
        territory.save_territory(con, "Sans contours", None, ["34114"])
        con.execute("COMMIT")
        with pytest.raises(areas.AreaImportError, match="no outline yet"):
            areas.fetch_areas(config, con, types=["n2000_zsc"])
    assert stand_in.requests == []


def test_wfs_exception_report_is_shown(config, stand_in, tmp_path):
    with pytest.raises(geo_sources.GeoSourceError, match="Unknown TYPENAMES"):
        geo_sources.fetch_wfs_layer(stand_in.wfs_url, "NO.SUCH:layer", (3.4, 43.5, 3.8, 43.8), tmp_path)
    assert not list(tmp_path.rglob("*.geojson"))  # nothing half-written in the cache


def test_init_communes_creates_config_and_database_offline(tmp_path, monkeypatch, capsys):
    for var in ("BIODIV_DB", "BIODIV_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    cfg_file = tmp_path / "projet" / "biodiv.toml"
    code, out, err = run_cli(["-c", str(cfg_file), "init", "--communes", "34114, 34120"], monkeypatch, capsys)
    assert code == 0, err
    saved = tomllib.loads(cfg_file.read_text())
    assert saved["territory"] == {"name": "Territoire de 2 communes", "epci_siren": "", "insee_codes": ["34114", "34120"]}
    from biodiv.config import load_config

    assert not load_config(cfg_file).territory.epci_siren  # not read back as the default EPCI
    db = tmp_path / "projet" / "data" / "biodiv.duckdb"  # relative to the config file
    assert db.exists()
    from biodiv.store.database import Store

    with Store(db).read() as con:
        assert territory.read_territory(con)["insee_codes"] == ["34114", "34120"]
        assert areas.missing_types(con) == ["commune", "n2000_zsc", "n2000_zps"]
    assert "missing: commune, n2000_zsc, n2000_zps" in out
    code, out, err = run_cli(["-c", str(cfg_file), "init", "--communes", "34114", "--epci", "243400694"],
                             monkeypatch, capsys)
    assert code == 1 and "not both" in err
    code, out, err = run_cli(["-c", str(cfg_file), "init", "--communes", "3411"], monkeypatch, capsys)
    assert code == 1 and "not an INSEE commune code" in err


def test_wfs_pages_are_merged_once_each(tmp_path, monkeypatch):
    monkeypatch.setattr(geo_sources, "WFS_PAGE_SIZE", 2)
    site = n2000_feature("FR9100001", "Un", square(3.5, 43.6, 3.6, 43.7))
    other = n2000_feature("FR9100002", "Deux", square(3.6, 43.6, 3.7, 43.7))
    far = n2000_feature("FR9100003", "Loin", square(1.0, 45.0, 1.1, 45.1))
    # the service repeats a feature (same id) across pages, as unsorted paging may do
    with GeoStandIn(None, {"L:l": [site, other, site, far]}) as server:
        dl = geo_sources.fetch_wfs_layer(server.wfs_url, "L:l", (3.4, 43.5, 3.8, 43.8), tmp_path)
        again = geo_sources.fetch_wfs_layer(server.wfs_url, "L:l", (3.4, 43.5, 3.8, 43.8), tmp_path)
        assert len(server.requests) == 2  # pages 0-1 and 2; the second call reads the cache
    doc = json.loads(dl.path.read_text())
    assert [f["properties"]["sitecode"] for f in doc["features"]] == ["FR9100001", "FR9100002"]
    assert not dl.from_cache and again.from_cache and again.path == dl.path
