"""GeoNature / SINP export: the header is GeoNature's own synthesis import header, codes and
names come from TAXREF (built at test time from the real protected-species list), records
without a TAXREF link or without coordinates are left out and listed, obscured records are
flagged blurred, the dataset comes from the [exports] configuration."""

from __future__ import annotations

import csv

import duckdb
import pandas as pd
import pytest

from biodiv.analysis.exports import ExportError, ExportFilter, export, unmatched_path
from biodiv.analysis.exports.geonature import COLUMNS
from biodiv.analysis.queries import lock_down
from biodiv.analysis.taxref import import_taxref
from biodiv.config import ConfigError
from helpers_analysis import EXPORT_EXTRA_SQL, build_fixture, cli_invoke, taxref_from_protection_list

JDD = {"jdd_uuid": "4d331cae-65e4-4948-b0b2-a11bc5bb46c2", "jdd_nom": "Observations iNaturalist test",
       "ca_uuid": "57b7d0f2-4183-4b7b-8f08-6e105d476dc5", "ca_nom": "Sciences participatives"}


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    from conftest import shared_data_dir

    if shared_data_dir() is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    d = tmp_path_factory.mktemp("geonature")
    store = build_fixture(d / "biodiv.duckdb", extra_sql=EXPORT_EXTRA_SQL)
    taxref = d / "TAXREFv18.txt"
    taxref_from_protection_list(shared_data_dir() / "conservation" / "liste-especes-protegees-france.csv", taxref)
    with store.write() as con:
        import_taxref(con, taxref)
    return store


@pytest.fixture(scope="module")
def con(fx):
    c = lock_down(fx.reader())
    yield c
    c.close()


