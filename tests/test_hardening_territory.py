"""Territory changes are consistent at once (issue 11, item 4): after `biodiv init` for
another territory on a harvested store, `status`, `sql` and exports count the new
territory's observations — the same flags a full `attach --all` computes — and a territory
whose communes are not loaded counts none (unknown) instead of the old one's."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import shared_data_dir
from helpers_hardening import EPCI_FILE, build_harvested, cli, write_config

pytestmark = pytest.mark.shared

CLERMONTAIS = "243400355"   # CC du Clermontais: Hérault, next to the CCVH (9 % of its bbox)


@pytest.fixture(scope="module")
def harvested(tmp_path_factory) -> Path:
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    return build_harvested(tmp_path_factory.mktemp("harvested"), shared)


def _flags(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT id, in_territory FROM observations ORDER BY id").fetchall()
    finally:
        con.close()


def _counts(cfg_file, monkeypatch, capsys, tmp_path) -> tuple[int, int, int]:
    """(status in_territory, sql count, exported CSV rows) as a user gets them."""
    code, out, err = cli(["status", "--json"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    status = json.loads(out)["observations"]["in_territory"]
    code, out, err = cli(["sql", "SELECT count(*) AS n FROM observations WHERE in_territory", "--format", "csv"],
                         cfg_file, monkeypatch, capsys)
    assert code == 0, err
    sql = int(out.strip().splitlines()[-1])
    export = tmp_path / "export.csv"
    export.unlink(missing_ok=True)
    code, _, err = cli(["export", "--format", "csv", "--out", str(export)], cfg_file, monkeypatch, capsys)
    if code == 1 and "no observation matches" in err:   # the export refuses to write an empty file
        return status, sql, 0
    assert code == 0, err
    with open(export, newline="") as fh:
        rows = sum(1 for _ in csv.DictReader(fh))
    return status, sql, rows


def test_init_for_another_territory_reflags_observations_at_once(harvested, tmp_path, shared_data, monkeypatch, capsys):
    db = tmp_path / "biodiv.duckdb"
    shutil.copyfile(harvested, db)
    cfg_file = write_config(tmp_path)
    ccvh = _counts(cfg_file, monkeypatch, capsys, tmp_path)
    assert ccvh[0] == ccvh[1] == ccvh[2] > 100

    code, out, err = cli(["init", "--epci", CLERMONTAIS, "--epci-file", str(shared_data / EPCI_FILE)],
                         cfg_file, monkeypatch, capsys)
    assert code == 0, err and "CC du Clermontais" in out
    clermontais = _counts(cfg_file, monkeypatch, capsys, tmp_path)
    assert clermontais[0] == clermontais[1] == clermontais[2]
    assert 0 < clermontais[0] < ccvh[0]
    flags = _flags(db)

    # exactly what a full recomputation from the geometries gives
    code, _, err = cli(["attach", "--all"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    assert _flags(db) == flags

    # and back: the CCVH's own flags again, without any attach
    code, _, err = cli(["init", "--epci", "243400694", "--epci-file", str(shared_data / EPCI_FILE)],
                       cfg_file, monkeypatch, capsys)
    assert code == 0, err
    assert _flags(db) == _flags(harvested)


def test_territory_without_loaded_communes_counts_none_of_the_old_one(harvested, tmp_path, monkeypatch, capsys):
    db = tmp_path / "biodiv.duckdb"
    shutil.copyfile(harvested, db)
    cfg_file = write_config(tmp_path)
    # two communes of the Gard: the store only holds Hérault boundaries
    code, out, err = cli(["init", "--communes", "30189,30007", "--name", "Gard"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    assert _counts(cfg_file, monkeypatch, capsys, tmp_path) == (0, 0, 0)
    con = duckdb.connect(str(db), read_only=True)
    try:
        areas_in, obs_flagged, outline = con.execute(
            "SELECT (SELECT count(*) FROM areas WHERE in_territory), "
            "(SELECT count(*) FROM observations WHERE in_territory IS NOT NULL), "
            "(SELECT geom IS NULL FROM territory)").fetchone()
    finally:
        con.close()
    assert (areas_in, obs_flagged, outline) == (0, 0, True)   # unknown, not "outside" nor the CCVH's
