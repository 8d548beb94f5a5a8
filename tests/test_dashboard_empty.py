"""Empty data renders everywhere (issue 26 item 4): every page and sheet on a store with
areas and no observation, and pages whose filters leave nothing, run without an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers_dashboard import build_fixture_db
from test_dashboard_app import PAGES, app_for, maps_shown  # noqa: F401  (fixture)

ALL_PAGES = ["vue_ensemble.py", "carte.py", "atelier.py", "fiche_commune.py", "fiche_site.py", "fiche_espece.py"]


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("dash_empty") / "empty.duckdb", with_observations=False)


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("dash_full") / "fixture.duckdb")


@pytest.mark.parametrize("page", ALL_PAGES)
def test_every_page_renders_with_no_observation(monkeypatch, tmp_path, empty_db, maps_shown, page):
    at = app_for(monkeypatch, tmp_path, empty_db).run()
    at.switch_page(PAGES + page).run()
    assert not at.exception, at.exception


@pytest.mark.parametrize("page, query", [("fiche_commune.py", {"commune": "T0003"}),
                                         ("fiche_site.py", {}), ("carte.py", {})])
def test_a_filter_that_leaves_nothing_renders(monkeypatch, tmp_path, fixture_db, maps_shown, page, query):
    """Certainty « floutée » only on a store with one obscured observation, which is not
    drawn: a map with no point (it crashed with an AssertionError in folium)."""
    at = app_for(monkeypatch, tmp_path, fixture_db)
    at.session_state["f_certainty"] = ["obscured"]
    at.session_state["f_quality"] = []
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(PAGES + page).run()
    assert not at.exception, at.exception
