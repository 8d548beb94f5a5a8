"""« Espèces du territoire » (issue 26 item 5): the territory's species list with group and
status filters, red-list categories as IUCN codes with French labels; and the threatened
status shown beside a protection on every species list."""

from __future__ import annotations

from pathlib import Path

import pytest

from biodiv.dashboard import data
from biodiv.demo import build_demo
from biodiv.store.database import Store
from test_dashboard_app import PAGES, app_for, maps_shown  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("especes") / "demo.duckdb"
    build_demo(path)
    return path


def test_flags_follow_the_statuses(demo):
    with Store(demo).read() as con:
        df = data.territory_species(con)
        statuses = con.execute("SELECT taxon_id, kind, code FROM taxon_statuses").fetchall()
    protected = {t for t, k, _ in statuses if k == "protected"}
    redlisted = {t for t, k, c in statuses if c.split()[0].upper() in ("CR", "EN", "VU")}
    assert set(df.loc[df["protected"], "species_key"]) == protected & set(df["species_key"])
    assert redlisted & set(df["species_key"]) <= set(df.loc[df["threatened"], "species_key"])
    assert set(df.loc[df["patrimonial"], "species_key"]) >= set(df.loc[df["protected"], "species_key"])
    row = df[df["sci_name"] == "Emys orbicularis"].iloc[0]
    assert row["status"] == "Protégée (PN), VU — Vulnérable"


def test_a_protected_species_flagged_threatened_by_inaturalist_shows_both(demo, tmp_path):
    copy = tmp_path / "demo.duckdb"
    copy.write_bytes(demo.read_bytes())
    with Store(copy).write() as con:
        key = con.execute("SELECT t.id FROM taxa t JOIN taxon_statuses s ON s.taxon_id = t.id "
                          "WHERE s.kind = 'protected' AND t.id NOT IN (SELECT taxon_id FROM taxon_statuses "
                          "WHERE kind = 'threatened') LIMIT 1").fetchone()[0]
        con.execute("UPDATE taxa SET threatened = true, conservation_status = 'en' WHERE id = ?", [key])
    with Store(copy).read() as con:
        row = data.species_list(con).set_index("species_key").loc[key]
    assert "Protégée" in row["status"] and "Menacée (EN)" in row["status"]


def test_the_page_filters_by_status_and_group(monkeypatch, tmp_path, demo, maps_shown):
    at = app_for(monkeypatch, tmp_path, demo).run()
    at.switch_page(PAGES + "especes.py").run()
    assert not at.exception
    assert at.title[0].value.startswith("Espèces du territoire")
    with Store(demo).read() as con:
        df = data.territory_species(con)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Espèces"] == str(len(df))
    at.radio(key="sp_status").set_value("Protégées").run()
    assert {m.label: m.value for m in at.metric}["Espèces"] == str(int(df["protected"].sum()))
    shown = at.dataframe[0].value
    assert len(shown) == int(df["protected"].sum())
    at.multiselect(key="sp_groups").set_value(["Reptiles"]).run()
    shown = at.dataframe[0].value
    assert len(shown) == int((df["protected"] & (df["group"] == "Reptiles")).sum()) > 0
    assert set(shown["Groupe"]) == {"Reptiles"}
