"""Every dashboard page in Streamlit's AppTest, on the fixture database with known figures.

The st_folium component is opaque in AppTest, so the map HTML is captured where the app
hands it to st_folium (``ui.show_map``) and asserted on.
"""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from biodiv.config import Config, DashboardConfig
from biodiv.dashboard import pacing
from biodiv.dashboard import ui
from biodiv.store.database import Store

from helpers_dashboard import EXPECTED, THIS_YEAR, build_fixture_db

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = "biodiv/dashboard/pages/"


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("dash_app") / "fixture.duckdb")


CLICKS: dict[str, dict] = {}   # st_folium key -> properties of the feature "clicked"


@pytest.fixture
def maps_shown(monkeypatch) -> dict[str, str]:
    """Map HTML by st_folium key, as the app renders it."""
    shown: dict[str, str] = {}
    original = ui.show_map

    def capture(m, key, height=560, clicks=False):
        # folium writes GeoJSON with \uXXXX escapes: decode them to assert on the text
        shown[key] = re.sub(r"\\u([0-9a-fA-F]{4})", lambda x: chr(int(x.group(1), 16)),
                            m.get_root().render())
        original(m, key, height, clicks)
        # a click is simulated by a test setting CLICKS[key] (st_folium is opaque in AppTest)
        return CLICKS.get(key) if clicks else None

    monkeypatch.setattr(ui, "show_map", capture)
    CLICKS.clear()
    yield shown
    CLICKS.clear()


def app_for(monkeypatch, tmp_path, db: Path, **dashboard) -> AppTest:
    cfg = Config(dashboard=DashboardConfig(**dashboard))
    cfg.save(tmp_path / f"biodiv-{abs(hash(tuple(sorted(dashboard.items()))))}.toml")
    monkeypatch.setenv("BIODIV_DB", str(db))
    monkeypatch.setenv("BIODIV_CONFIG", str(cfg.source_file))
    monkeypatch.setattr(pacing, "DELAY_S", 0.0)   # no browser here: no map to wait for
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


def charts(at) -> list[dict]:
    """The Vega-Lite charts of the page: title, axis titles, and data rows (Arrow datasets)."""
    import json

    import pyarrow as pa

    out = []
    for el in at.get("vega_lite_chart"):
        spec = json.loads(el.proto.spec)
        rows = []
        for ds in el.proto.datasets:
            rows += pa.ipc.open_stream(ds.data.data).read_all().to_pylist()
        title = spec.get("title")
        out.append({"spec": spec, "rows": rows, "title": title.get("text") if isinstance(title, dict) else title})
    return out


def axis_titles(chart: dict) -> set[str]:
    spec = chart["spec"].get("spec", chart["spec"])
    return {v["title"] for k, v in spec["encoding"].items() if k in ("x", "y") and v.get("title")}


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
    assert "Dernière mise à jour : 02/01/2026 à 11:00" in text          # 10:00 UTC, in Paris
    assert "Données de démonstration" not in text
    tables = [m.value for m in at.markdown if "<table" in m.value]
    groups, new = tables
    assert "<td>Oiseaux</td><td><div class=\"bd-b\"><span style=\"width:100%\"></span><b>4</b>" in groups
    assert "<td>Plantes</td>" in groups and "<td>Mammifères</td>" not in groups
    assert "<td>Papilio machaon</td>" in new and "<td>01/01/" in new and "Merops" not in new
    assert "1 espèce observée pour la première fois" in text and "espèce(s)" not in text
    # the charts: hand-computed from the fixture (2024: observations 3, 4, 5 → 3 obs, 2 species,
    # 3 observers; July: 2 observations, a reptile and a plant)
    months, years = charts(at)
    assert months["title"] == "Observations par mois de l'année"
    assert axis_titles(months) == {"Mois", "Nombre d'observations"}
    by_month = {}
    for r in months["rows"]:
        by_month[r["mois"]] = by_month.get(r["mois"], 0) + r["observations"]
    assert by_month == {"janv.": 1, "mars": 1, "avr.": 1, "mai": 2, "juin": 1, "juil.": 2, "août": 1}
    assert years["title"] == "Évolution par année" and axis_titles(years) == {"Année", "Nombre"}
    y2024 = {r["indicateur"]: r["n"] for r in years["rows"] if r["année"] == "2024"}
    assert y2024 == {"Observations": 3, "Espèces": 2, "Observateurs": 3}
    html = maps_shown["overview_map"]
    assert "Alpha" in html and "Beta" in html and "Gamma" in html and '"name": "Delta"' not in html


