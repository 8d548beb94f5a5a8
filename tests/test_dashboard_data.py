"""The dashboard's SQL reads against a real DuckDB file whose figures are known."""

from __future__ import annotations

from datetime import date
import json

import pandas as pd
import pytest

from biodiv.dashboard import data
from biodiv.dashboard.data import Filters
from biodiv.store.database import Store

from helpers_dashboard import EXPECTED, THIS_YEAR, build_fixture_db


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    path = build_fixture_db(tmp_path_factory.mktemp("dash") / "fixture.duckdb")
    c = Store(path).reader()
    yield c
    c.close()


def ids_of(con, f):
    sql, params = data.filtered_sql(f)
    return sorted(r[0] for r in con.execute(f"SELECT id FROM ({sql})", params).fetchall())


def test_key_figures_exclude_removed_and_outside(con):
    k = data.key_figures(con)
    assert k["observations"] == EXPECTED["observations"]
    assert k["species"] == EXPECTED["species"]          # genus not counted, subspecies folded
    assert k["observers"] == EXPECTED["observers"]
    assert round(k["research_share"] * 100) == 67
    assert k["obscured"] == 1 and k["drawable"] == 8
    assert k["first_observed"] == date(2023, 5, 10)
    cov = data.coverage(data.area_measures(con))
    assert cov == {"communes_covered": 3, "communes_total": 3}


def test_each_filter_selects_the_expected_observations(con):
    assert ids_of(con, Filters()) == [1, 2, 3, 4, 5, 6, 7, 8, 11]
    assert ids_of(con, Filters(groups=("Aves",))) == [1, 6, 8, 11]
    assert ids_of(con, Filters(species=(6,))) == [6, 11]            # subspecies counts for its species
    assert ids_of(con, Filters(quality=("needs_id", "casual"))) == [3, 5, 7]
    assert ids_of(con, Filters(date_from=date(2024, 1, 1), date_to=date(2024, 12, 31))) == [3, 4, 5]
    alpha = con.execute("SELECT id FROM areas WHERE code = 'T0001'").fetchone()[0]
    zsc = con.execute("SELECT id FROM areas WHERE code = 'FR9990001'").fetchone()[0]
    assert ids_of(con, Filters(communes=(alpha,))) == [1, 2, 7]
    assert ids_of(con, Filters(sites=(zsc,))) == [2, 3, 11]
    assert ids_of(con, Filters(status_only=True)) == [1, 4, 7, 8]
    assert ids_of(con, Filters(certainty=("precise",))) == [1, 2, 3, 5, 6, 7, 11]
    assert ids_of(con, Filters(certainty=("edge",))) == [4]
    assert ids_of(con, Filters(certainty=("obscured",))) == [8]
    assert ids_of(con, Filters(groups=("Aves",), quality=("research",), status_only=True)) == [1, 8]


def test_series_per_year_month_group(con):
    years = data.per_year(con)
    assert dict(zip(years["year"], years["observations"])) == {2023: 2, 2024: 3, 2025: 3, THIS_YEAR: 1}
    ph = data.phenology(con)
    assert list(ph["month"]) == list(range(1, 13))
    assert ph.set_index("month").loc[7, "observations"] == 2
    groups = data.per_group(con).set_index("group")
    assert groups.loc["Oiseaux", "observations"] == 4 and groups.loc["Oiseaux", "species"] == 2
    assert groups.loc["Plantes", "observations"] == 3 and groups.loc["Plantes", "species"] == 1
    months = data.per_month(con)
    assert months["observations"].sum() == 9


def test_new_species_this_year(con):
    new = data.new_species(con, THIS_YEAR)
    assert list(new["sci_name"]) == ["Papilio machaon"]
    assert data.new_species(con, THIS_YEAR, Filters(groups=("Aves",))).empty
    assert set(data.new_species(con, 2023)["sci_name"]) == {"Merops apiaster", "Quercus ilex"}


