"""Every dashboard page in Streamlit's AppTest, on the fixture database with known figures.

The st_folium component is opaque in AppTest, so the map HTML is captured where the app
hands it to st_folium (``ui.show_map``) and asserted on.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from biodiv.config import Config, DashboardConfig
from biodiv.dashboard import app as dash_app
from biodiv.dashboard import ui
from biodiv.store.database import Store

from helpers_dashboard import EXPECTED, THIS_YEAR, build_fixture_db

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = "biodiv/dashboard/pages/"


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("dash_app") / "fixture.duckdb")


@pytest.fixture
def maps_shown(monkeypatch) -> dict[str, str]:
    """Map HTML by st_folium key, as the app renders it."""
    shown: dict[str, str] = {}
    original = ui.show_map

    def capture(m, key, height=560):
        # folium writes GeoJSON with \uXXXX escapes: decode them to assert on the text
        shown[key] = re.sub(r"\\u([0-9a-fA-F]{4})", lambda x: chr(int(x.group(1), 16)),
                            m.get_root().render())
        return original(m, key, height)

    monkeypatch.setattr(ui, "show_map", capture)
    return shown


def app_for(monkeypatch, tmp_path, db: Path, **dashboard) -> AppTest:
    cfg = Config(dashboard=DashboardConfig(**dashboard))
    cfg.save(tmp_path / f"biodiv-{abs(hash(tuple(sorted(dashboard.items()))))}.toml")
    monkeypatch.setenv("BIODIV_DB", str(db))
    monkeypatch.setenv("BIODIV_CONFIG", str(cfg.source_file))
    monkeypatch.setattr(dash_app, "FILTERS_DELAY_S", 0.0)   # no browser here: no map to wait for
    return AppTest.from_file(APP, default_timeout=60)


def area_id(db: Path, code: str) -> int:
    with Store(db).read() as con:
        return con.execute("SELECT id FROM areas WHERE code = ?", [code]).fetchone()[0]


def frame(at, column: str):
    """The first table shown that has ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def all_text(at) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption] + [e.value for e in at.title]
    parts += [e.value for e in at.header] + [e.value for e in at.subheader]
    parts += [e.value for e in at.info] + [e.value for e in at.warning] + [e.value for e in at.error]
    return "\n".join(str(p) for p in parts)


