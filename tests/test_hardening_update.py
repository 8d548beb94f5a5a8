"""`biodiv update` when an optional source is down (issue 11, item 6): with iNaturalist and
geo.api.gouv.fr reachable but the Natura 2000 WFS not, the update harvests and attaches,
warns, publishes and exits 0 (layers never loaded: issue 24 item 6); the next update fetches the sites."""

from __future__ import annotations

import duckdb
import pytest

from biodiv.areas import sources as geo_sources
from biodiv.errors import EXIT_PARTIAL
from helpers_areas import GeoStandIn, closed_port_url
from helpers_hardening import EPCI_FILE, cli, write_config
from helpers_harvest import ObservationSet, StandInInat, Taxonomy

pytestmark = pytest.mark.shared


def _counts(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        types = dict(con.execute("SELECT type, count(*) FROM areas GROUP BY type").fetchall())
        obs = con.execute("SELECT count(*), count(*) FILTER (WHERE needs_attach), "
                          "count(*) FILTER (WHERE in_territory) FROM observations").fetchone()
        runs = [r[0] for r in con.execute("SELECT kind FROM runs ORDER BY id").fetchall()]
    finally:
        con.close()
    return types, obs, runs


def test_update_with_natura2000_down_harvests_attaches_and_warns(tmp_path, shared_data, monkeypatch, capsys):
    """Both Natura 2000 layers never loaded and their service unreachable: warnings, exit 0
    (issue 24 item 6: a scheduled offline update must not look broken every night)."""
    monkeypatch.setattr(geo_sources, "BACKOFF_FACTOR", 0.0)
    tax = Taxonomy(20)
    with GeoStandIn(shared_data / "admin") as geo, StandInInat(ObservationSet(300, tax), tax) as api:
        monkeypatch.setenv("BIODIV_INAT_API_URL", api.url)
        cfg_file = write_config(tmp_path, geo_api_url=geo.geo_api_url, wfs_url=closed_port_url() + "/wfs")
        code, _, err = cli(["init", "--epci-file", str(shared_data / EPCI_FILE)], cfg_file, monkeypatch, capsys)
        assert code == 0, err

        code, out, err = cli(["update", "--no-progress"], cfg_file, monkeypatch, capsys)
        assert code == 0 != EXIT_PARTIAL, err
        assert "Traceback" not in err
        assert "warning: n2000_zsc sites could not be fetched" in err and "unreachable" in err
        assert "warning: n2000_zps sites could not be fetched" in err and "never loaded here" in err
        assert "partial:" not in err and "requests made" in out
        types, (n_obs, pending, inside), runs = _counts(tmp_path / "biodiv.duckdb")
        assert types == {"commune": 28}                              # communes fetched, published
        assert n_obs == 300 and pending == 0 and inside > 0          # harvested and attached
        assert runs.count("harvest") == 1 and "attach" in runs

        # the service is back: the next update fetches the sites it missed, and exits 0
        cfg_file = write_config(tmp_path, geo_api_url=geo.geo_api_url, wfs_url=geo.wfs_url)
        code, out, err = cli(["update", "--no-progress"], cfg_file, monkeypatch, capsys)
        assert code == 0, err
        assert "fetching missing reference areas: n2000_zsc, n2000_zps" in err and "partial" not in err
    types, (n_obs, pending, _), _ = _counts(tmp_path / "biodiv.duckdb")
    assert types["n2000_zsc"] > 0 and types["n2000_zps"] > 0 and pending == 0
