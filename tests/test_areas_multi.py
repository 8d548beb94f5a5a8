"""One commune layer from several files (issue 11, item 5): territories that span
departments get their boundaries per department, so `biodiv areas import A B` and
`--append` build one layer; a code in two files, or already loaded, is refused in one line
with the database byte-identical. Real Hérault boundaries split in two files."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from helpers_hardening import COMMUNES_GEOJSON, EPCI_FILE, cli, sha256, write_config

pytestmark = pytest.mark.shared


@pytest.fixture
def halves(tmp_path, shared_data) -> tuple[Path, Path, dict]:
    """The 343 Hérault communes as two files (codes below 34170, and the others)."""
    doc = json.loads((shared_data / COMMUNES_GEOJSON).read_text())
    west = [f for f in doc["features"] if f["properties"]["code"] < "34170"]
    east = [f for f in doc["features"] if f["properties"]["code"] >= "34170"]
    paths = []
    for name, feats in (("communes_a.geojson", west), ("communes_b.geojson", east)):
        path = tmp_path / name
        path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
        paths.append(path)
    return paths[0], paths[1], doc


@pytest.fixture
def ccvh(tmp_path, shared_data, monkeypatch, capsys) -> Path:
    cfg_file = write_config(tmp_path)
    code, _, err = cli(["init", "--epci-file", str(shared_data / EPCI_FILE)], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    return cfg_file


def _layer(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("LOAD spatial")
        return con.execute(
            "SELECT code, name, ST_AsText(geom), in_territory FROM areas WHERE type = 'commune' ORDER BY code"
        ).fetchall()
    finally:
        con.close()


def _outline(db: Path) -> float:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT round(area_km2, 3) FROM territory").fetchone()[0]
    finally:
        con.close()


def test_several_files_and_append_build_the_same_layer_as_one_file(
        ccvh, halves, tmp_path, shared_data, monkeypatch, capsys):
    a, b, _ = halves
    db = tmp_path / "biodiv.duckdb"
    code, out, err = cli(["areas", "import", str(shared_data / COMMUNES_GEOJSON), "--type", "commune"],
                         ccvh, monkeypatch, capsys)
    assert code == 0, err
    whole, whole_km2 = _layer(db), _outline(db)
    assert len(whole) == 343 and sum(r[3] for r in whole) == 28

    code, out, err = cli(["areas", "import", str(a), str(b), "--type", "commune"], ccvh, monkeypatch, capsys)
    assert code == 0, err
    assert "343 areas imported from 2 files (28 in the territory" in out
    assert _layer(db) == whole and _outline(db) == whole_km2

    code, out, err = cli(["areas", "import", str(a), "--type", "commune"], ccvh, monkeypatch, capsys)
    assert code == 0, err
    assert len(_layer(db)) < 343                      # replaced by the first half only
    code, out, err = cli(["areas", "import", str(b), "--type", "commune", "--append"], ccvh, monkeypatch, capsys)
    assert code == 0, err
    assert "343 areas after adding" in out
    assert _layer(db) == whole and _outline(db) == whole_km2
    con = duckdb.connect(str(db), read_only=True)
    sources = dict(con.execute("SELECT code, source FROM areas WHERE type = 'commune'").fetchall())
    con.close()
    assert sources["34001"].endswith("communes_a.geojson") and sources["34340"].endswith("communes_b.geojson")


def test_a_code_in_two_files_or_already_loaded_is_refused_by_code(ccvh, halves, tmp_path, monkeypatch, capsys):
    a, b, doc = halves
    db = tmp_path / "biodiv.duckdb"
    code, _, err = cli(["areas", "import", str(a), "--type", "commune"], ccvh, monkeypatch, capsys)
    assert code == 0, err
    # the east half plus two communes of the west half (a neighbour department's file often
    # carries border communes)
    taken = [f for f in doc["features"] if f["properties"]["code"] in ("34001", "34002")]
    overlap = tmp_path / "communes_b_plus.geojson"
    overlap.write_text(json.dumps({"type": "FeatureCollection",
                                   "features": json.loads(b.read_text())["features"] + taken}))
    before = sha256(db)
    for args, expected in (
        (["areas", "import", str(a), str(overlap), "--type", "commune"], "in more than one file (34001, 34002"),
        (["areas", "import", str(overlap), "--type", "commune", "--append"], "already loaded (34001, 34002"),
    ):
        code, out, err = cli(args, ccvh, monkeypatch, capsys)
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
        assert expected in lines[0]
        assert sha256(db) == before
        assert not db.with_name(db.name + ".wip").exists()
