"""Commune codes of an imported layer checked against the official list (issue 24 item 7):
an outdated file (a commune merged since) gets one warning naming the code and the commune
that replaced it. Built from the real files: the Hérault communes layer and Etalab's
``communes.json`` (decoupage-administratif 6.0.0), whose communes déléguées carry their chef-lieu."""

from __future__ import annotations

import json

import pytest

from biodiv.areas.territory import outdated_codes
from helpers_hardening import COMMUNES_GEOJSON, COMMUNES_JSON, cli, write_config

pytestmark = pytest.mark.shared


def _merged(shared_data) -> dict:
    """A commune déléguée of the real list that is not a current commune (merged since)."""
    records = json.loads((shared_data / COMMUNES_JSON).read_text(encoding="utf-8"))
    current = {r["code"] for r in records if r.get("type") == "commune-actuelle"}
    merged = [r for r in records if r.get("type") != "commune-actuelle" and r["code"] not in current]
    assert merged, "the real list holds no merged commune"
    return merged[0] | {"head": next(r for r in records if r["code"] == merged[0]["chefLieu"]
                                    and r.get("type") == "commune-actuelle")}


def test_outdated_codes_name_what_replaced_them(shared_data):
    records = json.loads((shared_data / COMMUNES_JSON).read_text(encoding="utf-8"))
    gone = _merged(shared_data)
    notes = outdated_codes(["34001", gone["code"], "34999", "79219"], records, "communes.json")
    assert len(notes) == 1
    assert f"{gone['code']} ({gone['nom']}) → {gone['chefLieu']} ({gone['head']['nom']})" in notes[0]
    assert "34999 (no longer in the list)" in notes[0]
    assert "79219" not in notes[0] and "34001" not in notes[0]   # another department: not judged
    assert outdated_codes(["34001", "34002"], records, "communes.json") == []


def test_areas_import_with_an_outdated_layer_warns(tmp_path, shared_data, monkeypatch, capsys):
    """The real Hérault layer (343 features) is older than the real list 6.0.0 (341 current
    communes): its merged communes are named with their successors, in one warning; the same
    layer without them imports without it."""
    records = json.loads((shared_data / COMMUNES_JSON).read_text(encoding="utf-8"))
    current = {r["code"] for r in records if r.get("type") == "commune-actuelle"}
    layer = json.loads((shared_data / COMMUNES_GEOJSON).read_text(encoding="utf-8"))
    stale = sorted(f["properties"]["code"] for f in layer["features"] if f["properties"]["code"] not in current)
    assert stale                                         # the real file is outdated
    cfg_file = write_config(tmp_path)
    code, _, err = cli(["init", "--communes", "34001,34002"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    code, out, err = cli(["areas", "import", str(shared_data / COMMUNES_GEOJSON), "--type", "commune",
                          "--communes-file", str(shared_data / COMMUNES_JSON)], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    warnings = [line for line in err.split("warning:") if "no longer exist" in line]
    assert len(warnings) == 1 and all(code in warnings[0] for code in stale)
    for code_ in stale:
        rec = next(r for r in records if r["code"] == code_)
        assert f"{code_} ({rec['nom']}) → {rec['chefLieu']}" in " ".join(warnings[0].split())
    layer["features"] = [f for f in layer["features"] if f["properties"]["code"] in current]
    fresh = tmp_path / "communes-current.geojson"
    fresh.write_text(json.dumps(layer), encoding="utf-8")
    code, out, err = cli(["areas", "import", str(fresh), "--type", "commune",
                          "--communes-file", str(shared_data / COMMUNES_JSON)], cfg_file, monkeypatch, capsys)
    assert code == 0 and "no longer exist" not in err, err
