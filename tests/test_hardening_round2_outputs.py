"""No output of a command may replace the store (issue 22, item 1).

A real harvested CCVH store (built through the CLI from the real Hérault files and the
iNaturalist stand-in); every command that writes a file (``sql``, ``query run``,
``export`` in each format, ``refs import --unmatched``) is aimed at the store under every
spelling that reaches it: its path, ``dir//name``, ``dir/./name``, a symlink, a hard link
(same inode), its working copy and lock, the configuration file; and at a DuckLake's
catalog and data folder. Each is refused in one line and every file keeps its hash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import shared_data_dir
from helpers_hardening import build_harvested, cli, sha256, write_config

pytestmark = pytest.mark.shared

WRITERS = [
    ["sql", "SELECT 1"],
    ["sql", "SELECT 1", "--format", "json"],
    ["query", "run", "commune_richness", "--format", "csv"],
    ["export", "--format", "csv"],
    ["export", "--format", "gpkg"],
    ["export", "--format", "geojson"],
    ["export", "--format", "parquet"],
    ["export", "--format", "dwca"],
]


@pytest.fixture(scope="module")
def harvested(tmp_path_factory) -> Path:
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    return build_harvested(tmp_path_factory.mktemp("outputs"), shared, n_observations=120)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _spellings(db: Path, tmp_path: Path) -> dict[str, Path]:
    link = tmp_path / "link.duckdb"
    link.symlink_to(db)
    hard = db.parent / "hardlink.duckdb"
    if not hard.exists():
        os.link(db, hard)
    return {
        "path": db,
        "double slash": Path(f"{db.parent}//{db.name}"),
        "dot and dot-dot": db.parent / "." / ".." / db.parent.name / db.name,
        "symlink": link,
        "hard link": hard,
        "working copy": db.with_name(db.name + ".wip"),
        "lock": db.with_name(db.name + ".lock"),
        "configuration": db.parent / "biodiv.toml",
    }


@pytest.mark.parametrize("args", WRITERS, ids=lambda a: " ".join(a[:3]))
def test_no_writer_replaces_the_store_under_any_spelling(harvested, tmp_path, args, monkeypatch, capsys):
    db = harvested
    cfg_file = db.parent / "biodiv.toml"
    for label, target in _spellings(db, tmp_path).items():
        before = {p: sha256(p) for p in (db, cfg_file)}
        code, _, err = cli([*args, "--out", str(target)], cfg_file, monkeypatch, capsys)
        line = _one_line(err)
        assert code == 1, (label, err)
        assert "nothing was written" in line, (label, line)
        assert {p: sha256(p) for p in before} == before, label
        assert not db.with_name(db.name + ".wip").exists()
    # and the store still answers
    code, out, err = cli(["sql", "SELECT count(*) AS n FROM observations", "--format", "csv"],
                         cfg_file, monkeypatch, capsys)
    assert code == 0 and int(out.splitlines()[1]) == 120, err


def test_refs_unmatched_and_geonature_side_file_are_checked_too(harvested, tmp_path, monkeypatch, capsys, shared_data):
    db = harvested
    cfg_file = db.parent / "biodiv.toml"
    before = sha256(db)
    ref = shared_data / "conservation" / "liste-especes-protegees-france.csv"
    code, _, err = cli(["refs", "import", str(ref), "--unmatched", str(db)], cfg_file, monkeypatch, capsys)
    assert code == 1 and "nothing was written" in _one_line(err)
    # geonature writes <stem>.unmatched-taxa.csv beside its output: aimed at the store too
    side_target = db.with_name("biodiv.unmatched-taxa.csv")
    side_target.symlink_to(db)
    try:
        code, _, err = cli(["export", "--format", "geonature", "--out", str(db.with_name("biodiv.csv"))],
                           cfg_file, monkeypatch, capsys)
        assert code == 1 and "nothing was written" in _one_line(err)
    finally:
        side_target.unlink()
    assert sha256(db) == before


def test_an_output_elsewhere_is_still_written(harvested, tmp_path, monkeypatch, capsys):
    cfg_file = harvested.parent / "biodiv.toml"
    out = tmp_path / "fine.csv"
    code, _, err = cli(["sql", "SELECT 1 AS one", "--format", "csv", "--out", str(out)], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    assert out.read_text(encoding="utf-8").splitlines() == ["one", "1"]


def test_the_lake_catalog_and_data_folder_are_refused(harvested, tmp_path, monkeypatch, capsys):
    """A DuckLake store: its SQLite catalog (and its -wal) and anything in its data folder."""
    import shutil

    work = tmp_path / "lake"
    work.mkdir()
    shutil.copyfile(harvested, work / "biodiv.duckdb")
    cfg_file = write_config(work)
    code, _, err = cli(["store", "migrate", "--to", "ducklake"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    text = cfg_file.read_text(encoding="utf-8") + '\n[store]\nbackend = "ducklake"\n'
    cfg_file.write_text(text, encoding="utf-8")
    catalog = work / "data" / "catalog.sqlite"
    data_dir = work / "data" / "lake"
    assert catalog.exists() and any(data_dir.rglob("*.parquet"))
    parquet = next(data_dir.rglob("*.parquet"))
    before = {p: sha256(p) for p in (catalog, parquet, cfg_file)}
    for target in (catalog, Path(f"{catalog}-wal"), parquet, data_dir / "new.parquet", work / "data" / "lake"):
        for args in (["sql", "SELECT 1"], ["export", "--format", "gpkg"]):
            code, _, err = cli([*args, "--out", str(target)], cfg_file, monkeypatch, capsys)
            assert code == 1 and "Traceback" not in err, (target, err)
            _one_line(err)
    assert {p: sha256(p) for p in before} == before
    assert not (data_dir / "new.parquet").exists()
