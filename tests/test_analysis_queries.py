"""Every named query on the hand-built fixture (tests/helpers_analysis.py), with expected
values computed by hand from the table in that module's docstring."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from biodiv.errors import BiodivError
from biodiv.analysis.queries import (
    QueryError, list_queries, load_query, lock_down, parse_query, queries_dir, run_query,
)
from helpers_analysis import build_fixture


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("analysis") / "biodiv.duckdb")


@pytest.fixture(scope="module")
def con(fixture_store):
    c = lock_down(fixture_store.reader())
    yield c
    c.close()


def _plain(v):
    """None for every kind of missing value (None, NaN, pandas NA/NaT), the value otherwise."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def rows(df, *cols):
    return [tuple(_plain(v) for v in r) for r in df[list(cols)].itertuples(index=False)]


def test_species_by_area(con):
    df = run_query(con, "species_by_area", {"area": "34002"})
    # verifiable: obs 3+4 (Quercus ilex, subspecies rolled up), 9 (Aquila); 5 casual & genus
    assert rows(df, "scientific_name", "group_name", "n_observations", "n_observers",
                "first_year", "last_year", "protected", "threatened") == [
        ("Aquila fasciata", "Aves", 1, 1, 2025, 2025, True, True),
        ("Quercus ilex", "Plantae", 2, 1, 2024, 2024, False, False),
    ]
    assert df.loc[0, "common_name_fr"] == "Aigle de Bonelli"
    assert df.loc[0, "protection_codes"] == "PN"
    assert df.loc[0, "redlist_codes"] == "EN (France métropolitaine)"
    assert df.loc[0, "last_observed"] == dt.date(2025, 5, 5)


def test_species_by_area_natura2000_certainty_and_quality(con):
    df = run_query(con, "species_by_area", {"area": "FR9101388"})
    assert list(df["scientific_name"]) == ["Epidalea calamita", "Quercus ilex"]
    df = run_query(con, "species_by_area", {"area": "FR9101388", "certain_only": "true"})
    assert list(df["scientific_name"]) == ["Epidalea calamita"]  # obs 3 is on the edge
    df = run_query(con, "species_by_area", {"area": "34002", "quality": "research"})
    assert rows(df, "scientific_name", "n_observations") == [("Quercus ilex", 1)]  # obs 4 only
    df = run_query(con, "species_by_area", {"area": "34001", "quality": "any"})
    # obs 8 (Podarcis) is removed: never counted
    assert sorted(df["scientific_name"]) == ["Aquila fasciata", "Epidalea calamita", "Passer domesticus"]


def test_commune_richness(con):
    df = run_query(con, "commune_richness")
    assert rows(df, "insee_code", "commune", "area_km2", "n_observations", "n_species") == [
        ("34001", "Alpha", 80.0, 3, 3),
        ("34002", "Beta", 40.0, 3, 2),
        ("34003", "Gamma", 20.0, 0, 0),
    ]
    assert list(df["observations_per_km2"]) == [pytest.approx(0.038, abs=1e-3), 0.075, 0.0]
    assert list(df["species_per_km2"]) == [pytest.approx(0.038, abs=1e-3), 0.05, 0.0]
    every = run_query(con, "commune_richness", {"quality": "any"})
    assert rows(every, "insee_code", "n_observations", "n_species") == [
        ("34001", 3, 3), ("34002", 4, 2), ("34003", 0, 0)]


def test_n2000_sites(con):
    df = run_query(con, "n2000_sites")
    assert rows(df, "site_code", "site_type", "n_observations", "n_certain", "n_species",
                "n_protected_species", "n_threatened_species") == [
        ("FR9101388", "n2000_zsc", 2, 1, 2, 1, 0),
        ("FR9112004", "n2000_zps", 0, 0, 0, 0, 0),
    ]
    assert df.loc[0, "last_observed"] == dt.date(2024, 4, 15)
    assert df.loc[1, "last_observed"] is None


def test_protected_species(con):
    df = run_query(con, "protected_species")
    assert rows(df, "scientific_name", "protected", "threatened", "n_observations", "communes") == [
        ("Aquila fasciata", True, True, 2, "Alpha, Beta"),
        ("Epidalea calamita", True, False, 1, "Alpha"),
    ]
    beta = run_query(con, "protected_species", {"area": "34002"})
    assert rows(beta, "scientific_name", "n_observations") == [("Aquila fasciata", 1)]