MAIN_MAP = "main_map_communes:observations"


def test_map_page_draws_one_layer_with_points_legend_and_overlays(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "carte.py").run()
    assert not at.exception
    assert at.title[0].value == "Carte des observations"
    html = maps_shown[MAIN_MAP]
    assert "Site ZSC d'essai" in html and "Site ZPS d'essai" in html
    assert "Natura 2000 ZSC (directive Habitats)" in html and "L.control.layers" in html
    assert html.count("Voir sur iNaturalist") == 1                  # only obs 11 has a URL
    assert "Rougegorge familier" in html and "static.inaturalist.org/photos/11" in html
    assert "alice" in html                                            # logins shown outside public mode
    assert "3.11, 43.11" not in html and "3.11,43.11" not in html     # obscured point not drawn
    assert html.count("biodiv-legend") == 1                           # one legend, inside the map
    assert "imperial\": false" in html or "imperial: false" in html
    assert "contributeurs iNaturalist" in html and "IGN" in html and "INPN" in html
    assert '"collapsed": true' in html
    named = re.findall(r'\[[0-9.]+, [0-9.]+, "(\w+)"\]', html)     # the names layer's points
    assert sorted(named) == ["Alpha", "Beta", "Gamma"]       # the territory's communes named
    captions = all_text(at)
    assert "8 observations affichées en points" in captions
    assert "1 observation à localisation floutée" in captions
    at.radio(key="map_layer").set_value("communes:species").run()
    assert "Espèces" in maps_shown["main_map_communes:species"]


