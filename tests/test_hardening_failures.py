"""Failures that explain themselves and lose nothing (issue 11, item 3), through the real CLI
entry on a real harvested DuckDB file: a full disk during `harvest`, `areas import` and the
working copy (a small tmpfs), a corrupt file (damaged header, damaged data blocks) and a
layer with a NaN coordinate. Every refusal leaves the published file byte-identical."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import shared_data_dir
from helpers_hardening import COMMUNES_GEOJSON, build_harvested, cli, sha256, small_tmpfs, write_config
from helpers_harvest import ObservationSet, StandInInat, Taxonomy, listed_ids

pytestmark = pytest.mark.shared

HEADER = 3 * 4096          # DuckDB: one file header and two database headers, then blocks


@pytest.fixture(scope="module")
def harvested(tmp_path_factory) -> Path:
    """A published database: CCVH, 343 Hérault communes, 300 harvested observations."""
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    return build_harvested(tmp_path_factory.mktemp("harvested"), shared)


def _on_tmpfs(tmp_path: Path, template: Path) -> tuple[Path, Path]:
    """(config file in tmp_path, database on the tmpfs mounted at tmp_path/disk)."""
    db = tmp_path / "disk" / "biodiv.duckdb"
    shutil.copyfile(template, db)
    return write_config(tmp_path, db=db), db


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _count(db: Path, sql: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_disk_full_during_harvest_keeps_the_published_file_and_resumes(harvested, tmp_path, monkeypatch, capsys):
    size = harvested.stat().st_size
    with small_tmpfs(tmp_path / "disk", 2 * size + 1_000_000):
        cfg_file, db = _on_tmpfs(tmp_path, harvested)
        before = sha256(db)
        tax = Taxonomy(30)
        obs = ObservationSet(900, tax)
        with StandInInat(obs, tax) as api:
            monkeypatch.setenv("BIODIV_INAT_API_URL", api.url)
            code, _, err = cli(["harvest", "--full", "--no-progress"], cfg_file, monkeypatch, capsys)
            line = _one_line(err)
            assert code == 1
            assert "disk full while writing" in line and str(db.parent) in line
            assert "free at least" in line and "MB" in line                 # how much space
            assert f"{db} is intact" in line and "resumes from it" in line  # what happened to the work
            assert sha256(db) == before
            wip = db.with_name(db.name + ".wip")
            assert wip.exists()

            # space freed: the next run resumes from the kept working copy and publishes
            subprocess.run(["mount", "-o", f"remount,size={4 * size}", str(db.parent)], check=True)
            code, out, err = cli(["harvest", "--full", "--no-progress"], cfg_file, monkeypatch, capsys)
            assert code == 0, err
            # what the failed run committed was kept: fewer than the 600 missing are new now
            new = int(re.search(r"new\s*│\s*(\d+)", out).group(1))
            assert new < 600, out
        assert not wip.exists()
        # the pages committed before the disk filled were kept, then the rest: exactly the ids
        # iNaturalist lists for the territory's box widened to the 0.2° obscuring grid
        # (biodiv.inat.query.query_box: it holds the whole box the stand-in draws in)
        con = duckdb.connect(str(db), read_only=True)
        try:
            bbox = con.execute("SELECT xmin, ymin, xmax, ymax FROM territory").fetchone()
            stored = {r[0] for r in con.execute("SELECT id FROM observations").fetchall()}
            raw = {r[0] for r in con.execute("SELECT id FROM observation_raw").fetchall()}
        finally:
            con.close()
        listed = set(listed_ids(obs, bbox))
        assert 600 < len(listed) <= 900
        assert stored == raw == listed


def test_disk_full_during_areas_import_is_one_line_and_changes_nothing(harvested, tmp_path, monkeypatch, capsys, shared_data):
    size = harvested.stat().st_size
    with small_tmpfs(tmp_path / "disk", 2 * size + 64 * 1024):
        cfg_file, db = _on_tmpfs(tmp_path, harvested)
        before = sha256(db)
        code, _, err = cli(["areas", "import", str(shared_data / COMMUNES_GEOJSON), "--type", "commune",
                            "--source-date", "2026-01-01"], cfg_file, monkeypatch, capsys)
        line = _one_line(err)
        assert code == 1 and "disk full while writing" in line and "free at least" in line
        assert f"{db} is intact" in line
        assert sha256(db) == before


def test_no_room_for_the_working_copy_says_how_much_is_needed(harvested, tmp_path, monkeypatch, capsys):
    size = harvested.stat().st_size
    with small_tmpfs(tmp_path / "disk", size + 1_000_000):
        cfg_file, db = _on_tmpfs(tmp_path, harvested)
        before = sha256(db)
        code, _, err = cli(["attach", "--all"], cfg_file, monkeypatch, capsys)
        line = _one_line(err)
        assert code == 1
        assert f"needs {size / 1e6:.1f} MB" in line and "nothing was changed" in line
        assert sha256(db) == before
        assert sorted(p.name for p in db.parent.iterdir()) == ["biodiv.duckdb", "biodiv.duckdb.lock"]


def _damage(db: Path, offset: int, length: int = 64) -> None:
    with open(db, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * length)


def test_damaged_header_is_reported_as_corrupt_not_locked(harvested, tmp_path, monkeypatch, capsys):
    db = tmp_path / "biodiv.duckdb"
    shutil.copyfile(harvested, db)
    cfg_file = write_config(tmp_path)
    _damage(db, 4096 + 8)        # the first database header: its checksum no longer matches
    before = sha256(db)
    for args in (["status"], ["attach"], ["areas", "list"]):
        code, _, err = cli(args, cfg_file, monkeypatch, capsys)
        line = _one_line(err)
        assert code == 1
        assert "is corrupt" in line and "locked" not in line, line
        assert "restore a backup" in line and "left untouched" in line
    assert sha256(db) == before
    assert not db.with_name(db.name + ".wip").exists()


def test_attach_all_on_damaged_data_blocks_is_one_line_and_leaves_the_file(harvested, tmp_path, monkeypatch, capsys):
    db = tmp_path / "biodiv.duckdb"
    shutil.copyfile(harvested, db)
    cfg_file = write_config(tmp_path)
    con = duckdb.connect(str(db), read_only=True)
    block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
    block = con.execute(
        "SELECT block_id FROM pragma_storage_info('observations') WHERE column_name = 'lon' AND block_id >= 0"
    ).fetchone()[0]
    con.close()
    _damage(db, HEADER + block * block_size + 100)
    before = sha256(db)

    for args in (["attach", "--all"], ["status"]):   # the file opens: the damage is met while reading
        code, _, err = cli(args, cfg_file, monkeypatch, capsys)
        line = _one_line(err)
        assert code == 1
        assert f"{db} is corrupt" in line and "checksum" in line and "restore a backup" in line
    assert sha256(db) == before
    assert not db.with_name(db.name + ".wip").exists()   # the damaged copy is not kept for a resume


def test_layer_with_a_nan_coordinate_is_refused_in_one_line(harvested, tmp_path, monkeypatch, capsys, shared_data):
    db = tmp_path / "biodiv.duckdb"
    shutil.copyfile(harvested, db)
    cfg_file = write_config(tmp_path)
    doc = json.loads((shared_data / COMMUNES_GEOJSON).read_text())
    feature = doc["features"][5]
    feature["geometry"]["coordinates"][0][3][0] = float("nan")     # json writes NaN, GDAL reads it
    layer = tmp_path / "communes_nan.geojson"
    layer.write_text(json.dumps(doc))
    before = sha256(db)
    code, _, err = cli(["areas", "import", str(layer), "--type", "commune"], cfg_file, monkeypatch, capsys)
    line = _one_line(err)
    assert code == 1
    assert "NaN or infinite coordinate" in line and feature["properties"]["code"] in line and str(layer) in line
    assert sha256(db) == before
    assert not db.with_name(db.name + ".wip").exists()
