"""With TAXREF imported (`biodiv refs import TAXREFvNN.txt`), the species lists and the Fiche
espèce show TAXREF's French name and INPN group (GROUP2_INPN); species TAXREF does not know
keep their iNaturalist names. The TAXREF file is built at test time from the real
protected-species list (../shared/data/conservation), as tests/test_analysis_taxref.py does.

By hand, from that list: Merops apiaster (CD_REF 3582) "Guêpier d'Europe", Oiseaux;
Erithacus rubecula (4001) "Rougegorge familier", Oiseaux; Timon lepidus (79273) "Lézard
ocellé (Le)" shown without its article, group "Autres" (the list's "faune non-oiseau").
Quercus ilex and Papilio machaon are not in the list.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from biodiv.analysis.taxref import import_taxref
from biodiv.dashboard import data, maps
from biodiv.store.database import Store

from helpers_analysis import taxref_from_protection_list
from helpers_dashboard import build_fixture_db
from test_dashboard_app import PAGES, all_text, app_for, maps_shown  # noqa: F401 (fixture)

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def taxref_db(tmp_path_factory) -> Path:
    from conftest import shared_data_dir

    if shared_data_dir() is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    tmp = tmp_path_factory.mktemp("dash_taxref")
    path = tmp / "TAXREFv18.txt"
    taxref_from_protection_list(shared_data_dir() / "conservation" / "liste-especes-protegees-france.csv", path)
    db = build_fixture_db(tmp / "fixture.duckdb")
    with Store(db).write() as con:
        # iNaturalist's own French name differs from TAXREF's: which one is shown says which is read
        con.execute("UPDATE taxa SET common_name_fr = 'Guêpier' WHERE id = 1")
        report = import_taxref(con, path)
    assert report.n_matched >= 3
    return db


def test_species_list_uses_taxref_names_and_groups_else_inaturalist(taxref_db):
    with Store(taxref_db).read() as con:
        sl = data.species_list(con).set_index("sci_name")
        new = data.new_species(con, 2023).set_index("sci_name")
        opts = data.species_options(con)
        info = data.species_info(con, 3)
    assert sl.loc["Merops apiaster", "common_name_fr"] == "Guêpier d'Europe"      # TAXREF, not "Guêpier"
    assert sl.loc["Merops apiaster", "group"] == "Oiseaux"
    assert sl.loc["Timon lepidus", "common_name_fr"] == "Lézard ocellé"           # "(Le)" left out
    assert sl.loc["Timon lepidus", "group"] == "Autres"                           # INPN group, not "Reptiles"
    assert sl.loc["Erithacus rubecula", "common_name_fr"] == "Rougegorge familier"
    assert sl.loc["Quercus ilex", "common_name_fr"] == "Chêne vert" and sl.loc["Quercus ilex", "group"] == "Plantes"
    assert sl.loc["Papilio machaon", "group"] == "Insectes"                       # not in TAXREF: iNaturalist's
    assert new.loc["Merops apiaster", "common_name_fr"] == "Guêpier d'Europe"
    assert "Guêpier d'Europe (Merops apiaster)" in set(opts["label"])
    assert (info["common_name_fr"], info["group"], info["cd_ref"]) == ("Lézard ocellé", "Autres", "79273")


def test_without_taxref_the_inaturalist_names_are_shown(tmp_path):
    db = build_fixture_db(tmp_path / "plain.duckdb")
    with Store(db).read() as con:
        sl = data.species_list(con).set_index("sci_name")
        info = data.species_info(con, 3)
    assert sl.loc["Timon lepidus", "group"] == "Reptiles" and sl.loc["Merops apiaster", "common_name_fr"] == "Guêpier d'Europe"
    assert info["cd_ref"] is None and info["group"] == "Reptiles"


def test_species_sheet_and_commune_list_show_taxref(monkeypatch, tmp_path, taxref_db):
    at = app_for(monkeypatch, tmp_path, taxref_db).run()
    at.switch_page(PAGES + "fiche_espece.py").run()
    at.selectbox(key="species_sheet").set_value(3).run()
    assert not at.exception
    assert at.header[0].value == "Lézard ocellé"
    text = all_text(at)
    assert "*Timon lepidus* · Autres · [fiche INPN (TAXREF 79273)](https://inpn.mnhn.fr/espece/cd_nom/79273)" in text
    at.switch_page(PAGES + "fiche_commune.py").run()
    species = next(d.value for d in at.dataframe if "Statut" in d.value.columns).set_index("Nom scientifique")
    assert species.loc["Merops apiaster", "Nom français"] == "Guêpier d'Europe"
    assert species.loc["Merops apiaster", "Groupe"] == "Oiseaux"


def test_map_popups_and_observation_lists_use_taxref_names(taxref_db, tmp_path):
    """A popup, the latest observations and a grid cell's list name an observation as the
    species lists do: TAXREF's name for its own taxon, else for its species (observation 6 is
    the subspecies witherbyi, which iNaturalist leaves unnamed in French); TAXREF's group."""
    with Store(taxref_db).read() as con:
        points = data.map_points(con, data.ALL_OBSERVATIONS, 100).set_index("id")
        latest = data.latest_observations(con, 20, data.ALL_OBSERVATIONS).set_index("id")
        cells = data.grid_counts(con, data.ALL_OBSERVATIONS, 10_000)
        cell = data.cell_observations(con, data.ALL_OBSERVATIONS, 10_000, cells["ix"][0], cells["iy"][0])
    assert points.loc[1, "common_name_fr"] == "Guêpier d'Europe"          # not iNaturalist's "Guêpier"
    assert points.loc[6, "common_name_fr"] == "Rougegorge familier"       # the subspecies: its species' name
    assert points.loc[4, "common_name_fr"] == "Lézard ocellé" and points.loc[4, "group"] == "Autres"
    assert points.loc[2, "common_name_fr"] == "Chêne vert" and points.loc[2, "group"] == "Plantes"
    assert "<b>Guêpier d&#x27;Europe</b><br><i>Merops apiaster</i>" in maps.popup_html(points.loc[1].to_dict())
    assert latest.loc[8, "common_name_fr"] == "Guêpier d'Europe" and latest.loc[4, "group"] == "Autres"
    assert list(latest.index) == sorted(latest.index, key=lambda i: (latest.loc[i, "observed_on"], i), reverse=True)
    assert list(latest.reset_index().columns[:5]) == ["id", "observed_on", "common_name_fr", "sci_name", "group"]
    named = dict(zip(cell["sci_name"], cell["common_name_fr"]))
    assert named.get("Merops apiaster", "Guêpier d'Europe") == "Guêpier d'Europe" and len(cell) > 0
    assert "Guêpier" not in set(cell["common_name_fr"])


