"""Exit codes that mean something (issue 24 item 6): a reference layer never loaded whose
service cannot be reached is a warning (exit 0: a scheduled offline update must not look
broken every night, tests/test_hardening_update.py); 3 when something expected failed: a
layer this store held before that cannot be fetched again.

Real HTTP to the stand-ins (geo.api.gouv.fr and the WFS from the real Hérault files, the
iNaturalist one), the CLI in-process, a real DuckDB file."""

from __future__ import annotations

import pytest

from biodiv.areas import sources as geo_sources
from biodiv.errors import EXIT_PARTIAL
from helpers_areas import GeoStandIn, closed_port_url
from helpers_hardening import EPCI_FILE, cli, write_config
from helpers_harvest import ObservationSet, StandInInat, Taxonomy

pytestmark = pytest.mark.shared


def test_a_layer_loaded_before_that_cannot_be_fetched_is_partial(tmp_path, shared_data, monkeypatch, capsys):
    monkeypatch.setattr(geo_sources, "BACKOFF_FACTOR", 0.0)
    tax = Taxonomy(10)
    epci = str(shared_data / EPCI_FILE)
    with GeoStandIn(shared_data / "admin") as geo, StandInInat(ObservationSet(100, tax), tax) as api:
        monkeypatch.setenv("BIODIV_INAT_API_URL", api.url)
        up = write_config(tmp_path, geo_api_url=geo.geo_api_url, wfs_url=geo.wfs_url)
        code, _, err = cli(["init", "--epci-file", epci], up, monkeypatch, capsys)
        assert code == 0, err
        code, _, err = cli(["update", "--no-progress"], up, monkeypatch, capsys)
        assert code == 0, err                                  # every layer loaded
        # another territory, then the WFS is down: the sites layers were loaded here before
        code, _, err = cli(["init", "--epci-file", epci, "--epci", "200017341"], up, monkeypatch, capsys)
        assert code == 0, err
        down = write_config(tmp_path, geo_api_url=geo.geo_api_url, wfs_url=closed_port_url() + "/wfs")
        code, out, err = cli(["update", "--no-progress"], down, monkeypatch, capsys)
    assert "Traceback" not in err
    if "fetching missing reference areas" not in err:
        pytest.skip("the new territory's sites were already in the store: nothing to fetch")
    assert code == EXIT_PARTIAL, err
    assert "partial:" in err and "never loaded here" not in err
