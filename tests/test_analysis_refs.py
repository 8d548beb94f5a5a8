"""Official status lists: parsing both INPN formats, matching by accepted name and synonyms,
ambiguous names listed (never guessed), later taxa matched, bad files change nothing, and
`biodiv refs fetch` against a stand-in INPN server on 127.0.0.1."""

from __future__ import annotations

import csv
import io

import pytest

from biodiv.errors import BiodivError
from biodiv.analysis.refs import (
    RefError, match_statuses, parse_protection_list, read_reference, import_reference,
    unmatched_reference,
)
from helpers_analysis import (
    PROTECTION_CSV, InpnStandIn, bdc_csv, bdc_zip, build_fixture, cli_invoke, copy_store,
)

EXTRA_TAXA = """
INSERT INTO taxa (id, name, rank, rank_level, iconic_taxon_name, species_id) VALUES
 (200, 'Aquila pennata', 'species', 10, 'Aves', 200),
 (202, 'Rana alpina', 'species', 10, 'Amphibia', 202);
"""


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    """Built once (a store write costs about a second); each test works on a copy."""
    return build_fixture(tmp_path_factory.mktemp("refs") / "template.duckdb",
                         with_statuses=False, extra_sql=EXTRA_TAXA).path


@pytest.fixture
def ref_store(template_db, tmp_path):
    return copy_store(template_db, tmp_path)


def statuses(con, source=None):
    sql = "SELECT taxon_id, source, kind, code, scope FROM taxon_statuses"
    if source:
        sql += f" WHERE source = '{source}'"
    return sorted(con.execute(sql).fetchall())


def test_parse_protection_list_accepted_name_first_then_synonyms():
    ref = parse_protection_list(csv.DictReader(io.StringIO(PROTECTION_CSV), delimiter=";"))
    names = {(n.ref_id, n.name): n.accepted for n in ref.names}
    assert names[("2651", "Hieraaetus pennatus")] is True
    assert names[("2651", "Aquila pennata")] is False
    assert {(s.ref_id, s.code) for s in ref.statuses} >= {("351", "PN"), ("351", "PD"), ("81000", "PR")}
    assert ref.skipped == {"Protection Pitchou": 1}
    assert next(n for n in ref.names if n.ref_id == "459628").vernacular_fr == "Crapaud calamite (Le)"


def test_import_matches_by_name_and_synonym_and_lists_ambiguous(ref_store, tmp_path):
    path = tmp_path / "protegees.csv"
    path.write_text(PROTECTION_CSV, encoding="utf-8")
    with ref_store.write() as con:
        ref, report = import_reference(con, path)
    assert ref.format == "protection_list"
    with ref_store.read() as con:
        assert statuses(con) == [
            (100, "inpn_protection", "protected", "PN", "France"),   # accepted name
            (101, "inpn_protection", "protected", "PN", "France"),
            (103, "inpn_protection", "protected", "PR", ""),         # 'Quercus ilex subsp. ilex'
            (200, "inpn_protection", "protected", "PN", "France"),   # synonym of Hieraaetus pennatus
        ]
        assert con.execute("SELECT via, ref_id FROM ref_matches WHERE taxon_id = 200").fetchone() == ("synonym", "2651")
        # the species-level oak is not protected; its subspecies is
        got = dict(con.execute("SELECT taxon_id, protected FROM v_taxon_status WHERE taxon_id IN (102, 103)").fetchall())
        assert got == {102: False, 103: True}
        unmatched = unmatched_reference(con)
        assert set(unmatched["accepted_name"]) == {"Rana temporaria", "Rana dalmatina"}
    assert report.ambiguous == [(202, "Rana alpina", "inpn_protection", ["310", "351"])]
    assert (report.n_matched, report.n_via_synonym, report.n_taxa_with_status) == (4, 1, 4)


def test_taxa_harvested_later_are_matched_by_match_statuses(ref_store, tmp_path):
    path = tmp_path / "protegees.csv"
    path.write_text(PROTECTION_CSV, encoding="utf-8")
    with ref_store.write() as con:
        import_reference(con, path)
    with ref_store.write() as con:  # a later harvest stores a new taxon, then calls match_statuses
        con.execute("INSERT INTO taxa (id, name, rank, rank_level) VALUES (300, 'Bufo calamita', 'species', 10)")
        con.execute("INSERT INTO taxon_statuses VALUES (300, 'inaturalist', 'threatened', 'VU', NULL, 'France', NULL)")
        report = match_statuses(con)
    assert report.n_taxa_with_status == 5
    with ref_store.read() as con:
        assert statuses(con, "inpn_protection")[-1] == (300, "inpn_protection", "protected", "PN", "France")
        # iNaturalist's own statuses are never touched by the official lists
        assert statuses(con, "inaturalist") == [(300, "inaturalist", "threatened", "VU", "France")]


