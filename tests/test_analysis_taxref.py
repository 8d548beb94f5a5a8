"""TAXREF: the official TAXREFvNN.txt read by column name (v16 and v18 layouts), every taxon
linked to its CD_NOM / CD_REF by accepted name, else synonym, within its kingdom; ambiguous
names listed, never guessed; a bad file changes nothing. The TAXREF file is built at test
time from the real protected-species list (../shared/data/conservation)."""

from __future__ import annotations

import zipfile

import pandas as pd
import pytest

from biodiv.analysis.exports import ExportFilter, export
from biodiv.analysis.queries import lock_down
from biodiv.analysis.refs import RefError, match_statuses
from biodiv.analysis.taxref import import_taxref, is_taxref, read_taxref
from helpers_analysis import (
    TAXREF_V16, build_fixture, cli_invoke, copy_store, taxref_from_protection_list,
)

pytestmark = pytest.mark.shared

EXTRA_TAXA = """
INSERT INTO taxa (id, name, rank, rank_level, iconic_taxon_name, kingdom_name, species_id) VALUES
 (200, 'Aquila pennata', 'species', 10, 'Aves', 'Animalia', 200),
 (201, 'Aquila chrysaetos', 'species', 10, 'Aves', 'Animalia', 201),
 (202, 'Rana alpina', 'species', 10, 'Amphibia', 'Animalia', 202),
 (203, 'Bufo bufo', 'species', 10, 'Amphibia', 'Animalia', 203),
 (204, 'Pica pica', 'species', 10, 'Aves', 'Animalia', 204);
"""


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("taxref") / "template.duckdb", extra_sql=EXTRA_TAXA).path


@pytest.fixture
def store(template_db, tmp_path):
    return copy_store(template_db, tmp_path)


@pytest.fixture(scope="module")
def taxref_file(tmp_path_factory):
    """Built once per module (about 34,000 names)."""
    from conftest import shared_data_dir

    if shared_data_dir() is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    out = tmp_path_factory.mktemp("taxref_file") / "TAXREFv18.txt"
    names = taxref_from_protection_list(shared_data_dir() / "conservation" / "liste-especes-protegees-france.csv", out)
    return out, names


def links(con) -> dict[int, tuple]:
    return {r[0]: r[1:] for r in con.execute(
        "SELECT taxon_id, status, via, cd_nom, cd_ref, candidates FROM taxon_taxref").fetchall()}


def test_known_taxa_are_linked(store, taxref_file):
    path, names = taxref_file
    with store.write() as con:
        report = import_taxref(con, path)
    with store.read() as con:
        got = links(con)
        view = con.execute("SELECT taxon_id, cd_ref, taxref_name, taxref_vernacular, group2_inpn "
                           "FROM v_taxon_taxref WHERE taxon_id IN (100, 101, 200) ORDER BY 1").fetchall()
    assert got[100] == ("matched", "accepted", 459628, 459628, None)           # Epidalea calamita
    assert got[101] == ("matched", "accepted", 2657, 2657, None)               # Aquila fasciata
    assert got[201] == ("matched", "accepted", 2645, 2645, None)               # Aquila chrysaetos
    cd_nom_pennata = next(nom for nom, ref in names["Aquila pennata"] if ref == 2651)
    assert got[200] == ("matched", "synonym", cd_nom_pennata, 2651, None)     # -> Hieraaetus pennatus
    assert got[203] == ("matched", "accepted", 259, 259, None)                 # accepted wins over a synonym
    assert got[202] == ("ambiguous", "synonym", None, None, [310, 351])        # Rana alpina: listed, not guessed
    assert 204 not in got and 102 not in got                                   # magpie, holm oak: not in the list
    assert view == [(100, "459628", "Epidalea calamita", "Crapaud calamite (Le)", "Amphibiens"),
                    (101, "2657", "Aquila fasciata", "Aigle de Bonelli", "Oiseaux"),
                    (200, "2651", "Hieraaetus pennatus", "Aigle botté", "Oiseaux")]
    assert report.n_matched >= 6 and report.n_via_synonym == 1
    assert [(a[1], a[2]) for a in report.ambiguous] == [("Rana alpina", [310, 351])]
    assert report.n_taxa_ref > 9000