def test_map_page_grid_layer_and_a_click_on_a_cell(monkeypatch, tmp_path, fixture_db, maps_shown):
    from biodiv.dashboard.grid import cell_code, l93

    at = app_for(monkeypatch, tmp_path, fixture_db, point_limit=5).run()
    at.switch_page(PAGES + "carte.py").run()
    assert "affichées en points" not in all_text(at)               # above the limit: no points, no grid
    at.radio(key="map_layer").set_value("grid:10000").run()
    assert not at.exception
    html = maps_shown["main_map_grid:10000"]
    assert "Voir sur iNaturalist" not in html and "Mailles 10 km" in html
    assert html.count("biodiv-legend") == 1 and "Observations par maille de 10 km" in html
    # the two Quercus ilex observations 2 (3.05, 43.05) and 3 (3.15, 43.05), hand-placed
    code2 = cell_code(10_000, *(int(v // 10_000) for v in l93(3.05, 43.05)))
    assert code2 in html and code2.startswith("10kmL93E0")
    CLICKS["main_map_grid:10000"] = {"kind": "cell", "code": code2}
    at.radio(key="map_layer").set_value("grid:10000").run()
    assert not at.exception
    assert any(h.value == f"Maille {code2}" for h in at.subheader)
    cell = frame(at, "Nom scientifique")
    assert "Quercus ilex" in set(cell["Nom scientifique"])


def test_survey_effort_lists_the_least_surveyed_communes_and_cells(monkeypatch, tmp_path, fixture_db, maps_shown):
    """Observation days (observer × day): Alpha 3, Beta 3, Gamma 2 over 90 km² each; the
    territory 9 over 270 km² (the obscured observation counts for the territory only)."""
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "carte.py").run()
    at.radio(key="map_layer").set_value("communes:effort").run()
    assert not at.exception
    assert "Jours d'observation par km²" in maps_shown["main_map_communes:effort"]
    text = all_text(at)
    assert "peu prospectés" in text and "pauvre" not in text.replace("pas forcément pauvres", "")
    table = frame(at, "Par rapport au territoire")
    first = table.iloc[0]
    assert first["Commune"] == "Gamma" and first["Jours d'observation"] == "2"
    assert first["Jours d'observation par km²"] == "0,02" and first["Par rapport au territoire"] == "67 % de la moyenne"
    assert set(table["Par rapport au territoire"].iloc[1:]) == {"100 % de la moyenne"}
    at.radio(key="map_layer").set_value("grid:10000").run()
    assert not at.exception
    cells = frame(at, "Maille")
    assert all(c.startswith("10kmL93E") for c in cells["Maille"])
    assert "sans aucune observation localisée à 10 km près" in all_text(at)


def test_a_click_on_a_commune_opens_its_sheet(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "carte.py").run()
    CLICKS[MAIN_MAP] = {"kind": "commune", "code": "T0002", "name": "Beta"}
    at.radio(key="map_layer").set_value("communes:observations").run()
    assert not at.exception
    assert at.title[0].value == "Fiche commune"
    assert at.query_params["commune"] == ["T0002"] or at.query_params["commune"] == "T0002"
    assert at.header[0].value == "Beta"


def test_commune_sheet_compares_with_territory(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "fiche_commune.py").run()
    assert not at.exception
    box = at.selectbox(key="sheet_commune")
    assert box.options == ["Alpha (T0001)", "Beta (T0002)", "Gamma (T0003)"]
    box.set_value(area_id(fixture_db, "T0002")).run()
    got = metrics(at)
    assert got["Observations"] == "3" and got["Espèces"] == "3"
    # Indicateur | Cette zone | Territoire | Part de la zone (an HTML table: see pacing)
    assert "<td>Observations</td><td>3</td><td>9</td><td>33 %</td>" in all_text(at)
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


def test_workshop_mode_big_figures_no_login_new_species_and_qr(monkeypatch, tmp_path, fixture_db, maps_shown):
    pytest.importorskip("segno")       # a dependency since this test: older venvs lack it
    cfg = Config(dashboard=DashboardConfig(public_mode=False, refresh_seconds=30))
    cfg.inaturalist.project_id = 4242
    cfg.save(tmp_path / "atelier.toml")
    monkeypatch.setenv("BIODIV_DB", str(fixture_db))
    monkeypatch.setenv("BIODIV_CONFIG", str(cfg.source_file))
    monkeypatch.setattr(pacing, "DELAY_S", 0.0)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(PAGES + "atelier.py").run()
    assert not at.exception
    text = all_text(at)
    assert '<div class="v">9</div><div class="l">observations</div>' in text
    assert '<div class="v">1</div><div class="l">nouvelle espèce en' in text
    assert "Machaon" in text and "nouvelle espèce !" in text and "atl-new" in text
    assert "toutes les 30 s" in text and "données " in text          # the one-line status
    # public mode is off in the configuration, yet no login reaches the room
    for login in ("alice", "bob", "carol", "dave"):
        assert login not in text and login not in maps_shown["atelier_map"]
    assert "<svg" in text and "Rejoignez le projet iNaturalist" in text      # QR code, inline
    # the legend beside the map (not inside it), names at 28 px
    assert "biodiv-legend" not in maps_shown["atelier_map"] and 'class="atl-legend"' in text
    assert "font:28px" in maps_shown["atelier_map"].replace("font:600 28px", "font:28px")
    assert not at.sidebar.multiselect                                  # no filters on the projection screen
    # bioblitz from 00:00 today: only this year's 01/01 observation counts if today is 01/01,
    # none otherwise (every other fixture observation is older)
    at.toggle(key="bioblitz_on").set_value(True).run()
    at.time_input(key="bioblitz_start").set_value(time(0, 0)).run()
    expected = 1 if date.today() == date(THIS_YEAR, 1, 1) else 0
    assert f'<div class="v">{expected}</div><div class="l">observation' in all_text(at)
    assert "Bioblitz : observations depuis aujourd'hui 00:00" in all_text(at)


def test_filters_are_shared_across_pages(monkeypatch, tmp_path, fixture_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.multiselect(key="w_groups").set_value(["Oiseaux"]).run()
    assert metrics(at)["Observations"] == "4"
    at.switch_page(PAGES + "atelier.py").run()                        # a page without the sidebar
    at.switch_page(PAGES + "vue_ensemble.py").run()
    assert at.multiselect(key="w_groups").value == ["Oiseaux"]
    assert metrics(at)["Observations"] == "4"
    at.switch_page(PAGES + "carte.py").run()
    assert maps_shown[MAIN_MAP].count("Voir sur iNaturalist") == 1   # obs 11 is a bird
    assert "Chêne vert" not in maps_shown[MAIN_MAP]


def test_filters_wait_for_the_map_at_a_session_first_run_only(monkeypatch, tmp_path, fixture_db):
    """The first run of a session pauses after the page's content, then draws the filters;
    later runs, on any page, draw them at once; a page without the sidebar does not pause."""
    pauses: list[float] = []
    monkeypatch.setattr(pacing, "_pause", pauses.append)
    at = app_for(monkeypatch, tmp_path, fixture_db)
    at.switch_page(PAGES + "atelier.py").run()
    assert pauses == [] and not at.sidebar.multiselect
    at.switch_page(PAGES + "carte.py").run()
    assert pauses == [pacing.DELAY_S]
    assert at.multiselect(key="w_groups") is not None and at.sidebar.slider
    at.multiselect(key="w_groups").set_value(["Oiseaux"]).run()
    at.switch_page(PAGES + "vue_ensemble.py").run()
    assert pauses == [pacing.DELAY_S]
    assert at.multiselect(key="w_groups").value == ["Oiseaux"] and metrics(at)["Observations"] == "4"
    # the pause comes after the page's content: the map is sent before it
    order: list[str] = []
    monkeypatch.setattr(pacing, "_pause", lambda s: order.append("pause"))
    monkeypatch.setattr(ui, "show_map", lambda m, key, height=560, clicks=False: order.append(key))
    app_for(monkeypatch, tmp_path, fixture_db).switch_page(PAGES + "carte.py").run()
    assert order == [MAIN_MAP, "pause"]


def test_demo_banner_on_every_page(monkeypatch, tmp_path):
    db = build_fixture_db(tmp_path / "demo.duckdb", demo=True)
    at = app_for(monkeypatch, tmp_path, db).run()
    for page in ["vue_ensemble", "carte", "fiche_commune", "fiche_site", "fiche_espece", "atelier"]:
        at.switch_page(PAGES + page + ".py").run()
        assert not at.exception, page
        assert any("Données de démonstration (fictives)" in w.value for w in at.warning), page


def test_communes_not_loaded_yet_says_which_command_to_run(monkeypatch, tmp_path, maps_shown):
    """After `biodiv init` for another territory: observations stored, no commune of the new
    territory imported. Every page says so in French, with the command; none crashes."""
    db = build_fixture_db(tmp_path / "no_communes.duckdb")
    with Store(db).write() as con:
        con.execute("DELETE FROM observation_areas WHERE area_id IN (SELECT id FROM areas WHERE type = 'commune')")
        con.execute("DELETE FROM areas WHERE type = 'commune'")
    at = app_for(monkeypatch, tmp_path, db).run()
    for page in ["vue_ensemble", "carte", "fiche_commune", "fiche_site", "fiche_espece", "atelier"]:
        at.switch_page(PAGES + page + ".py").run()
        assert not at.exception, (page, at.exception)
        msg = " ".join(i.value for i in at.info)
        assert "communes du territoire ne sont pas encore chargées" in msg, page
        assert "biodiv areas fetch" in msg and "biodiv update" in msg and "biodiv init" not in msg, page


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
               VALUES (20, DATE '2025-09-09', 'research', 2, 3.01, 43.01, 16, 'gina', true, false)""")
        con.execute("INSERT INTO observation_areas VALUES (20, 1, 'certain')")
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


def test_period_filter_and_the_new_species_follow_it(monkeypatch, tmp_path, fixture_db, maps_shown):
    from datetime import date

    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    assert at.slider(key="w_period").value == (date(2023, 5, 10), date(THIS_YEAR, 1, 1))
    at.slider(key="w_period").set_value((date(2024, 1, 1), date(2024, 12, 31))).run()
    assert metrics(at)["Observations"] == "3"
    text = all_text(at)
    assert "Filtres actifs : du 01/01/2024 au 31/12/2024" in text
    # first seen in 2024 over all data: Timon lepidus (20/07/2024) only (Quercus ilex: 2023;
    # the "Quercus" genus is no species)
    assert "Nouvelles espèces pour le territoire du 01/01/2024 au 31/12/2024" in text
    new = [m.value for m in at.markdown if "<table" in m.value][-1]
    assert "<td>Timon lepidus</td>" in new and "Quercus ilex" not in new and "Machaon" not in new


def test_widgets_carry_no_english(monkeypatch, tmp_path, fixture_db, maps_shown):
    """What Streamlit would print in English: the multiselects' "Select all" entry is off, and
    the period is a slider (Streamlit's calendar is English, weeks from Sunday)."""
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    assert not at.sidebar.date_input
    for box in at.sidebar.multiselect:
        assert box.proto.select_all == 0, box.label
        assert box.placeholder and not box.placeholder.startswith("Choose")


def test_active_filters_line_uses_french_plurals():
    from datetime import date as d

    from biodiv.dashboard import data

    f = data.Filters(species=(1,), communes=(1, 2), sites=(5,), date_from=d(2024, 1, 1), date_to=d(2024, 12, 31))
    line = ui.filters_summary(f)
    assert line == "Filtres actifs : du 01/01/2024 au 31/12/2024 · 1 espèce · 2 communes · 1 site Natura 2000"
    assert "(s)" not in ui.filters_summary(f.with_(species=(1, 2), sites=(1, 2)))
    assert "2 espèces" in ui.filters_summary(f.with_(species=(1, 2)))
    assert ui.filters_summary(data.NO_FILTERS) == ""             # the quality has its own line
