"""The field selection (biodiv.inat.fields): projection, checks, parser coverage, and the
upgrade of a store holding whole v1 records (migration 006 + biodiv.inat.reencode)."""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timezone

import pytest

from biodiv.inat.fields import OBSERVATION_FIELDS, RecordProblem, check_record, project, selected_paths
from biodiv.inat.parse import (
    RAW_DICTIONARIES,
    RAW_DICTIONARY,
    compress_raw,
    decompress_raw,
    decompress_text,
    parse_observation,
)
from biodiv.inat.reencode import raw_format, reencode_raw
from biodiv.store.database import Store, migrations

V1_FILES = ("get_observations_page1.json", "get_observations_page2.json", "get_observation.json",
            "get_observations_by_id.json", "get_observation_with_ofvs.json",
            "get_observation_with_quality_metrics.json")


def _real_v1(shared_data) -> list[dict]:
    out = []
    for name in V1_FILES:
        doc = json.loads((shared_data / "inaturalist/api_v1" / name).read_text())
        out.extend(doc["results"] if "results" in doc else [doc])
    return out


def test_projection_is_nested_and_applies_to_list_elements():
    record = {"id": 1, "uuid": "u", "extra": 5, "taxon": {"id": 3, "name": "X", "ancestors": [{"id": 1}]},
              "photos": [{"url": "a", "id": 9}, {"url": "b", "license_code": None}]}
    assert project(record) == {"id": 1, "uuid": "u", "taxon": {"id": 3, "name": "X"},
                               "photos": [{"url": "a"}, {"url": "b", "license_code": None}]}
    assert list(project(record)) == [k for k in OBSERVATION_FIELDS if k in record]   # selection order
    assert "taxon.default_photo.square_url" in selected_paths() and "identifications.user.name" in selected_paths()


@pytest.mark.shared
def test_parser_reads_only_selected_fields_on_real_records(shared_data):
    """Parsing the projection gives the same row as parsing the whole v1 record: the
    selection holds everything the parser reads."""
    for record in _real_v1(shared_data):
        assert parse_observation(project(record)) == parse_observation(record), record["id"]
        check_record(project(record), require_all=False)


@pytest.mark.shared
def test_new_columns_from_real_records(shared_data):
    rows = {r["id"]: parse_observation(r) for r in _real_v1(shared_data)}
    monarch = rows[57754375]   # identified by its observer, then confirmed by aguilita
    assert monarch["user_name"] is None and monarch["user_login"] == "samroom"
    assert monarch["time_zone"] == "Etc/UTC"
    assert monarch["identified_by"] == "samroom"
    assert monarch["identified_at"] == datetime(2020, 8, 27, 18, 0, 51, tzinfo=timezone.utc)
    assert monarch["photo_attribution"] == "(c) samroom, some rights reserved (CC BY-NC)"
    assert rows[70963477]["description"].startswith(
        json.loads((shared_data / "inaturalist/api_v1/get_observation_with_ofvs.json").read_text())
        ["results"][0]["description"][:40])
    assert rows[16227955]["description"] is None        # v1 sends "" when there are no notes
    weevil = rows[16227955]
    assert weevil["user_name"] == "Nicolas Noé" and weevil["time_zone"] == "Europe/Paris"
    assert weevil["observed_at"] is not None and weevil["identified_by"]


@pytest.mark.shared
def test_real_v2_record_parses_like_v1(shared_data):
    """A real v2 answer (fields=all, projected) reads through the same parser; its
    observed_on carries the local time, which becomes observed_at."""
    record = json.loads((shared_data / "inaturalist/api_v2/get_observations_full.json").read_text())["results"][0]
    row = parse_observation(project(record))
    assert row["id"] == 14150125 and row["taxon_id"] == 4626 and row["user_login"] == "jmilligan"
    assert row["time_zone"] == "America/Chicago" and row["lon"] == pytest.approx(-105.1650693422)
    assert row["observed_at"] == datetime(2018, 7, 7, 13, 10, 6, tzinfo=timezone.utc)
    assert row["identified_by"] == "jmilligan" and row["photo_url"].endswith("square.jpg")
    with pytest.raises(RecordProblem, match="time_observed_at.*missing"):
        check_record(record)   # the fields=all sample predates time_observed_at in v2


def test_check_record_refuses_wrong_types_and_unknown_geoprivacy():
    good = {k: None for k in OBSERVATION_FIELDS} | {"id": 5, "uuid": "u", "updated_at": "2024-01-01T00:00:00Z"}
    check_record(good)
    with pytest.raises(RecordProblem, match="'taxon' is a str"):
        check_record(good | {"taxon": "Bufo bufo"})
    with pytest.raises(RecordProblem, match="'obscured' is a int"):
        check_record(good | {"obscured": 1})
    with pytest.raises(RecordProblem, match="unknown geoprivacy value 'hidden'"):
        check_record(good | {"geoprivacy": "hidden"})
    with pytest.raises(RecordProblem, match="'uuid' is missing"):
        check_record({k: v for k, v in good.items() if k != "uuid"})
    with pytest.raises(RecordProblem, match="'id' is null"):
        check_record(good | {"id": None})


