"""One default for quality everywhere: the dashboard counts what the named queries count
(iNaturalist's "verifiable" = research + needs_id), says so on every page, and its filter
still changes it.

Expected values are computed by hand from tests/helpers_dashboard.py's table: Gamma (T0003)
holds observation 5 (genus Quercus, needs_id: no species), 6 (Erithacus rubecula witherbyi,
research) and 12 (Quercus ilex, casual).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from biodiv.analysis.queries import (
    DEFAULT_QUALITY, QUALITY_GRADES, list_queries, lock_down, run_query,
)
from biodiv.dashboard import data
from biodiv.dashboard.labels import quality_text
from biodiv.store.database import Store

from helpers_dashboard import EXPECTED, EXPECTED_ALL_QUALITIES, build_fixture_db
from test_dashboard_app import PAGES, all_text, app_for, area_id, metrics

DEFAULT_LINE = "Qualité : vérifiables (recherche + à identifier)"


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("quality") / "fixture.duckdb")


@pytest.fixture(scope="module")
def con(fixture_db):
    c = lock_down(Store(fixture_db).reader())
    yield c
    c.close()


def test_every_named_query_and_the_dashboard_share_one_default():
    shipped = [p for q in list_queries() for p in q.params if p.name == "quality"]
    assert len(shipped) >= 6                                    # the quality-aware named queries
    assert {p.default for p in shipped} == {DEFAULT_QUALITY}
    assert data.Filters().quality == data.DEFAULT_GRADES == QUALITY_GRADES[DEFAULT_QUALITY]
    assert data.NO_FILTERS.quality == ("research", "needs_id")


def test_the_macro_keeps_the_grades_the_dashboard_keeps(con):
    """quality_ok(grade, q) of the named queries against QUALITY_GRADES, for every level."""
    for level, grades in QUALITY_GRADES.items():
        kept = {r[0] for r in con.execute(
            "SELECT g FROM (VALUES ('research'), ('needs_id'), ('casual')) v(g) WHERE quality_ok(g, ?)",
            [level]).fetchall()}
        assert kept == (set(grades) or {"research", "needs_id", "casual"}), level


def test_default_commune_figures_equal_commune_richness(con):
    richness = run_query(con, "commune_richness").set_index("insee_code")
    dash = data.area_measures(con, data.NO_FILTERS, "commune").set_index("code")
    assert sorted(richness.index) == sorted(dash.index) == ["T0001", "T0002", "T0003"]
    for code in richness.index:
        assert dash.loc[code, "observations"] == richness.loc[code, "n_observations"], code
        assert dash.loc[code, "species"] == richness.loc[code, "n_species"], code
    assert (dash.loc["T0003", "observations"], dash.loc["T0003", "species"]) == (2, 1)   # by hand
    # every grade on both sides: the casual Quercus ilex counts in Gamma
    everything = run_query(con, "commune_richness", {"quality": "any"}).set_index("insee_code")
    dash_all = data.area_measures(con, data.ALL_OBSERVATIONS, "commune").set_index("code")
    assert (everything.loc["T0003", "n_observations"], everything.loc["T0003", "n_species"]) == (3, 2)
    assert (dash_all.loc["T0003", "observations"], dash_all.loc["T0003", "species"]) == (3, 2)


def test_default_figures_leave_casual_out_and_the_empty_filter_counts_all(con):
    k = data.key_figures(con)
    assert (k["observations"], k["species"], k["observers"], k["drawable"]) == (
        EXPECTED["observations"], EXPECTED["species"], EXPECTED["observers"], EXPECTED["drawable"])
    a = data.key_figures(con, data.ALL_OBSERVATIONS)
    assert (a["observations"], a["species"], a["observers"], a["drawable"]) == (
        EXPECTED_ALL_QUALITIES["observations"], EXPECTED_ALL_QUALITIES["species"],
        EXPECTED_ALL_QUALITIES["observers"], EXPECTED_ALL_QUALITIES["drawable"])
    assert f"{a['research_share'] * 100:.0f} %" == EXPECTED_ALL_QUALITIES["research_share_pct"]


def test_quality_text_in_french():
    assert quality_text(("research", "needs_id")) == DEFAULT_LINE
    assert quality_text(()) == "Qualité : toutes (recherche, à identifier et occasionnelles)"
    assert quality_text(("casual",)) == "Qualité : occasionnelle"
    assert quality_text(("research",), short=True) == "Qualité : recherche (validée)"
    assert quality_text(("needs_id", "research"), short=True) == "Qualité : vérifiables"


def test_the_commune_sheet_shows_commune_richness_figures_and_says_the_quality(
        monkeypatch, tmp_path, fixture_db, con):
    richness = run_query(con, "commune_richness").set_index("insee_code")
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "fiche_commune.py").run()
    at.selectbox(key="sheet_commune").set_value(area_id(fixture_db, "T0003")).run()
    assert not at.exception
    got = metrics(at)
    assert got["Observations"] == str(richness.loc["T0003", "n_observations"]) == "2"
    assert got["Espèces"] == str(richness.loc["T0003", "n_species"]) == "1"
    assert DEFAULT_LINE in all_text(at)
    assert at.multiselect(key="w_quality").value == ["research", "needs_id"]
    # the filter still changes it: emptied, every grade counts (and the page says so)
    at.multiselect(key="w_quality").set_value([]).run()
    assert metrics(at)["Observations"] == "3" and metrics(at)["Espèces"] == "2"
    assert "Qualité : toutes (recherche, à identifier et occasionnelles)" in all_text(at)
    at.multiselect(key="w_quality").set_value(["casual"]).run()
    assert metrics(at)["Observations"] == "1" and "Qualité : occasionnelle" in all_text(at)


@pytest.mark.parametrize("page", ["vue_ensemble", "carte", "fiche_commune", "fiche_site", "fiche_espece"])
def test_every_page_says_the_quality_counted(monkeypatch, tmp_path, fixture_db, page):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + page + ".py").run()
    assert not at.exception
    assert DEFAULT_LINE in all_text(at), page


def test_the_workshop_screen_says_the_quality_in_its_footer(monkeypatch, tmp_path, fixture_db):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "atelier.py").run()
    assert not at.exception
    text = all_text(at)
    assert "Qualité : vérifiables · données " in text
    assert '<div class="v">9</div><div class="l">observations</div>' in text   # casual 12 left out


def test_overview_with_every_grade(monkeypatch, tmp_path, fixture_db):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    assert metrics(at)["Observations"] == str(EXPECTED["observations"])
    at.multiselect(key="w_quality").set_value([]).run()
    got = metrics(at)
    assert got["Observations"] == str(EXPECTED_ALL_QUALITIES["observations"])
    assert got["Observateurs"] == str(EXPECTED_ALL_QUALITIES["observers"])
    assert got["Part « recherche »"] == EXPECTED_ALL_QUALITIES["research_share_pct"]


@pytest.mark.parametrize("page", ["vue_ensemble", "carte"])
def test_a_first_visit_asks_for_the_warmed_default_view(monkeypatch, tmp_path, fixture_db, page):
    """warm.default_views computes data.NO_FILTERS: the sidebar's untouched filters must be
    exactly that, default quality included, or the first visitor misses the warm cache."""
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + page + ".py").run()
    assert at.session_state["filters"] == data.NO_FILTERS
    at.multiselect(key="w_quality").set_value(["needs_id", "research"]).run()   # chosen in another order
    assert at.session_state["filters"] == data.NO_FILTERS