def read(path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def test_header_is_geonatures_own(con, tmp_path, shared_data):
    reference = (shared_data / "sinp" / "geonature_synthese_columns.txt").read_text(encoding="utf-8").strip()
    assert ";".join(COLUMNS) == reference
    out = tmp_path / "synthese.csv"
    export(con, "geonature", out, ExportFilter(include_outside=True, quality="any"), dataset=JDD)
    assert out.read_bytes().decode("utf-8").splitlines()[0] == reference
    # DuckDB (as GeoNature's import, a plain ;-separated UTF-8 reader) reads every column back
    db = duckdb.connect()
    assert db.execute(f"SELECT count(*) FROM read_csv('{out}', delim=';', header=true, all_varchar=true)").fetchone()[0] \
        == len(read(out))


def test_rows_codes_dates_blurring(con, tmp_path):
    out = tmp_path / "synthese.csv"
    result = export(con, "geonature", out, ExportFilter(include_outside=True, quality="any"), dataset=JDD)
    rows = {r["id_origine"]: r for r in read(out)}
    # taxa of the (protected) list are linked: Epidalea, Aquila fasciata, Passer domesticus
    assert sorted(rows, key=int) == ["1", "2", "6", "7", "9", "22", "23", "24", "25"]
    one = rows["22"]
    assert (one["cd_nom"], one["cd_ref"], one["nom_valide"], one["nom_cite"]) == \
        ("459628", "459628", "Epidalea calamita", "Epidalea calamita")
    assert (one["nom_vernaculaire"], one["regne"], one["group2_inpn"]) == ("Crapaud calamite (Le)", "Animalia", "Amphibiens")
    assert (one["date_debut"], one["heure_debut"], one["date_fin"], one["heure_fin"]) == \
        ("2018-09-05", "00:30:00", "2018-09-05", "00:30:00")        # local time, not UTC
    assert (one["observateurs"], one["determinateur"], one["communes"]) == ("Alice Martin", "Bob Durand", "Alpha")
    assert one["geometrie_wkt_4326"] == "POINT(3.4212346 43.5712346)"       # 7 decimals, about 1 cm
    assert (one["x_centroid_4326"], one["y_centroid_4326"]) == ("3.4212346", "43.5712346")
    assert (one["precision_geographique"], one["floutage_dee"], one["niveau_precision_diffusion"]) == ("12", "Non", "Précise")
    assert one["uuid_perm_sinp"] == "a0000000-0000-4000-8000-000000000022"
    assert (one["jdd_uuid"], one["jdd_nom"], one["ca_uuid"]) == (JDD["jdd_uuid"], JDD["jdd_nom"], JDD["ca_uuid"])
    assert (one["statut_source"], one["statut_observation"], one["methode_determination"]) == \
        ("Terrain", "Présent", "Autre méthode de détermination")
    assert one["comment_occurrence"] == "Observation iNaturalist https://www.inaturalist.org/observations/22 (qualité : research)"
    assert one["date_modification"] == "2018-09-06 12:00:00"             # local time (Paris), as GeoNature stores it
    blurred = rows["25"]                                          # obscured by taxon geoprivacy
    # iNaturalist's 0.2° cell is not the SINP 10 km « Maille »: the cell itself, diffused as it is
    assert (blurred["floutage_dee"], blurred["niveau_precision_diffusion"]) == ("Oui", "Précise")
    assert blurred["geometrie_wkt_4326"].startswith("POLYGON((3.4 43.4")
    assert 27_000 < int(blurred["precision_geographique"]) < 28_000
    assert (blurred["naturalite"], blurred["preuve_existante"]) == ("Cultivé/élevé", "Oui")
    assert blurred["preuve_numerique_url"] == "https://www.inaturalist.org/observations/25"
    assert rows["6"]["floutage_dee"] == "Oui"
    assert rows["1"]["uuid_perm_sinp"] == rows["1"]["uuid_perm_sinp"].lower() and len(rows["1"]["uuid_perm_sinp"]) == 36
    assert rows["23"]["heure_debut"] == "00:30:00" and rows["23"]["date_debut"] == "2024-01-11"   # La Réunion
    # left out, counted and listed: no TAXREF link (oaks, ...), no coordinates (26, 20, 21)
    assert result.counts == {"observations": 9, "left out": 6, "removed upstream": 1}
    assert any("no TAXREF link" in n for n in result.notes) and any("no coordinates" in n for n in result.notes)
    listed = pd.read_csv(unmatched_path(out), sep=";")
    assert set(listed["scientific_name"]) == {"Quercus ilex", "Quercus ilex ilex", "Quercus"}


def test_public_mode_and_missing_dataset(con, tmp_path):
    out = tmp_path / "public.csv"
    result = export(con, "geonature", out, ExportFilter(), public_mode=True, sensitivity_default=0)
    rows = read(out)
    assert all(r["observateurs"] == "" and r["determinateur"] == "" for r in rows)
    assert all(r["jdd_uuid"] == "" for r in rows)
    assert any("jdd_uuid" in n for n in result.notes)


def test_nothing_linked_is_an_error(con, tmp_path):
    with pytest.raises(ExportError, match="no record can go to GeoNature"):
        export(con, "geonature", tmp_path / "oaks.csv", ExportFilter(group="Fagaceae"))
    assert not list(tmp_path.iterdir())


def test_cli_reads_the_dataset_from_the_config(fx, tmp_path, monkeypatch):
    toml = tmp_path / "biodiv.toml"
    toml.write_text('[exports]\njdd_uuid = "%s"\njdd_nom = "Jeu test"\n' % JDD["jdd_uuid"], encoding="utf-8")
    out = tmp_path / "synthese.csv"
    from typer.testing import CliRunner

    from biodiv.cli.root import app

    cli_invoke(["--help"], fx, tmp_path, monkeypatch)               # registers the commands
    monkeypatch.setenv("BIODIV_CONFIG", str(toml))
    result = CliRunner().invoke(app, ["export", "-f", "geonature", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert {r["jdd_uuid"] for r in read(out)} == {JDD["jdd_uuid"]}
    assert "left out" in result.output
    toml.write_text('[exports]\njdd_uuid = "not-a-uuid"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["export", "-f", "geonature", "-o", str(out)])
    assert isinstance(result.exception, ConfigError) and "exports.jdd_uuid" in str(result.exception)
