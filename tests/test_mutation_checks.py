"""Four behaviours a mutation audit changed without any test failing: each has a test now.

1. the SQL console refuses a second statement, whatever it is;
2. the GeoNature export keeps ``cd_nom`` (the name as cited) and ``cd_ref`` (the accepted
   taxon) apart, checked on a synonym, where they differ;
3. the iNaturalist client waits what ``Retry-After`` says after a 429;
4. a migration missing below the highest recorded one is applied, and the schema check
   names it, instead of being skipped.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest

from biodiv.analysis.readonly import SqlRefused, check_read_only
from biodiv.store import engine


# 1 --------------------------------------------------------------------------------------

@pytest.mark.parametrize("second", ["SELECT 2", "SELECT 1", "FROM observations", "PRAGMA version",
                                    "VALUES (1)", "SUMMARIZE SELECT 1"])
def test_sql_console_refuses_a_second_statement(second):
    with pytest.raises(SqlRefused, match="one statement at a time, got 2"):
        check_read_only(f"SELECT 1; {second}")
    assert check_read_only(f"{second};") .strip().rstrip(";")   # each alone is accepted


def test_sql_command_refuses_a_second_statement_in_one_line(tmp_path, monkeypatch):
    from helpers_analysis import build_fixture, cli_invoke

    store = build_fixture(tmp_path / "biodiv.duckdb")
    result = cli_invoke(["sql", "SELECT 1 AS a; SELECT 2 AS b"], store, tmp_path, monkeypatch)
    assert result.exit_code != 0
    assert isinstance(result.exception, SqlRefused), result.output
    assert "one statement at a time" in str(result.exception)
    assert result.output == ""     # nothing of either statement's result was printed


# 2 --------------------------------------------------------------------------------------

def test_geonature_export_keeps_cd_nom_and_cd_ref_apart_on_a_synonym(tmp_path):
    from conftest import shared_data_dir

    from biodiv.analysis.exports import ExportFilter, export
    from biodiv.analysis.queries import lock_down
    from biodiv.analysis.taxref import import_taxref
    from helpers_analysis import build_fixture, taxref_from_protection_list

    if shared_data_dir() is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    taxref = tmp_path / "TAXREFv18.txt"
    names = taxref_from_protection_list(shared_data_dir() / "conservation" / "liste-especes-protegees-france.csv",
                                        taxref)
    # a binomial that TAXREF (here built from the real list) knows only as a synonym of one taxon
    synonym, (cd_nom, cd_ref) = next(
        (name, pairs[0]) for name, pairs in sorted(names.items())
        if len(pairs) == 1 and pairs[0][0] != pairs[0][1] and len(name.split()) == 2
        and name.split()[0].isalpha() and name.split()[1].isalpha() and name not in names.get(name, []))
    assert cd_nom != cd_ref
    genus = synonym.split()[0]
    extra = f"""
    INSERT INTO taxa (id, name, common_name_fr, rank, rank_level, iconic_taxon_name, ancestor_ids,
                      kingdom_name, phylum_name, class_name, order_name, family_name, genus_name,
                      species_id, conservation_status, threatened) VALUES
     (900, '{synonym}', NULL, 'species', 10, NULL, [1, 900], NULL, NULL, NULL, NULL, NULL,
      '{genus}', 900, NULL, false);
    INSERT INTO observations (id, uuid, observed_on, quality_grade, taxon_id, lon, lat, geom,
                              positional_accuracy, obscured, user_id, user_login, license_code, uri,
                              in_territory, removed_at, geoprivacy) VALUES
     (90, 'u90', DATE '2024-05-05', 'research', 900, 3.5, 43.55, ST_Point(3.5, 43.55), 10, false, 1, 'alice',
      'cc-by', 'https://www.inaturalist.org/observations/90', true, NULL, NULL);
    """
    store = build_fixture(tmp_path / "biodiv.duckdb", extra_sql=extra)
    with store.write() as con:
        import_taxref(con, taxref)
    con = lock_down(store.reader())
    try:
        out = tmp_path / "synthese.csv"
        export(con, "geonature", out, ExportFilter(include_outside=True, quality="any"),
               dataset={"jdd_uuid": "4d331cae-65e4-4948-b0b2-a11bc5bb46c2", "jdd_nom": "t",
                        "ca_uuid": "57b7d0f2-4183-4b7b-8f08-6e105d476dc5", "ca_nom": "t"})
    finally:
        con.close()
    with open(out, encoding="utf-8", newline="") as fh:
        row = next(r for r in csv.DictReader(fh, delimiter=";") if r["id_origine"] == "90")
    assert (row["cd_nom"], row["cd_ref"], row["nom_cite"]) == (str(cd_nom), str(cd_ref), synonym)


# 3 --------------------------------------------------------------------------------------

class _TooManyOnce(BaseHTTPRequestHandler):
    """The first request gets 429 with ``Retry-After: 2``, the next ones a page of nothing."""

    arrivals: list[float] = []

    def do_GET(self):  # noqa: N802 (http.server API)
        type(self).arrivals.append(time.monotonic())
        if len(type(self).arrivals) == 1:
            body, status, extra = b'{"error":"Too Many Requests","status":429}', 429, {"Retry-After": "2"}
        else:
            body, status, extra = json.dumps({"total_results": 0, "page": 1, "per_page": 1,
                                              "results": []}).encode(), 200, {}
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_client_waits_what_retry_after_says(tmp_path):
    from biodiv.inat.client import InatClient
    from helpers_harvest import harvest_config

    _TooManyOnce.arrivals = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TooManyOnce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = harvest_config(tmp_path, f"http://127.0.0.1:{server.server_address[1]}/v1")
        client = InatClient(cfg)
        assert client.observations({"per_page": 1})["total_results"] == 0
        client.close()
    finally:
        server.shutdown()
    first, second = _TooManyOnce.arrivals[:2]
    # the server's own clock: the retry came after the 2 s asked, not after a 1 s backoff
    assert second - first >= 1.9, second - first


# 4 --------------------------------------------------------------------------------------

def _fake_migrations(n: int) -> list:
    return [engine.Migration(v, f"{v:03d}_t{v}", f"CREATE TABLE t{v} (x INTEGER)") for v in range(1, n + 1)]


def test_a_migration_missing_below_the_highest_is_applied_and_named(tmp_path, monkeypatch):
    path = str(tmp_path / "store.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, "
                "applied_at TIMESTAMP DEFAULT current_timestamp)")
    monkeypatch.setattr(engine, "migrations", lambda: _fake_migrations(3))
    # a file where 1 and 3 were applied, 2 not (2 landed after 3 was shipped)
    for v in (1, 3):
        con.execute(f"CREATE TABLE t{v} (x INTEGER)")
        con.execute(f"INSERT INTO schema_migrations (version, name) VALUES ({v}, 't{v}')")
    with pytest.raises(engine.StoreError, match=r"lacks migration\(s\) 2\b"):
        engine.check_schema(con, "the test store")   # closes the refused connection
    con = duckdb.connect(path)
    assert engine.migrate(con) == [2]
    assert con.execute("SELECT count(*) FROM t2").fetchone()[0] == 0
    engine.check_schema(con, "the test store")   # now complete
    assert engine.migrate(con) == []