def test_bdc_statuts_zip_in_windows_1252_with_red_lists(ref_store, tmp_path):
    path = tmp_path / "BDC-Statuts-v18.zip"
    path.write_bytes(bdc_zip())
    with ref_store.write() as con:
        ref, report = import_reference(con, path)
    assert ref.format == "bdc_statuts" and ref.skipped == {"DH": 1}
    with ref_store.read() as con:
        assert statuses(con, "inpn_redlist") == [
            (100, "inpn_redlist", "other", "LC", "France métropolitaine"),   # name known from another row
            (101, "inpn_redlist", "threatened", "EN", "France métropolitaine"),
            (105, "inpn_redlist", "other", "LC", "France métropolitaine"),
            (105, "inpn_redlist", "threatened", "VU", "Occitanie"),
        ]
        assert statuses(con, "inpn_protection") == [
            (101, "inpn_protection", "protected", "PN", "France métropolitaine"),
            (103, "inpn_protection", "protected", "PD", "Hérault"),
        ]
        row = con.execute("SELECT threatened, redlist_codes FROM v_taxon_status WHERE taxon_id = 105").fetchone()
        assert row == (True, "LC (France métropolitaine), VU (Occitanie)")


def test_bdc_scope_filter_keeps_only_the_named_scopes(ref_store, tmp_path, monkeypatch):
    path = tmp_path / "bdc.csv"
    path.write_bytes(bdc_csv())
    ref = read_reference(path, scopes=["France métropolitaine"])
    assert {s.scope for s in ref.statuses} == {"France métropolitaine"}
    assert ref.skipped["VU (Occitanie)"] == 1 and ref.skipped["PD (Hérault)"] == 1
    result = cli_invoke(["refs", "import", str(path), "--scope", "Occitanie", "--scope", "hérault"],
                        ref_store, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    with ref_store.read() as con:
        assert statuses(con) == [
            (103, "inpn_protection", "protected", "PD", "Hérault"),
            (105, "inpn_redlist", "threatened", "VU", "Occitanie"),
        ]


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"a;b;c\n1;2;3\n", "unrecognised reference file"),
    (b"PK\x03\x04 not really a zip", "unrecognised reference file"),
    (b"CD_REF;nomsScientifiques;CD_TYPE_STATUTS\n1;Foo bar;Protection Pitchou\n", "no protection or red-list status"),
])
def test_bad_reference_files_give_one_line_and_change_nothing(ref_store, tmp_path, monkeypatch, content, message):
    good = tmp_path / "good.csv"
    good.write_text(PROTECTION_CSV, encoding="utf-8")
    with ref_store.write() as con:
        import_reference(con, good)
    before = ref_store.path.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    result = cli_invoke(["refs", "import", str(bad)], ref_store, tmp_path, monkeypatch)
    assert isinstance(result.exception, RefError)
    assert message in str(result.exception) and "\n" not in str(result.exception)
    assert ref_store.path.read_bytes() == before
    assert not ref_store.wip_path.exists()


def test_missing_reference_file(tmp_path):
    with pytest.raises(RefError, match="does not exist"):
        read_reference(tmp_path / "nope.csv")


def test_refs_fetch_downloads_once_then_reuses_with_etag(ref_store, tmp_path, monkeypatch):
    server = InpnStandIn(bdc_zip())
    with server.running():
        first = cli_invoke(["refs", "fetch", "--url", server.url], ref_store, tmp_path, monkeypatch)
        assert first.exit_code == 0, first.output
        assert "downloaded" in first.output
        second = cli_invoke(["refs", "fetch", "--url", server.url], ref_store, tmp_path, monkeypatch)
        assert second.exit_code == 0, second.output
        assert "unchanged since last download" in second.output
    assert "If-None-Match" not in server.requests[0]["headers"]
    assert server.requests[1]["headers"]["If-None-Match"] == '"v18"'
    with ref_store.read() as con:
        assert (101, "inpn_redlist", "threatened", "EN", "France métropolitaine") in statuses(con)
        assert con.execute("SELECT file FROM ref_imports WHERE source = 'inpn_redlist'").fetchone()[0] == server.url