def test_new_species_by_year(con):
    df = run_query(con, "new_species_by_year")
    assert rows(df, "year", "n_new_species", "n_species_cumulative", "new_species") == [
        (2023, 2, 2, "Aquila fasciata, Epidalea calamita"),
        (2024, 2, 4, "Passer domesticus, Quercus ilex"),
    ]


def test_phenology(con):
    """A taxon's phenology includes its descendants (subspecies)."""
    df = run_query(con, "phenology", {"taxon_id": "102"})
    assert len(df) == 12 and list(df["month"]) == list(range(1, 13))
    assert df.loc[df.month == 4, "n_observations"].item() == 2  # obs 3 + subspecies obs 4
    assert df["n_observations"].sum() == 2
    genus = run_query(con, "phenology", {"taxon_id": 104, "quality": "any"})
    assert dict(zip(genus.month, genus.n_observations))[6] == 1  # obs 5 (genus itself)
    assert genus["n_observations"].sum() == 3


def test_group_breakdown(con):
    df = run_query(con, "group_breakdown")
    assert rows(df, "group_name", "n_observations", "n_species", "pct_observations") == [
        ("Aves", 3, 2, 50.0), ("Plantae", 2, 1, 33.3), ("Amphibia", 1, 1, 16.7)]


def test_observer_effort(con):
    df = run_query(con, "observer_effort")
    # Beta: alice 2024-04-15 (obs 3 and 4: one observation-day), chloe 2024-06-20, alice 2025-05-05
    assert rows(df, "insee_code", "n_observers", "n_observer_days", "n_observations") == [
        ("34001", 2, 3, 3), ("34002", 2, 3, 4), ("34003", 0, 0, 0)]
    assert list(df["observer_days_per_km2"]) == [pytest.approx(0.0375, abs=1e-3), 0.075, 0.0]
    recent = run_query(con, "observer_effort", {"since": "2024-07-01"})
    assert rows(recent, "insee_code", "n_observer_days") == [("34001", 1), ("34002", 1), ("34003", 0)]


def test_under_surveyed(con):
    df = run_query(con, "under_surveyed")
    assert rows(df, "priority", "area_code", "n_observer_days", "n_species") == [
        (1, "34003", 0, 0), (2, "34001", 3, 3), (3, "34002", 3, 2)]
    assert len(run_query(con, "under_surveyed", {"limit": 1})) == 1
    sites = run_query(con, "under_surveyed", {"area_type": "n2000"})
    assert list(sites["area_code"]) == ["FR9112004", "FR9101388"]


def test_last_observation_by_area(con):
    df = run_query(con, "last_observation_by_area")
    got = {r.area_code: (r.last_observed, r.last_taxon, r.n_observations) for r in df.itertuples()}
    assert got["34001"] == (dt.date(2024, 7, 1), "Passer domesticus", 3)
    assert got["34002"] == (dt.date(2025, 5, 5), "Aquila fasciata", 4)
    assert got["FR9101388"] == (dt.date(2024, 4, 15), "Quercus ilex", 2)
    assert got["34003"][0] is None and got["34003"][2] == 0
    assert "34999" not in got  # outside the territory
    assert list(df["area_code"][:2]) == ["34003", "FR9112004"]  # never observed first
    alpha = df[df.area_code == "34001"].iloc[0]
    assert alpha.days_since == (dt.date.today() - dt.date(2024, 7, 1)).days
    communes = run_query(con, "last_observation_by_area", {"area_type": "commune"})
    assert sorted(communes["area_code"]) == ["34001", "34002", "34003"]


def test_quality_grades(con):
    df = run_query(con, "quality_grades")
    assert rows(df, "quality_grade", "n_observations", "pct_observations") == [
        ("research", 4, 57.1), ("needs_id", 2, 28.6), ("casual", 1, 14.3)]


def test_outside_or_obscured(con):
    df = run_query(con, "outside_or_obscured")
    assert rows(df, "id", "reason", "commune_code") == [(7, "outside", "34999"), (6, "obscured", "34001")]
    assert list(run_query(con, "outside_or_obscured", {"kind": "obscured"})["id"]) == [6]


def _days_ago(d: dt.date) -> int:
    return (dt.date.today() - d).days