@pytest.mark.shared
def test_raw_blob_is_lean_and_the_dictionary_frozen(shared_data):
    # the dictionary is named by its Adler-32 in every stored blob: it must never change
    assert zlib.adler32(RAW_DICTIONARY) in RAW_DICTIONARIES and zlib.adler32(RAW_DICTIONARY) == 382212752
    for record in _real_v1(shared_data):
        canon = project(record)
        blob = compress_raw(canon)
        assert decompress_raw(blob) == json.loads(json.dumps(canon))
        # the observer's notes (description) are free text: they weigh what they weigh
        notes = len((record.get("description") or "").encode())
        assert len(blob) < 700 + notes and 700 < len(zlib.compress(json.dumps(record).encode(), 1))
    # a blob written before 006 (plain zlib) still reads
    assert decompress_text(zlib.compress(b'{"id":1}', 1)) == b'{"id":1}'


def _store_at_005(path):
    """A store with migrations 001-005 only (biodiv before this change)."""
    from biodiv.store.database import connect

    con = connect(path)
    for m in migrations():
        if m.version < 6:
            con.execute(m.sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [m.version, m.name])
    return con


@pytest.mark.shared
def test_old_store_is_reencoded_without_a_harvest(tmp_path, shared_data):
    records = {r["id"]: r for r in _real_v1(shared_data)}
    path = tmp_path / "old.duckdb"
    con = _store_at_005(path)
    for oid, record in records.items():
        con.execute("INSERT INTO observations (id, uuid, user_login) VALUES (?, ?, ?)",
                    [oid, record["uuid"], record["user"]["login"]])
        con.execute("INSERT INTO observation_raw VALUES (?, ?)",
                    [oid, zlib.compress(json.dumps(record, separators=(",", ":")).encode(), 1)])
    before = con.execute("SELECT sum(octet_length(raw)) FROM observation_raw").fetchone()[0]
    con.close()

    store = Store(path)
    with store.write() as con:          # applies 006
        assert raw_format(con) == "v1-full"
        done = reencode_raw(con)
        assert done["rows"] == len(records) and done["bytes_before"] == before
        assert reencode_raw(con)["rows"] == 0       # once
    with store.read() as con:
        assert raw_format(con) == "selection-1"
        after = con.execute("SELECT sum(octet_length(raw)) FROM observation_raw").fetchone()[0]
        blobs = dict(con.execute("SELECT id, raw FROM observation_raw").fetchall())
        cols = {r[0]: r[1:] for r in con.execute(
            "SELECT id, user_name, time_zone, identified_by, photo_attribution FROM observations").fetchall()}
    assert after < before / 20
    for oid, record in records.items():
        assert decompress_raw(blobs[oid]) == json.loads(json.dumps(project(record)))
        row = parse_observation(record)
        assert cols[oid] == (row["user_name"], row["time_zone"], row["identified_by"], row["photo_attribution"])


def test_new_store_needs_no_reencoding(tmp_path):
    with Store(tmp_path / "new.duckdb").write(create=True) as con:
        assert raw_format(con) == "selection-1" and reencode_raw(con)["rows"] == 0


def test_check_record_refuses_wrong_sub_fields_and_points():
    """A selected sub-field of the wrong type would be read as unknown (a taxon id "abc" as no
    taxon, 1.5 as taxon 1, coordinates "x" as a private observation): refused by path."""
    good = {k: None for k in OBSERVATION_FIELDS} | {
        "id": 5, "uuid": "u", "updated_at": "2024-01-01T00:00:00Z",
        "geojson": {"type": "Point", "coordinates": ["3.5", "43.6"]},        # v1 sends strings
        "taxon": {"id": 3, "ancestor_ids": [1, 3], "rank_level": 10.0, "default_photo": {"square_url": "s"}},
        "user": {"id": 7, "login": "x", "name": None},
        "photos": [{"url": "p", "license_code": None}],
        "identifications": [{"current": True, "taxon": {"id": 3}, "user": {"login": "x"}}],
    }
    check_record(good)
    bad = [
        ({"taxon": {"id": "abc"}}, "'taxon.id' is a str"),
        ({"taxon": {"id": 1.5}}, "'taxon.id' is a float"),
        ({"taxon": {"id": 3, "ancestor_ids": [1, "3"]}}, "'taxon.ancestor_ids' holds a non-integer"),
        ({"taxon": {"id": 3, "threatened": "yes"}}, "'taxon.threatened' is a str"),
        ({"taxon": {"id": 3, "default_photo": "s"}}, "'taxon.default_photo' is a str"),
        ({"user": {"id": True, "login": "x"}}, "'user.id' is a bool"),
        ({"photos": ["p"]}, r"'photos\[\]' is a str"),
        ({"photos": [{"url": 5}]}, "'photos.url' is a int"),
        ({"identifications": [{"taxon": {"id": "3"}}]}, "'identifications.taxon.id' is a str"),
        ({"geojson": {"coordinates": "x"}}, "'geojson.coordinates' is not a longitude and a latitude"),
        ({"geojson": {"coordinates": [3.5]}}, "'geojson.coordinates' is not"),
        ({"geojson": {"coordinates": [200, 43]}}, "'geojson.coordinates' is not"),
        ({"geojson": {"coordinates": ["nan", 43]}}, "'geojson.coordinates' is not"),
    ]
    for change, message in bad:
        with pytest.raises(RecordProblem, match=f"observation 5: {message}"):
            check_record(good | change)
    check_record(good | {"geojson": None, "taxon": None, "photos": [], "identifications": None})
