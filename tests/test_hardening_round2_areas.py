"""``areas import`` refuses nonsense and warns when a layer moves the territory (issue 22, item 7).

A real harvested CCVH store (the real Hérault commune boundaries, observations from the
iNaturalist stand-in) and variants of the real commune layer: longitude and latitude
swapped, the layer moved out of France, some communes drawn as self-intersecting rings,
and the layer shifted inside France (valid everywhere, wrong for this territory)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import shared_data_dir
from helpers_hardening import COMMUNES_GEOJSON, build_harvested, cli, sha256, write_config

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def harvested(tmp_path_factory) -> Path:
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    return build_harvested(tmp_path_factory.mktemp("areas"), shared, n_observations=200)


@pytest.fixture
def copy(harvested, tmp_path) -> tuple[Path, Path]:
    db = tmp_path / "biodiv.duckdb"
    shutil.copyfile(harvested, db)
    return db, write_config(tmp_path, db=db)


def _layer(shared: Path, out: Path, change) -> Path:
    doc = json.loads((shared / COMMUNES_GEOJSON).read_text(encoding="utf-8"))
    for i, feature in enumerate(doc["features"]):
        feature["geometry"] = change(i, feature["geometry"])
    out.write_text(json.dumps(doc), encoding="utf-8")
    return out


def _map_coords(geometry, f):
    def walk(c):
        return [walk(x) for x in c] if isinstance(c[0], list) else list(f(*c[:2]))
    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_swapped_longitude_and_latitude_are_refused(copy, shared_data, tmp_path, monkeypatch, capsys):
    db, cfg_file = copy
    before = sha256(db)
    swapped = _layer(shared_data, tmp_path / "swapped.geojson", lambda i, g: _map_coords(g, lambda x, y: (y, x)))
    code, _, err = cli(["areas", "import", str(swapped), "--type", "commune"], cfg_file, monkeypatch, capsys)
    line = _one_line(err)
    assert code == 1 and "swapped" in line and "343 of 343" in line, line
    assert sha256(db) == before


def test_a_layer_outside_france_is_refused(copy, shared_data, tmp_path, monkeypatch, capsys):
    db, cfg_file = copy
    before = sha256(db)
    far = _layer(shared_data, tmp_path / "far.geojson", lambda i, g: _map_coords(g, lambda x, y: (x + 40, y)))
    code, _, err = cli(["areas", "import", str(far), "--type", "commune"], cfg_file, monkeypatch, capsys)
    line = _one_line(err)
    assert code == 1 and "outside France" in line, line
    assert sha256(db) == before


def test_self_intersecting_communes_are_repaired_with_a_warning_naming_them(copy, shared_data, tmp_path,
                                                                           monkeypatch, capsys):
    db, cfg_file = copy
    doc = json.loads((shared_data / COMMUNES_GEOJSON).read_text(encoding="utf-8"))
    codes = [f["properties"]["code"] for f in doc["features"][:3]]

    def bowtie(i, g):
        if i >= 3:
            return g
        polygon = g["coordinates"] if g["type"] == "Polygon" else g["coordinates"][0]
        ring = polygon[0]
        n = len(ring) // 2
        ring[1], ring[n] = ring[n], ring[1]          # two vertices swapped: the ring crosses itself
        return {"type": "Polygon", "coordinates": polygon}

    layer = _layer(shared_data, tmp_path / "bowtie.geojson", bowtie)
    code, out, err = cli(["areas", "import", str(layer), "--type", "commune"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    warning = next(line for line in err.splitlines() if "repaired" in line)
    assert warning.startswith("warning:") and "3 invalid polygon(s) repaired" in warning, err
    assert all(c in warning for c in codes), warning


def test_a_layer_that_moves_the_territory_is_imported_with_a_warning(copy, shared_data, tmp_path, monkeypatch, capsys):
    db, cfg_file = copy
    moved = _layer(shared_data, tmp_path / "moved.geojson", lambda i, g: _map_coords(g, lambda x, y: (x - 1.5, y + 1.0)))
    code, out, err = cli(["areas", "import", str(moved), "--type", "commune"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    m = re.search(r"warning: this commune layer changed the territory a lot \((.*)\)", err)
    assert m and "its observations" in m.group(1), err
    counts = re.search(r"its observations ([\d,]+) -> ([\d,]+)", m.group(1))
    assert int(counts.group(2).replace(",", "")) < int(counts.group(1).replace(",", "")) // 2