def test_refs_fetch_url_from_environment(ref_store, tmp_path, monkeypatch):
    server = InpnStandIn(bdc_zip())
    monkeypatch.setenv("BIODIV_INPN_STATUTS_URL", server.url)
    with server.running():
        result = cli_invoke(["refs", "fetch"], ref_store, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert len(server.requests) == 1


def test_refs_fetch_server_error_changes_nothing(ref_store, tmp_path, monkeypatch):
    before = ref_store.path.read_bytes()
    server = InpnStandIn(b"", status=503)
    with server.running():
        result = cli_invoke(["refs", "fetch", "--url", server.url], ref_store, tmp_path, monkeypatch)
    assert isinstance(result.exception, BiodivError)
    assert "answered HTTP 503" in str(result.exception)
    assert ref_store.path.read_bytes() == before


def test_refs_fetch_unreachable(ref_store, tmp_path, monkeypatch):
    server = InpnStandIn(b"")
    url = server.url
    server.server.server_close()  # nothing listens on that port any more
    result = cli_invoke(["refs", "fetch", "--url", url], ref_store, tmp_path, monkeypatch)
    assert isinstance(result.exception, RefError) and "cannot reach" in str(result.exception)


def test_real_protected_species_list_matches_known_taxa(ref_store, shared_data, tmp_path, monkeypatch):
    path = shared_data / "conservation" / "liste-especes-protegees-france.csv"
    with ref_store.write() as con:
        con.execute(
            "INSERT INTO taxa (id, name, rank, rank_level) VALUES "
            "(400, 'Aquila chrysaetos', 'species', 10), (401, 'Bufo spinosus', 'species', 10), "
            "(402, 'Bufo bufo', 'species', 10), (403, 'Circaetus gallicus', 'species', 10), "
            "(404, 'Pica pica', 'species', 10)"
        )
    result = cli_invoke(["refs", "import", str(path), "--unmatched", str(tmp_path / "unmatched.csv")],
                        ref_store, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    with ref_store.read() as con:
        matched = dict(con.execute(
            "SELECT taxon_id, ref_id FROM ref_matches WHERE status = 'matched'").fetchall())
        flagged = {r[0] for r in con.execute(
            "SELECT taxon_id FROM v_taxon_status WHERE protected_national").fetchall()}
    assert matched[100] == "459628"            # Epidalea calamita (CD_REF of the real list)
    assert matched[101] == "2657"              # Aquila fasciata
    assert matched[400] == "2645"              # Aquila chrysaetos
    assert matched[200] == "2651"              # Aquila pennata -> Hieraaetus pennatus (synonym)
    assert matched[402] == "259"               # accepted name wins over a synonym of Bufo spinosus
    assert matched[401] == "774678"
    assert {100, 101, 200, 400, 401, 402, 403} <= flagged
    assert 404 not in flagged                  # magpie: not protected
    assert "Rana alpina" in result.output      # ambiguous, listed on the console
    assert (tmp_path / "unmatched.csv").stat().st_size > 100_000


def test_red_list_extract_without_type_codes(ref_store, tmp_path):
    """An INPN 'statuts' extract with LB_TYPE_STATUT only, ;-separated (as exported per list)."""
    path = tmp_path / "liste-rouge.csv"
    path.write_text(
        "CD_REF;LB_NOM;LB_TYPE_STATUT;CODE_STATUT;LABEL_STATUT;LB_ADM_TR\n"
        "2657;Aquila fasciata;Liste rouge nationale;EN;En danger;France métropolitaine\n"
        "4525;Passer domesticus;Liste rouge nationale;NT;Quasi menacée;France métropolitaine\n"
        "459628;Epidalea calamita;Liste rouge régionale;VU;Vulnérable;Occitanie\n",
        encoding="utf-8",
    )
    with ref_store.write() as con:
        ref, _ = import_reference(con, path)
    assert ref.format == "bdc_statuts"
    with ref_store.read() as con:
        assert statuses(con, "inpn_redlist") == [
            (100, "inpn_redlist", "threatened", "VU", "Occitanie"),
            (101, "inpn_redlist", "threatened", "EN", "France métropolitaine"),
            (105, "inpn_redlist", "other", "NT", "France métropolitaine"),
        ]
        threatened = dict(con.execute("SELECT taxon_id, threatened FROM v_taxon_status WHERE taxon_id IN (100, 105)").fetchall())
    assert threatened == {100: True, 105: False}