def test_overview_shows_the_known_figures(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    assert not at.exception
    assert at.title[0].value == "Vue d'ensemble — Territoire d'essai"
    got = metrics(at)
    assert got["Observations"] == str(EXPECTED["observations"])
    assert got["Espèces"] == str(EXPECTED["species"])
    assert got["Observateurs"] == str(EXPECTED["observers"])
    assert got["Part « recherche »"] == EXPECTED["research_share_pct"]
    assert got["Communes couvertes"] == "3 / 3"
    text = all_text(at)
    assert "Dernière mise à jour : 02/01/2026" in text
    assert "Données de démonstration" not in text
    tables = [m.value for m in at.markdown if "<table" in m.value]
    groups, years, new = tables
    assert "<td>Oiseaux</td><td><div class=\"bd-b\"><span style=\"width:100%\"></span><b>4</b>" in groups
    assert "<td>Plantes</td>" in groups and "<td>Mammifères</td>" not in groups
    row_2024 = years.split("<td>2024</td>")[1].split("</tr>")[0]
    assert "<b>3</b>" in row_2024 and "<b>2</b>" in row_2024           # observations, species
    assert 'title="avr. : 1"' in row_2024 and 'title="juil. : 2"' in row_2024
    assert "<td>Papilio machaon</td>" in new and "<td>01/01/" in new and "Merops" not in new
    html = maps_shown["overview_map"]
    assert "Alpha" in html and "Beta" in html and "Gamma" in html and "Delta" not in html


def test_map_page_draws_points_with_popups_and_overlays(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "carte.py").run()
    assert not at.exception
    assert at.title[0].value == "Carte des observations"
    html = maps_shown["main_map"]
    assert "Site ZSC d'essai" in html and "Site ZPS d'essai" in html
    assert "Natura 2000 ZSC (directive Habitats)" in html and "L.control.layers" in html
    assert html.count("Voir sur iNaturalist") == 1                  # only obs 11 has a URL
    assert "Rougegorge familier" in html and "static.inaturalist.org/photos/11" in html
    assert "alice" in html                                            # logins shown outside public mode
    assert "3.11, 43.11" not in html and "3.11,43.11" not in html     # obscured point not drawn
    captions = all_text(at)
    assert "8 observations affichées en points" in captions
    assert "1 observations à localisation floutée" in captions
    at.radio(key="map_measure").set_value("species").run()
    assert "Espèces" in maps_shown["main_map"]


def test_map_page_aggregates_above_the_point_limit(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db, point_limit=5).run()
    at.switch_page(PAGES + "carte.py").run()
    assert not at.exception
    assert "regroupées par mailles" in all_text(at)
    html = maps_shown["main_map"]
    assert "Voir sur iNaturalist" not in html and "Observations (grille)" in html


def test_commune_sheet_compares_with_territory(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "fiche_commune.py").run()
    assert not at.exception
    box = at.selectbox(key="sheet_commune")
    assert box.options == ["Alpha (T0001)", "Beta (T0002)", "Gamma (T0003)"]
    box.set_value(area_id(fixture_db, "T0002")).run()
    got = metrics(at)
    assert got["Observations"] == "3" and got["Espèces"] == "3"
    comparison = frame(at, "Indicateur").set_index("Indicateur")
    assert comparison.loc["Observations", "Territoire"] == "9"
    assert comparison.loc["Observations", "Part de la zone"] == "33 %"
    species = frame(at, "Statut")
    assert set(species["Nom scientifique"]) == {"Quercus ilex", "Timon lepidus", "Erithacus rubecula"}
    assert "Beta" in maps_shown["sheet_map_commune"]


def test_site_sheet(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "fiche_site.py").run()
    assert not at.exception
    box = at.selectbox(key="sheet_n2000_zps")
    assert "Site ZSC d'essai (FR9990001)" in box.options
    box.set_value(area_id(fixture_db, "FR9990001")).run()
    assert metrics(at)["Observations"] == "3" and metrics(at)["Espèces"] == "2"
    assert "Natura 2000 ZSC" in all_text(at)


def test_species_sheet(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "fiche_espece.py").run()
    assert not at.exception
    at.selectbox(key="species_sheet").set_value(6).run()
    got = metrics(at)
    assert got["Observations"] == "2" and got["Communes"] == "2 / 3"
    assert "**Dernière observation** : 08/08/2025" in all_text(at)
    assert at.header[0].value == "Rougegorge familier"
    where = frame(at, "Nom")
    assert set(where["Nom"]) == {"Beta", "Gamma", "Site ZSC d'essai", "Site ZPS d'essai"}


def test_workshop_mode_big_figures_and_public_mode(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db, public_mode=True, refresh_seconds=30).run()
    at.switch_page(PAGES + "atelier.py").run()
    assert not at.exception
    text = all_text(at)
    assert '<div class="v">9</div><div class="l">observations</div>' in text
    assert '<div class="v">1</div><div class="l">nouvelles espèces en' in text
    assert "Machaon" in text and "toutes les 30 s" in text
    assert "observateur masqué" in text and "dave" not in text
    assert "alice" not in maps_shown["atelier_map"]
    assert not at.sidebar.multiselect                                  # no filters on the projection screen


def test_filters_are_shared_across_pages(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.multiselect(key="w_groups").set_value(["Oiseaux"]).run()
    assert metrics(at)["Observations"] == "4"
    at.switch_page(PAGES + "atelier.py").run()                        # a page without the sidebar
    at.switch_page(PAGES + "vue_ensemble.py").run()
    assert at.multiselect(key="w_groups").value == ["Oiseaux"]
    assert metrics(at)["Observations"] == "4"
    at.switch_page(PAGES + "carte.py").run()
    assert maps_shown["main_map"].count("Voir sur iNaturalist") == 1   # obs 11 is a bird
    assert "Chêne vert" not in maps_shown["main_map"]


def test_filters_wait_for_the_map_at_a_session_first_run_only(monkeypatch, tmp_path, fixture_db):
    """The first run of a session pauses after the page's content, then draws the filters;
    later runs, on any page, draw them at once; a page without the sidebar does not pause."""
    pauses: list[float] = []
    monkeypatch.setattr(dash_app, "_pause", pauses.append)
    at = app_for(monkeypatch, tmp_path, fixture_db)
    at.switch_page(PAGES + "atelier.py").run()
    assert pauses == [] and not at.sidebar.multiselect
    at.switch_page(PAGES + "carte.py").run()
    assert pauses == [dash_app.FILTERS_DELAY_S]
    assert at.multiselect(key="w_groups") is not None and at.sidebar.date_input
    at.multiselect(key="w_groups").set_value(["Oiseaux"]).run()
    at.switch_page(PAGES + "vue_ensemble.py").run()
    assert pauses == [dash_app.FILTERS_DELAY_S]
    assert at.multiselect(key="w_groups").value == ["Oiseaux"] and metrics(at)["Observations"] == "4"
    # the pause comes after the page's content: the map is sent before it
    order: list[str] = []
    monkeypatch.setattr(dash_app, "_pause", lambda s: order.append("pause"))
    monkeypatch.setattr(ui, "show_map", lambda m, key, height=560: order.append(key))
    app_for(monkeypatch, tmp_path, fixture_db).switch_page(PAGES + "carte.py").run()
    assert order == ["main_map", "pause"]


def test_demo_banner_on_every_page(monkeypatch, tmp_path):
    db = build_fixture_db(tmp_path / "demo.duckdb", demo=True)
    at = app_for(monkeypatch, tmp_path, db).run()
    for page in ["vue_ensemble", "carte", "fiche_commune", "fiche_site", "fiche_espece", "atelier"]:
        at.switch_page(PAGES + page + ".py").run()
        assert not at.exception, page
        assert any("Données de démonstration (fictives)" in w.value for w in at.warning), page


def test_missing_database_says_what_to_run(monkeypatch, tmp_path):
    at = app_for(monkeypatch, tmp_path, tmp_path / "nothing.duckdb").run()
    assert not at.exception
    msg = at.error[0].value
    assert "Aucune base de données" in msg and "biodiv init" in msg and "biodiv demo" in msg


def test_empty_database_says_what_to_run(monkeypatch, tmp_path):
    db = build_fixture_db(tmp_path / "empty.duckdb", with_observations=False)
    at = app_for(monkeypatch, tmp_path, db).run()
    assert not at.exception
    assert "aucune observation" in at.info[0].value and "biodiv update" in at.info[0].value


def test_species_csv_for_spreadsheets():
    import pandas as pd

    from biodiv.dashboard.sheets import species_csv

    df = pd.DataFrame({"common_name_fr": ["Guêpier d'Europe"], "sci_name": ["Merops apiaster"],
                       "group": ["Oiseaux"], "observations": [3], "last_year": [2025],
                       "status": ["Protégée (PN)"], "species_key": [1]})
    text = species_csv(df).decode("utf-8-sig")
    assert text.splitlines() == [
        "Nom français;Nom scientifique;Groupe;Observations;Dernière année;Statut",
        "Guêpier d'Europe;Merops apiaster;Oiseaux;3;2025;Protégée (PN)",
    ]


def test_species_sheet_search_ignores_accents(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "fiche_espece.py").run()
    at.text_input(key="species_search").input("guepier").run()
    assert not at.exception
    assert at.selectbox(key="species_sheet").options == ["Guêpier d'Europe (Merops apiaster)"]
    assert metrics(at)["Observations"] == "2"                      # one of them obscured
    assert "Protégée (PN)" in all_text(at)
    at.text_input(key="species_search").input("zzz").run()
    assert "Aucune espèce ne correspond" in at.warning[-1].value


def test_reads_while_a_writer_works_and_sees_the_publication(monkeypatch, tmp_path, maps_shown):
    db = build_fixture_db(tmp_path / "live.duckdb")
    at = app_for(monkeypatch, tmp_path, db).run()
    assert metrics(at)["Observations"] == "9"
    store = Store(db)
    with store.write() as con:                                         # a harvest in progress
        con.execute(
            """INSERT INTO observations (id, observed_on, quality_grade, taxon_id, lon, lat, user_id,
                                         user_login, in_territory, needs_attach)
               VALUES (12, DATE '2025-09-09', 'research', 2, 3.01, 43.01, 16, 'gina', true, false)""")
        con.execute("INSERT INTO observation_areas VALUES (12, 1, 'certain')")
        at.run()                                                       # no lock error, old snapshot
        assert not at.exception and not at.error
        assert metrics(at)["Observations"] == "9"
    at.run()                                                           # published: the new file is read
    assert metrics(at)["Observations"] == "10" and metrics(at)["Observateurs"] == "5"


def test_corrupt_database_is_a_clear_message(monkeypatch, tmp_path):
    bad = tmp_path / "corrupt.duckdb"
    bad.write_bytes(b"this is not a database" * 100)
    at = app_for(monkeypatch, tmp_path, bad).run()
    assert not at.exception
    msg = at.error[0].value
    assert msg.startswith("La base de données ne peut pas être lue") and "not a readable DuckDB database" in msg
    assert bad.read_bytes() == b"this is not a database" * 100        # left untouched


def test_period_filter(monkeypatch, tmp_path, fixture_db, maps_shown):
    from datetime import date

    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    assert at.date_input(key="w_period").value == (date(2023, 5, 10), date(THIS_YEAR, 1, 1))
    at.date_input(key="w_period").set_value((date(2024, 1, 1), date(2024, 12, 31))).run()
    assert metrics(at)["Observations"] == "3"
    assert "Filtres actifs : du 01/01/2024 au 31/12/2024" in all_text(at)
