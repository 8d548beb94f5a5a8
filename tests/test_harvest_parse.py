"""The pure converters on every real iNaturalist sample file and on awkward records."""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timezone

import pytest

from biodiv.inat.parse import (
    compress_raw,
    decompress_raw,
    parse_coordinates,
    parse_observation,
    parse_taxon,
    taxa_in_record,
    taxon_status_rows,
)
from helpers_harvest import Taxonomy, make_observation

# Files of api_v1 that hold neither observations nor taxa (places, identifications,
# controlled terms, histograms, observer/identifier counts, taxon summaries).
NOT_OBSERVATIONS_OR_TAXA = {
    "get_controlled_terms.json", "get_identifications.json", "get_observation_histogram_month.json",
    "get_observation_histogram_week_of_year.json", "get_observation_identifiers_node_page1.json",
    "get_observation_observers_node_page1.json", "get_observation_taxon_summary_conserved.json",
    "get_observation_taxon_summary_listed.json", "get_observation_taxonomy.json",
    "get_places_autocomplete.json", "get_places_by_id.json", "get_places_nearby.json",
}
SPECIES_COUNT_FILES = ("get_observation_species_counts.json", "get_all_observation_species_counts_page1.json",
                       "get_all_observation_species_counts_page2.json")


def _records(doc):
    return doc["results"] if isinstance(doc, dict) and "results" in doc else [doc]


def _observation_files(folder):
    return sorted(p for p in folder.glob("get_observation*.json")
                  if p.name not in NOT_OBSERVATIONS_OR_TAXA and p.name not in SPECIES_COUNT_FILES)


def test_every_sample_file_is_covered(shared_data):
    folder = shared_data / "inaturalist" / "api_v1"
    covered = {p.name for p in _observation_files(folder)} | {p.name for p in folder.glob("get_taxa*.json")}
    covered |= set(SPECIES_COUNT_FILES) | NOT_OBSERVATIONS_OR_TAXA
    assert {p.name for p in folder.glob("*.json")} == covered
    assert len(_observation_files(folder)) == 8


def test_every_real_observation_file_parses(shared_data):
    folder = shared_data / "inaturalist" / "api_v1"
    seen = 0
    for path in _observation_files(folder):
        for record in _records(json.loads(path.read_text())):
            row = parse_observation(record)
            seen += 1
            assert row["id"] == record["id"] and row["uuid"] == record["uuid"], path.name
            lon, lat = (float(c) for c in record["geojson"]["coordinates"])
            assert (row["lon"], row["lat"]) == pytest.approx((lon, lat)), path.name
            assert row["taxon_id"] == record["taxon"]["id"]
            assert row["user_login"] == record["user"]["login"]
            assert row["observed_on"] == date.fromisoformat(str(record["observed_on"])[:10])
            assert row["created_at"].tzinfo is not None and row["updated_at"] >= row["created_at"]
            assert row["photo_url"] is None or "square" in row["photo_url"]
            assert row["identifications_agree"] == record["num_identification_agreements"]
            assert row["positional_accuracy"] == record.get("public_positional_accuracy")
            assert decompress_raw(compress_raw(record)) == json.loads(json.dumps(record, default=str))
            taxon = parse_taxon(record["taxon"])
            assert taxon["ancestor_ids"][-1] == taxon["id"] and taxon["name"] == record["taxon"]["name"]
    assert seen == 8


def test_real_string_coordinates_and_location_string(shared_data):
    record = json.loads((shared_data / "inaturalist/api_v1/get_observation.json").read_text())["results"][0]
    assert isinstance(record["geojson"]["coordinates"][0], str)
    row = parse_observation(record)
    assert (row["lon"], row["lat"]) == (4.360086, 50.646894)
    # without geojson the "lat,lng" location string is used, in the right order
    no_geo = dict(record, geojson=None)
    assert parse_coordinates(no_geo) == (4.360086, 50.646894)


def test_real_obscured_observation(shared_data):
    doc = json.loads((shared_data / "inaturalist/api_v1/get_observation_with_ofvs.json").read_text())
    row = parse_observation(doc["results"][0])
    assert row["obscured"] is True and row["geoprivacy"] == "obscured"
    assert row["positional_accuracy"] == 27754  # the public (randomised) accuracy, not the true one


def test_every_real_taxa_file_parses(shared_data):
    folder = shared_data / "inaturalist" / "api_v1"
    seen = 0
    for path in sorted(folder.glob("get_taxa*.json")):
        for record in _records(json.loads(path.read_text())):
            for taxon in taxa_in_record(record):
                row = parse_taxon(taxon)
                seen += 1
                assert row["id"] == taxon["id"] and row["name"] == taxon["name"], path.name
                assert row["rank"] == taxon["rank"] and row["ancestor_ids"][-1] == row["id"]
                if row["rank"] == "species":
                    assert row["species_id"] == row["id"]
    for name in SPECIES_COUNT_FILES:
        for result in json.loads((folder / name).read_text())["results"]:
            row = parse_taxon(result["taxon"])
            seen += 1
            assert row["id"] == result["taxon"]["id"]
    assert seen > 100