def test_without_taxref_popups_keep_inaturalist_names(tmp_path):
    db = build_fixture_db(tmp_path / "plain.duckdb")
    with Store(db).read() as con:
        points = data.map_points(con, data.ALL_OBSERVATIONS, 100).set_index("id")
        latest = data.latest_observations(con, 20, data.ALL_OBSERVATIONS).set_index("id")
    assert points.loc[4, "common_name_fr"] == "Lézard ocellé" and points.loc[4, "group"] == "Reptiles"
    assert pd.isna(points.loc[6, "common_name_fr"])                     # iNaturalist has no French name
    assert latest.loc[1, "common_name_fr"] == "Guêpier d'Europe" and latest.loc[1, "group"] == "Oiseaux"


def test_workshop_screen_and_map_popups_show_taxref_names(monkeypatch, tmp_path, taxref_db, maps_shown):
    at = app_for(monkeypatch, tmp_path, taxref_db).run()
    at.switch_page(PAGES + "carte.py").run()
    assert not at.exception
    popups = next(html for key, html in maps_shown.items() if key.startswith("main_map"))
    assert "<b>Guêpier d&#x27;Europe</b>" in popups and "<b>Guêpier</b>" not in popups
    at.switch_page(PAGES + "atelier.py").run()
    assert not at.exception
    text = all_text(at)
    # the latest observations, one per species (atelier.LATEST_ROWS): 7 Machaon, 11 Rougegorge,
    # 8 Merops apiaster (2025), 5 Quercus
    assert "Guêpier d&#x27;Europe" in text and ">Guêpier<" not in text