# The whole result of every named query (every declared column, every row, in order) with
# its default parameters (plus the required ones), computed by hand from the fixture table
# of tests/helpers_analysis.py. A query file without an entry here fails
# test_every_query_file_has_hand_computed_values; a change of its SQL that changes any
# value or the order fails test_query_result_is_the_hand_computed_table.
HAND_COMPUTED: dict[str, tuple[dict, list[tuple]]] = {
    # verifiable grades: Alpha obs 1, 2, 6 (3 species; 8 removed), Beta obs 3, 4 (Quercus ilex
    # with its subspecies), 9; per km²: 3/80, 3/80; 3/40, 2/40
    "commune_richness": ({}, [
        ("34001", "Alpha", 80.0, 3, 3, 0.038, 0.038),
        ("34002", "Beta", 40.0, 3, 2, 0.075, 0.05),
        ("34003", "Gamma", 20.0, 0, 0, 0.0, 0.0),
    ]),
    # verifiable in the territory: Aves obs 2, 6, 9 (Aquila, Passer), Plantae 3, 4, Amphibia 1
    "group_breakdown": ({}, [
        ("Aves", 3, 2, 50.0), ("Plantae", 2, 1, 33.3), ("Amphibia", 1, 1, 16.7),
    ]),
    # every grade; never observed first, then the longest since
    "last_observation_by_area": ({}, [
        ("commune", "34003", "Gamma", None, None, None, 0),
        ("n2000_zps", "FR9112004", "Garrigues", None, None, None, 0),
        ("n2000_zsc", "FR9101388", "Gorges", dt.date(2024, 4, 15), _days_ago(dt.date(2024, 4, 15)),
         "Quercus ilex", 2),
        ("commune", "34001", "Alpha", dt.date(2024, 7, 1), _days_ago(dt.date(2024, 7, 1)), "Passer domesticus", 3),
        ("commune", "34002", "Beta", dt.date(2025, 5, 5), _days_ago(dt.date(2025, 5, 5)), "Aquila fasciata", 4),
    ]),
    # Gorges: obs 1 (certain, Epidalea, protected) and 3 (edge, Quercus ilex)
    "n2000_sites": ({}, [
        ("FR9101388", "Gorges", "n2000_zsc", 40.0, 2, 1, 2, 1, 0, dt.date(2024, 4, 15)),
        ("FR9112004", "Garrigues", "n2000_zps", 10.0, 0, 0, 0, 0, 0, None),
    ]),
    # 2023: obs 1, 2; 2024: obs 3/4, 6; 2025 adds none (obs 9 is Aquila again, 7 is outside)
    "new_species_by_year": ({}, [
        (2023, 2, 2, "Aquila fasciata, Epidalea calamita"),
        (2024, 2, 4, "Passer domesticus, Quercus ilex"),
    ]),
    # every grade: Alpha alice 2023-04-10, bob 2023-05-02 and 2024-07-01; Beta alice 2024-04-15
    # (obs 3 and 4), chloe 2024-06-20, alice 2025-05-05
    "observer_effort": ({}, [
        ("34001", "Alpha", 80.0, 2, 3, 3, 0.038),
        ("34002", "Beta", 40.0, 2, 3, 4, 0.075),
        ("34003", "Gamma", 20.0, 0, 0, 0, 0.0),
    ]),
    "outside_or_obscured": ({}, [
        (7, dt.date(2025, 3, 3), "Passer domesticus", "outside", False, False, 15.0, "34999",
         "https://www.inaturalist.org/observations/7"),
        (6, dt.date(2024, 7, 1), "Passer domesticus", "obscured", True, True, None, "34001",
         "https://www.inaturalist.org/observations/6"),
    ]),
    # Quercus ilex and its subspecies, verifiable: obs 3 and 4, April 2024, alice
    "phenology": ({"taxon_id": 102}, [
        (m, 2 if m == 4 else 0, 1 if m == 4 else 0, 1 if m == 4 else 0) for m in range(1, 13)
    ]),
    "protected_species": ({}, [
        (101, "Aquila fasciata", "Aigle de Bonelli", "Aves", True, True, "PN", "EN (France métropolitaine)",
         2, dt.date(2025, 5, 5), "Alpha, Beta"),
        (100, "Epidalea calamita", "Crapaud calamite", "Amphibia", True, False, "PN", None,
         1, dt.date(2023, 4, 10), "Alpha"),
    ]),
    # obs 1, 2, 4, 6 research; 3, 9 needs_id; 5 casual (of 7 in the territory, 8 removed)
    "quality_grades": ({}, [
        ("research", 4, 57.1), ("needs_id", 2, 28.6), ("casual", 1, 14.3),
    ]),
    # Alpha, verifiable: obs 1, 2, 6, by group then name
    "species_by_area": ({"area": "34001"}, [
        (100, "Epidalea calamita", "Crapaud calamite", "Amphibia", 1, 1, 2023, 2023, dt.date(2023, 4, 10),
         True, False, "PN", None),
        (101, "Aquila fasciata", "Aigle de Bonelli", "Aves", 1, 1, 2023, 2023, dt.date(2023, 5, 2),
         True, True, "PN", "EN (France métropolitaine)"),
        (105, "Passer domesticus", "Moineau domestique", "Aves", 1, 1, 2024, 2024, dt.date(2024, 7, 1),
         False, False, None, None),
    ]),
    # fewest observer-days per km² first: Gamma 0, Alpha 3/80, Beta 3/40
    "under_surveyed": ({}, [
        (1, "34003", "Gamma", 20.0, 0, 0.0, 0, None),
        (2, "34001", "Alpha", 80.0, 3, 0.038, 3, dt.date(2024, 7, 1)),
        (3, "34002", "Beta", 40.0, 3, 0.075, 2, dt.date(2025, 5, 5)),
    ]),
}


