"""The SINP referential parser and the level rules (pure): hand-made inputs, the real format."""

from __future__ import annotations

from datetime import date

import pytest

from biodiv.sensitivity import referential as ref
from biodiv.sensitivity import rules as R

from helpers_sensitivity import BAD_REFERENTIALS, REFERENTIAL, write_referential

TODAY = date(2026, 12, 8)


def test_the_real_format_is_read_whole():
    parsed = ref.parse_text(REFERENTIAL, "RefSensibilite_test.csv")
    assert parsed.source == "RefSensibilite_test" and len(parsed.rules) == 7
    bubo = next(r for r in parsed.rules if r.cd_nom == 3493)
    assert bubo.level == 2 and bubo.department == "34" and bubo.period == ((2, 1), (7, 31))
    assert bubo.statut_biologique == "3" and bubo.autre == "Période de reproduction" and bubo.line == 6
    bat = next(r for r in parsed.rules if r.cd_nom == 60295)
    assert bat.duration_years == 1 and bat.period is None
    assert ref.is_sensitivity_header(REFERENTIAL.splitlines()[0].split(";"))


def test_department_codes_as_geonature_reads_them():
    assert ref.department("D3") == "973" and ref.department("D4") == "974"
    assert ref.department("1") == "01" and ref.department("2a") == "2A" and ref.department("") is None
    with pytest.raises(ValueError):
        ref.department("3 4")
    text = REFERENTIAL.replace("CD_DEP;", "CD_DEPT;").replace(";13;", ";D4;")
    rules = ref.parse_text(text, "x.csv").rules
    assert {r.department for r in rules} == {"34", "974"}


def test_dates_of_the_period_in_every_spelling():
    assert ref.month_day("01/02") == (2, 1) == ref.month_day("2023-02-01") == ref.month_day("01/02/2023")
    assert ref.month_day("02-01") == (2, 1) and ref.month_day("") is None
    with pytest.raises(ValueError):
        ref.month_day("31/02")


@pytest.mark.parametrize("case", sorted(BAD_REFERENTIALS))
def test_a_bad_file_is_refused_in_one_line(tmp_path, case):
    text, phrase = BAD_REFERENTIALS[case]
    path = write_referential(tmp_path, text)
    with pytest.raises(ref.SensitivityError) as err:
        ref.read_referential(path)
    assert phrase in str(err.value) and "\n" not in str(err.value)


def test_names_without_authors():
    assert R.name_key("Aquila fasciata Vieillot, 1822") == "aquila fasciata"
    assert R.name_key("Timon lepidus (Daudin, 1802)") == "timon lepidus"
    assert R.name_key("Ophrys L., 1753") == "ophrys"
    assert R.name_key("Quercus ilex subsp. ilex L.") == "quercus ilex ilex"
    assert R.name_key("Bubo (Bubo) bubo") == "bubo bubo"


def _index():
    rules = ref.parse_text(REFERENTIAL, "r.csv").rules
    return R.RuleIndex((r, r.cd_nom) for r in rules)


def test_a_rule_on_a_genus_covers_its_species_by_code_or_by_name():
    index = _index()
    by_name = R.TaxonFacts(1, frozenset(), frozenset({"ophrys scolopax", "ophrys", "orchidaceae"}))
    assert [r.level for r in index.for_taxon(by_name)] == [1]
    # TAXREF codes of the taxon and of its ancestors (the genus' CD_REF)
    by_code = R.TaxonFacts(2, frozenset({999, 194498}), frozenset({"autre nom"}))
    assert [r.level for r in index.for_taxon(by_code)] == [1]
    assert index.for_taxon(R.TaxonFacts(3, frozenset({1}), frozenset({"ophrysa"}))) == []


def test_level_is_the_highest_rule_that_applies():
    index = _index()
    timon = index.for_taxon(R.TaxonFacts(1, frozenset({79273}), frozenset()))
    assert R.level_of(timon, "34", date(2024, 5, 1), TODAY)[0] == 2
    assert R.level_of(timon, "13", date(2024, 5, 1), TODAY)[0] == 4
    assert R.level_of(timon, "30", date(2024, 5, 1), TODAY)[0] == 0
    assert R.level_of(timon, None, date(2024, 5, 1), TODAY)[0] == 4   # department unknown: every rule
    level, rule = R.level_of(timon, "13", None, TODAY)
    assert level == 4 and rule.autre == "Population relictuelle"


def test_period_of_the_year_and_duration():
    index = _index()
    bubo = index.for_taxon(R.TaxonFacts(1, frozenset({3493}), frozenset()))
    assert R.level_of(bubo, "34", date(2025, 4, 10), TODAY)[0] == 2
    assert R.level_of(bubo, "34", date(2025, 7, 31), TODAY)[0] == 2
    assert R.level_of(bubo, "34", date(2025, 10, 3), TODAY)[0] == 0
    winter = ref.Rule(line=2, cd_nom=1, nom_cite="x", level=3, period=((11, 1), (2, 28)))
    assert R.applies(winter, None, date(2025, 1, 15), TODAY) and not R.applies(winter, None, date(2025, 6, 1), TODAY)
    bat = index.for_taxon(R.TaxonFacts(1, frozenset({60295}), frozenset()))
    assert R.level_of(bat, "34", date(2026, 3, 1), TODAY)[0] == 3
    assert R.level_of(bat, "34", date(2025, 12, 8), TODAY)[0] == 3     # one year to the day
    assert R.level_of(bat, "34", date(2025, 12, 7), TODAY)[0] == 0     # expired


def test_departments_of_communes_and_the_cautious_default():
    assert R.department_of("34114") == "34" and R.department_of("97411") == "974"
    assert R.department_of("2A004") == "2A" and R.department_of("ZZ003") is None
    assert R.default_level(True, False, has_referential=False) == 2
    assert R.default_level(False, True, has_referential=False, level=3) == 3
    assert R.default_level(True, True, has_referential=True) == 0
    assert R.default_level(False, False, has_referential=False) == 0
    assert R.default_level(True, False, has_referential=False, level=0) == 0
