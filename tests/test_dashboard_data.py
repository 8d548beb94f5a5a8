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
    assert ids_of(con, Filters()) == [1, 2, 3, 4, 5, 6, 7, 8, 11]      # default quality: casual 12 left out
    assert ids_of(con, Filters(quality=())) == [1, 2, 3, 4, 5, 6, 7, 8, 11, 12]
    assert ids_of(con, Filters(groups=("Aves",))) == [1, 6, 8, 11]
    assert ids_of(con, Filters(species=(6,))) == [6, 11]            # subspecies counts for its species
    assert ids_of(con, Filters(quality=("needs_id", "casual"))) == [3, 5, 7, 12]
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
    assert len(data.map_points(con, Filters(), 3)) == 3


def test_national_grid_counts_cells_with_official_codes(con):
    """Each drawable observation in the Lambert-93 cell its point falls in (placed by hand
    with pyproj), never the obscured one; species and observation days per cell."""
    from pyproj import Transformer

    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    pts = data.map_points(con, Filters(), 100)
    expected: dict[str, int] = {}
    for lon, lat in zip(pts["lon"], pts["lat"]):
        x, y = to_l93.transform(lon, lat)
        code = f"1kmL93E{int(x // 1000):04d}N{int(y // 1000):04d}"
        expected[code] = expected.get(code, 0) + 1
    grid = data.grid_counts(con, Filters(), 1_000)
    assert dict(zip(grid["code"], grid["observations"])) == expected
    assert grid.attrs["unplaced"] == 1                                  # the obscured observation
    g10 = data.grid_counts(con, Filters(), 10_000)
    assert g10["observations"].sum() == 8 and all(c.startswith("10kmL93E0") for c in g10["code"])
    x, y = to_l93.transform(3.05, 43.05)                                # observation 2 (Quercus ilex)
    ix, iy = int(x // 10_000), int(y // 10_000)
    cell = data.cell_species(con, Filters(), 10_000, ix, iy)
    assert "Quercus ilex" in set(cell["sci_name"])
    obs = data.cell_observations(con, Filters(), 10_000, ix, iy)
    assert 2 in set(obs["id"]) and 8 not in set(obs["id"])


def test_imprecise_observations_stay_out_of_finer_cells(tmp_path):
    from biodiv.store.database import Store

    from helpers_dashboard import build_fixture_db

    db = build_fixture_db(tmp_path / "imprecise.duckdb")
    with Store(db).write() as w:
        w.execute("UPDATE observations SET positional_accuracy = 5000 WHERE id = 2")
    with Store(db).read() as c:
        assert data.grid_counts(c, Filters(), 1_000)["observations"].sum() == 7
        assert data.grid_counts(c, Filters(), 10_000)["observations"].sum() == 8


def test_survey_effort_per_commune(con):
    """Observation days = distinct (observer, day): Alpha has alice 10/05/2023, bob 15/06/2023,
    dave 01/01 this year (obs 9 removed) → 3 days over 90 km²."""
    m = data.area_measures(con, Filters(), "commune").set_index("code")
    assert m.loc["T0001", "obs_days"] == 3 and m.loc["T0001", "observers"] == 3
    assert abs(m.loc["T0001", "effort"] - 3 / 90) < 1e-9


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
    assert info["observations_in_territory"] == 10 and info["observations_removed"] == 1   # every grade
    sp = data.species_info(con, 6)
    assert sp["common_name_fr"] == "Rougegorge familier"
    assert sp["photo_url"].endswith("/11/square.jpg")


def test_monthly_strip():
    months = pd.DataFrame({"month": [date(2024, 4, 1), date(2024, 7, 1), date(2025, 3, 1)],
                           "observations": [1, 2, 5]})
    strip = data.monthly_by_year(months).set_index("year")
    assert strip.loc[2024, "months"] == [0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0]
    assert strip.loc[2025, "months"][2] == 5
    assert data.monthly_by_year(months.iloc[0:0]).empty


def test_latest_with_photo_only(con):
    assert list(data.latest_observations(con, 5, with_photo=True)["id"]) == [11]