def test_every_query_file_has_hand_computed_values():
    names = {q.name for q in list_queries()}
    assert len(names) >= 12
    missing = sorted(names - set(HAND_COMPUTED))
    assert not missing, f"add the hand-computed result of {missing} to HAND_COMPUTED"
    assert not set(HAND_COMPUTED) - names, "HAND_COMPUTED names a query that no longer exists"


@pytest.mark.parametrize("name", sorted(HAND_COMPUTED))
def test_query_result_is_the_hand_computed_table(con, name):
    params, expected = HAND_COMPUTED[name]
    query = load_query(name)
    df = run_query(con, query, params)
    columns = [c for c, _ in query.columns]
    assert list(df.columns) == columns
    assert rows(df, *columns) == expected


# ---------------------------------------------------------------------------
# Headers and parameters
# ---------------------------------------------------------------------------

GOOD = """-- title: T
-- title_fr: T fr
-- description: D
-- param: label VARCHAR | a label
-- param: n INTEGER = 3 | a number
-- column: x | the x
SELECT $label AS x, $n AS n
"""


def test_every_query_file_has_a_complete_header():
    for q in list_queries():
        assert q.title and q.title_fr and q.description, q.name
        assert q.columns, q.name
        for p in q.params:
            assert p.description, (q.name, p.name)


def test_declared_columns_match_the_result(con):
    samples = {"species_by_area": {"area": "34001"}, "phenology": {"taxon_id": 102}}
    for q in list_queries():
        df = run_query(con, q, samples.get(q.name, {}))
        assert list(df.columns) == [c for c, _ in q.columns], q.name


@pytest.mark.parametrize("drop", ["-- title: T\n", "-- title_fr: T fr\n", "-- description: D\n",
                                  "-- column: x | the x\n"])
def test_a_query_file_lacking_a_header_line_fails(tmp_path, drop):
    (tmp_path / "bad.sql").write_text(GOOD.replace(drop, ""), encoding="utf-8")
    with pytest.raises(QueryError, match="lacks"):
        list_queries(tmp_path)


def test_a_file_without_any_header_fails(tmp_path):
    (tmp_path / "plain.sql").write_text("SELECT 1\n", encoding="utf-8")
    with pytest.raises(QueryError, match="plain.sql lacks a '-- title:'"):
        load_query("plain", tmp_path)


def test_undeclared_or_unused_parameters_fail():
    with pytest.raises(QueryError, match="undeclared parameter"):
        parse_query(GOOD.replace("$n AS n", "$n AS n, $z AS z"), "q")
    with pytest.raises(QueryError, match="unused parameter"):
        parse_query(GOOD.replace(", $n AS n", ""), "q")
    with pytest.raises(QueryError, match="unknown type"):
        parse_query(GOOD.replace("n INTEGER", "n FLOAT"), "q")


