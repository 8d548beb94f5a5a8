"""GeoNature export, second round (issue 27): local times, obscured records as iNaturalist's
0.2° cell, their communes, the observer's notes, taxon-less records counted apart, and the
list of observations removed upstream — on the real-shaped fixture of helpers_round2."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from biodiv.analysis.exports import ExportFilter, export
from biodiv.analysis.queries import lock_down
from helpers_analysis import cli_invoke
from helpers_round2 import build_round2

ALL = ExportFilter(include_outside=True, quality="any")
JDD = {"jdd_uuid": "4d331cae-65e4-4948-b0b2-a11bc5bb46c2", "jdd_nom": "Observations iNaturalist test"}


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return build_round2(tmp_path_factory.mktemp("round2-gn"))


@pytest.fixture(scope="module")
def con(fx):
    c = lock_down(fx[0].reader())
    yield c
    c.close()


def read(path) -> dict[str, dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return {r["id_origine"]: r for r in csv.DictReader(fh, delimiter=";")}


def test_obscured_record_is_its_cell_with_its_communes(con, tmp_path):
    out = tmp_path / "gn.csv"
    export(con, "geonature", out, ALL, dataset=JDD)
    row = read(out)["30"]
    assert row["geometrie_wkt_4326"] == "POLYGON((3.4 43.4, 3.6 43.4, 3.6 43.6, 3.4 43.6, 3.4 43.4))"
    assert (row["x_centroid_4326"], row["y_centroid_4326"]) == ("3.5", "43.5")           # the cell's centre
    assert row["niveau_precision_diffusion"] != "Maille"                                  # not a SINP 10 km cell
    assert (row["niveau_precision_diffusion"], row["nature_objet_geo"], row["floutage_dee"]) == \
        ("Précise", "Inventoriel", "Oui")
    assert row["communes"] == "Alpha, Beta"                                                # the cell spans both
    assert int(row["precision_geographique"]) > 20_000
    precise = read(out)["22"]
    assert precise["geometrie_wkt_4326"].startswith("POINT(") and precise["nature_objet_geo"] == ""


def test_times_are_local_as_geonature_stores_them(con, tmp_path):
    out = tmp_path / "gn.csv"
    export(con, "geonature", out, ALL, dataset=JDD)
    row = read(out)["30"]
    # created 09:00 UTC, updated 16:30 UTC, in July: Paris is UTC+2
    assert (row["date_creation"], row["date_modification"]) == ("2024-07-14 11:00:00", "2024-07-20 18:30:00")
    assert read(out)["23"]["date_debut"] == "2024-01-11"


def test_observers_notes_in_private_and_free_text_exports_only(con, tmp_path):
    private, public, free = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    export(con, "geonature", private, ALL, dataset=JDD)
    export(con, "geonature", public, ALL, dataset=JDD, public_mode=True, sensitivity_default=0)
    export(con, "geonature", free, ALL, dataset=JDD, public_mode=True, sensitivity_default=0, free_text=True)
    expected = "Remarques de l'observateur : Deux individus sous une pierre chemin C:\\bas fin"
    comment = read(private)["30"]["comment_occurrence"]
    assert comment.startswith("Observation iNaturalist https://www.inaturalist.org/observations/30")
    assert comment.endswith(expected)
    assert "Remarques" not in read(public)["30"]["comment_occurrence"]
    assert read(free)["30"]["comment_occurrence"].endswith(expected)
    assert "Remarques" not in read(private)["22"]["comment_occurrence"]                  # no notes, nothing added


def test_unmatched_taxa_without_the_taxonless_row(con, tmp_path):
    out = tmp_path / "gn.csv"
    result = export(con, "geonature", out, ALL, dataset=JDD)
    listed = pd.read_csv(tmp_path / "gn.unmatched-taxa.csv", sep=";", keep_default_na=False)
    assert "" not in set(listed["taxon_id"].astype(str)) and "" not in set(listed["scientific_name"])
    assert set(listed["scientific_name"]) == {"Quercus ilex", "Quercus ilex ilex", "Quercus"}
    assert "1 record(s) left out: no taxon (not identified yet)" in result.notes          # observation 31
    assert "31" not in read(out)


def test_deletions_listed_for_the_administrator(fx, con, tmp_path, monkeypatch):
    out = tmp_path / "gn.csv"
    result = export(con, "geonature", out, ALL, dataset=JDD)
    gone = pd.read_csv(tmp_path / "gn.deleted.csv", sep=";", dtype=str)
    assert list(gone.columns) == ["id_origine", "uuid_perm_sinp", "date_suppression"]
    assert list(gone["id_origine"]) == ["8", "32"]                                         # oldest removal first
    assert list(gone["uuid_perm_sinp"])[1] == "a0000000-0000-4000-8000-000000000032"
    assert list(gone["date_suppression"]) == ["2025-06-01 02:00:00", "2026-01-15 11:00:00"]   # Paris time
    assert result.counts["removed upstream"] == 2
    # since a date, through the command line
    res = cli_invoke(["export", "--format", "geonature", "--out", str(tmp_path / "since.csv"),
                      "--include-outside", "--quality", "any", "--private", "--removed-since", "2026-01-01"],
                     fx[0], tmp_path, monkeypatch)
    assert res.exit_code == 0, res.output
    since = pd.read_csv(tmp_path / "since.deleted.csv", sep=";", dtype=str)
    assert list(since["id_origine"]) == ["32"]
    assert "1 observation(s) removed upstream since 2026-01-01" in res.output
    # never in a public export (it names iNaturalist records)
    public = tmp_path / "pub.csv"
    result = export(con, "geonature", public, ALL, dataset=JDD, public_mode=True, sensitivity_default=0)
    assert not (tmp_path / "pub.deleted.csv").exists()
    assert any("no list of removed observations" in n for n in result.notes)
    bad = cli_invoke(["export", "--format", "csv", "--out", str(tmp_path / "x.csv"), "--removed-since", "2026-01-01"],
                     fx[0], tmp_path, monkeypatch)
    assert bad.exit_code != 0 and "applies to --format geonature only" in str(bad.exception)