def test_subspecies_and_kingdom(store, tmp_path):
    """'Quercus ilex ilex' (iNaturalist) is 'Quercus ilex subsp. ilex' (TAXREF); a homonym in
    another kingdom is not a candidate."""
    path = tmp_path / "TAXREFv17.txt"
    cols = ["CD_NOM", "CD_REF", "LB_NOM", "REGNE", "GROUP2_INPN", "NOM_VERN"]
    rows = [("81000", "81000", "Quercus ilex subsp. ilex", "Plantae", "Angiospermes", ""),
            ("116744", "116744", "Quercus ilex", "Plantae", "Angiospermes", "Chêne vert"),
            ("4525", "4525", "Passer domesticus", "Animalia", "Oiseaux", "Moineau domestique"),
            ("999001", "999001", "Passer domesticus", "Plantae", "Angiospermes", "")]
    path.write_text("\t".join(cols) + "\n" + "\n".join("\t".join(r) for r in rows) + "\n", encoding="utf-8")
    with store.write() as con:
        import_taxref(con, path)
    with store.read() as con:
        got = links(con)
    assert got[103][:4] == ("matched", "accepted", 81000, 81000)
    assert got[102][:4] == ("matched", "accepted", 116744, 116744)
    assert got[105][:4] == ("matched", "accepted", 4525, 4525)                # the plant homonym is ignored


def test_v16_layout_and_zip(store, shared_data, tmp_path):
    src = shared_data / "conservation" / "liste-especes-protegees-france.csv"
    txt = tmp_path / "TAXREFv16.txt"
    taxref_from_protection_list(src, txt, TAXREF_V16)
    archive = tmp_path / "TAXREF_v16_2022.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(txt, "TAXREFv16.txt")
        zf.writestr("rangs_note.txt", "RANG\tLB_RANG\nES\tEspèce\n")
    assert is_taxref(archive) and is_taxref(txt)
    table, missing = read_taxref(archive)
    assert table.num_rows > 30_000 and missing == []
    with store.write() as con:
        import_taxref(con, archive)
    with store.read() as con:
        assert links(con)[100][:4] == ("matched", "accepted", 459628, 459628)


def test_bad_files_change_nothing(store, taxref_file, tmp_path):
    path, _ = taxref_file
    with store.write() as con:
        import_taxref(con, path)
    broken = tmp_path / "TAXREFv18.txt"
    broken.write_text("CD_NOM\tLB_NOM\n1\tA b\n", encoding="utf-8")
    with pytest.raises(RefError, match="no column CD_REF"), store.write() as con:
        import_taxref(con, broken)
    broken.write_text("CD_NOM\tCD_REF\tLB_NOM\nabc\t1\tA b\n", encoding="utf-8")
    with pytest.raises(RefError, match="must be integers"), store.write() as con:
        import_taxref(con, broken)
    broken.write_text("CD_NOM\tCD_REF\tLB_NOM\n1\t1\tA b\n1\t1\tA c\n", encoding="utf-8")
    with pytest.raises(RefError, match="appears twice"), store.write() as con:
        import_taxref(con, broken)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(RefError, match="is empty"), store.write() as con:
        import_taxref(con, tmp_path / "empty.txt")
    with store.read() as con:
        assert links(con)[100][3] == 459628                                 # the previous TAXREF is intact
        assert con.execute("SELECT count(*) FROM taxref").fetchone()[0] > 30_000


def test_new_taxa_are_linked_by_the_harvest_hook(store, taxref_file):
    path, _ = taxref_file
    with store.write() as con:
        import_taxref(con, path)
        con.execute("INSERT INTO taxa (id, name, rank, kingdom_name) VALUES (300, 'Salamandra atra', 'species', 'Animalia')")
        match_statuses(con)                                                  # what the harvester calls
        assert links(con)[300][:4] == ("matched", "accepted", 701819, 701819)


def test_cli_and_exports_carry_the_codes(store, taxref_file, tmp_path, monkeypatch):
    path, _ = taxref_file
    result = cli_invoke(["refs", "import", str(path), "--unmatched", str(tmp_path / "sans-taxref.csv")],
                        store, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "TAXREF:" in result.output and "Rana alpina" in result.output
    unlinked = pd.read_csv(tmp_path / "sans-taxref.csv")
    assert "Pica pica" in set(unlinked["name"]) and "Epidalea calamita" not in set(unlinked["name"])
    con = lock_down(store.reader())
    try:
        out = tmp_path / "obs.csv"
        export(con, "csv", out, ExportFilter())
    finally:
        con.close()
    df = pd.read_csv(out, dtype=str).set_index("id")
    assert (df.loc["1", "cd_nom"], df.loc["1", "cd_ref"], df.loc["1", "group2_inpn"]) == ("459628", "459628", "Amphibiens")
    assert pd.isna(df.loc["3", "cd_nom"])                                    # Quercus ilex: not in the list