def test_species_list_of_an_area_with_status(con):
    alpha = con.execute("SELECT id FROM areas WHERE code = 'T0001'").fetchone()[0]
    sl = data.species_list(con, Filters(area=alpha)).set_index("sci_name")
    assert set(sl.index) == {"Merops apiaster", "Quercus ilex", "Papilio machaon"}
    assert sl.loc["Merops apiaster", "status"] == "Protégée (PN)"
    assert sl.loc["Papilio machaon", "status"] == "Menacée (EN)"
    assert sl.loc["Papilio machaon", "last_year"] == THIS_YEAR
    assert sl.loc["Quercus ilex", "group"] == "Plantes"
    everything = data.species_list(con).set_index("sci_name")
    assert everything.loc["Timon lepidus", "status"] == "Menacée (VU)"   # from taxa.threatened
    assert everything.loc["Erithacus rubecula", "observations"] == 2


def test_area_measures_and_outlines(con):
    m = data.area_measures(con).set_index("code")
    assert list(m.index) == ["T0001", "T0002", "T0003"]                  # Delta is outside
    assert m.loc["T0002", "observations"] == 3
    assert m.loc["T0002", "per_km2"] == pytest.approx(3 / 90)
    assert pd.Timestamp(m.loc["T0003", "last_observed"]).date() == date(2025, 3, 3)
    fc = data.area_features(con, "commune")
    assert [f["properties"]["code"] for f in fc["features"]] == ["T0001", "T0002", "T0003"]
    assert json.dumps(fc).count("3.1") >= 2
    zps = data.area_features(con, "n2000_zps")
    assert zps["features"][0]["properties"]["name"] == "Site ZPS d'essai"


def test_points_never_include_obscured_and_grid_counts(con):
    pts = data.map_points(con, Filters(), 100)
    assert sorted(pts["id"]) == [1, 2, 3, 4, 5, 6, 7, 11]
    row = pts.set_index("id").loc[4]
    assert row["certainty"] == "edge"
    grid = data.map_grid(con, Filters(), 0.1)
    assert grid["observations"].sum() == 8
    assert len(data.map_points(con, Filters(), 3)) == 3


def test_species_search_ignores_case_and_accents(con):
    opts = data.species_options(con)
    assert "Guêpier d'Europe (Merops apiaster)" in set(opts["label"])
    assert list(data.search_species(opts, "guepier")["sci_name"]) == ["Merops apiaster"]
    assert list(data.search_species(opts, "TIMON")["sci_name"]) == ["Timon lepidus"]


def test_public_mode_masks_logins(con):
    latest = data.latest_observations(con, 3)
    assert latest.iloc[0]["user_login"] == "dave"
    masked = data.mask_observers(latest, True)
    assert set(masked["user_login"]) == {"observateur masqué"}
    assert latest.iloc[0]["user_login"] == "dave"                        # input untouched


def test_db_info_and_species_info(con):
    info = data.db_info(con)
    assert info["demo"] is False and info["territory"] == "Territoire d'essai"
    assert info["observations_in_territory"] == 9 and info["observations_removed"] == 1
    sp = data.species_info(con, 6)
    assert sp["common_name_fr"] == "Rougegorge familier"
    assert sp["photo_url"].endswith("/11/square.jpg")


def test_monthly_strip_and_grid_cell_size():
    from biodiv.dashboard.ui import grid_cell

    months = pd.DataFrame({"month": [date(2024, 4, 1), date(2024, 7, 1), date(2025, 3, 1)],
                           "observations": [1, 2, 5]})
    strip = data.monthly_by_year(months).set_index("year")
    assert strip.loc[2024, "months"] == [0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0]
    assert strip.loc[2025, "months"][2] == 5
    assert data.monthly_by_year(months.iloc[0:0]).empty
    assert grid_cell((3.43, 43.50, 3.75, 43.79)) == 0.01          # CCVH: ~900 cells of ~1 km
    big = grid_cell((2.5, 43.2, 4.2, 43.97))                       # a whole department
    assert big > 0.01 and (1.7 / big) * (0.77 / big) <= 3000


def test_latest_with_photo_only(con):
    assert list(data.latest_observations(con, 5, with_photo=True)["id"]) == [11]