def test_parameters_are_typed_and_bound_safely(con, tmp_path):
    q = parse_query(GOOD, "good")
    assert q.bind({"label": "x"}) == {"label": "x", "n": 3}
    df = run_query(con, q, {"label": "'; DROP TABLE taxa; --", "n": "7"})
    assert df.loc[0, "x"] == "'; DROP TABLE taxa; --" and df.loc[0, "n"] == 7
    assert con.execute("SELECT count(*) FROM taxa").fetchone()[0] == 7
    with pytest.raises(QueryError, match="expects INTEGER, got 'seven'"):
        run_query(con, q, {"label": "x", "n": "seven"})
    with pytest.raises(QueryError, match="unknown parameter 'zz'.*known: label, n"):
        run_query(con, q, {"label": "x", "zz": 1})
    with pytest.raises(QueryError, match="'label' of query 'good' is required"):
        run_query(con, q, {})


def test_choices_dates_and_booleans_are_checked(con):
    with pytest.raises(QueryError, match="must be one of any, verifiable"):
        run_query(con, "commune_richness", {"quality": "excellent"})
    with pytest.raises(QueryError, match=r"expects DATE \(YYYY-MM-DD\), got '2024-13-01'"):
        run_query(con, "observer_effort", {"since": "2024-13-01"})
    with pytest.raises(QueryError, match="expects BOOLEAN"):
        run_query(con, "species_by_area", {"area": "34001", "certain_only": "maybe"})
    with pytest.raises(QueryError, match="unknown area code '99999'"):
        run_query(con, "species_by_area", {"area": "99999"})
    with pytest.raises(QueryError, match="unknown query 'nope'"):
        load_query("nope")


def test_errors_are_biodiv_errors_on_one_line(con):
    with pytest.raises(BiodivError) as info:
        run_query(con, "phenology", {"taxon_id": "x"})
    assert "\n" not in str(info.value)


def test_queries_dir_override(tmp_path, monkeypatch):
    (tmp_path / "mine.sql").write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("BIODIV_QUERIES_DIR", str(tmp_path))
    assert queries_dir() == tmp_path
    assert [q.name for q in list_queries()] == ["mine"]


def test_views_for_ad_hoc_sql(con):
    species = con.execute(
        "SELECT taxon_id, n_observations, n_research, n_observers, first_observed, protected, threatened "
        "FROM v_species ORDER BY taxon_id").fetchall()
    assert species == [
        (100, 1, 1, 1, dt.date(2023, 4, 10), True, False),
        (101, 2, 1, 2, dt.date(2023, 5, 2), True, True),
        (102, 2, 1, 1, dt.date(2024, 4, 15), False, False),   # obs 3 + subspecies obs 4
        (105, 1, 1, 1, dt.date(2024, 7, 1), False, False),    # obs 7 is outside the territory
    ]
    stats = {r[0]: r[1:] for r in con.execute(
        "SELECT area_code, n_observations, n_species, n_observers, n_observer_days FROM v_area_stats").fetchall()}
    assert stats["34002"] == (4, 2, 2, 3)
    assert stats["FR9101388"] == (2, 2, 1, 2)
    assert stats["34003"] == (0, 0, 0, 0)
    obs = con.execute(
        "SELECT id, commune_code, commune_relation, n2000_codes, n2000_certain_codes FROM v_observations "
        "WHERE id IN (1, 3, 8) ORDER BY id").fetchall()
    assert obs == [(1, "34001", "certain", ["FR9101388"], ["FR9101388"]),
                   (3, "34002", "certain", ["FR9101388"], [])]  # 8 is removed
    status = con.execute(
        "SELECT taxon_id, protected, protected_national, threatened, protection_codes, redlist_codes "
        "FROM v_taxon_status WHERE taxon_id IN (101, 102) ORDER BY 1").fetchall()
    assert status == [(101, True, True, True, "PN", "EN (France métropolitaine)"), (102, False, False, False, None, None)]
    assert con.execute("SELECT name_key('Quercus  ilex subsp. ilex'), name_key('Circaëtus gallicus'), "
                       "name_key('Pterostichus (Argutor) aterrimus'), name_key('Mentha ×piperita')").fetchone() == (
        "quercus ilex ilex", "circaetus gallicus", "pterostichus aterrimus", "mentha x piperita")