def test_real_conservation_statuses(shared_data):
    doc = json.loads((shared_data / "inaturalist/api_v1/get_taxa_by_id_conservation_statuses.json").read_text())
    taxon = doc["results"][0]
    rows = taxon_status_rows(taxon)
    assert {(r["code"], r["kind"]) for r in rows} == {("EN", "threatened")}
    assert {r["scope"] for r in rows} == {"South Africa", ""}
    assert all(r["source"] == "inaturalist" and r["kind"] != "protected" for r in rows)
    assert parse_taxon(taxon)["conservation_status"] == "EN"


def test_synthetic_records_have_the_real_shape(shared_data):
    """The stand-in server's observations carry every key of a real API result."""
    real = json.loads((shared_data / "inaturalist/api_v1/get_observations_page1.json").read_text())["results"][0]
    tax = Taxonomy(4)
    synthetic = make_observation(5, tax.records[tax.species[0]], 3.5, 43.6, datetime.now(timezone.utc))
    assert set(synthetic) == set(real)
    assert len(json.dumps(synthetic)) > 0.9 * len(json.dumps(real))        # the real weight, ~59 KB
    # v2: only uuid without a selection, the nested projection with one, the v2 shape with "all"
    from helpers_harvest import v2_answer

    assert v2_answer(synthetic, None) == {"uuid": synthetic["uuid"]}
    assert v2_answer(synthetic, {"taxon": {"name": True}, "user": {"login": True}}) == {
        "taxon": {"name": synthetic["taxon"]["name"]}, "user": {"login": "user7"}}
    real_v2 = json.loads((shared_data / "inaturalist/api_v2/get_observations_full.json").read_text())["results"][0]
    assert set(v2_answer(synthetic, "all")) - {"time_observed_at", "private_location"} == set(real_v2)
    # conservation_status appears only on taxa that have one, as in real answers
    assert set(real["taxon"]) - {"conservation_status"} <= set(synthetic["taxon"])
    bigger = Taxonomy(200)
    with_status = [t for t in bigger.records.values() if "conservation_status" in t]
    assert with_status and set(real["taxon"]["conservation_status"]) == set(with_status[0]["conservation_status"])
    assert set(real["photos"][0]) == set(synthetic["photos"][0])
    assert set(real["user"]) <= set(synthetic["user"])
    by_id = json.loads((shared_data / "inaturalist/api_v1/get_taxa_by_id.json").read_text())["results"][0]
    assert {"ancestors", "ancestor_ids", "rank", "name"} <= set(tax.answer(tax.species[0])) & set(by_id)


def test_private_observation_without_coordinates_or_taxon():
    record = make_observation(9, None, None, None, datetime(2025, 5, 1, tzinfo=timezone.utc),
                              geoprivacy="private", with_photo=False)
    row = parse_observation(record)
    assert row["lon"] is None and row["lat"] is None and row["taxon_id"] is None
    assert row["geoprivacy"] == "private" and row["photo_url"] is None


def test_unknown_and_odd_fields_do_not_crash():
    record = {"id": "42", "geojson": {"coordinates": ["x", "y"]}, "location": "91,500", "brand_new_field": {"a": 1},
              "observed_on": "not a date", "created_at": "2024-02-30T00:00:00", "obscured": "true",
              "taxon": {"id": 3, "rank": "genus"}, "photos": [{"url": "https://x/photos/1/original.jpg"}]}
    row = parse_observation(record)
    assert row["id"] == 42 and row["lon"] is None and row["observed_on"] is None and row["created_at"] is None
    assert row["obscured"] is True and row["taxon_id"] == 3
    assert row["photo_url"] == "https://x/photos/1/square.jpg"
    assert parse_observation({})["id"] is None


def test_naive_and_space_separated_timestamps_become_utc():
    record = {"id": 1, "created_at": "2021-06-14 23:53:01-07:00", "updated_at": "2021-06-15T04:50:40",
              "observed_on": "2021-06-10 16:02:00-08:00"}
    row = parse_observation(record)
    assert row["created_at"] == datetime(2021, 6, 15, 6, 53, 1, tzinfo=timezone.utc)
    assert row["updated_at"] == datetime(2021, 6, 15, 4, 50, 40, tzinfo=timezone.utc)
    assert row["observed_on"] == date(2021, 6, 10)


def test_infraspecific_taxon_points_to_its_species():
    tax = Taxonomy(2)
    species = copy.deepcopy(tax.records[tax.species[0]])
    sub = dict(species, id=999_999, rank="subspecies", rank_level=5, min_species_taxon_id=species["id"],
               ancestor_ids=species["ancestor_ids"] + [999_999])
    assert parse_taxon(sub)["species_id"] == species["id"]
    genus = tax.records[species["ancestor_ids"][-2]]
    assert parse_taxon(genus)["species_id"] is None
