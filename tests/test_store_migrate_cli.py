"""``biodiv store migrate`` honours the global ``--db PATH`` and ``--demo``: they name the
single-file side of the copy (the source of ``--to ducklake``, the new file of ``--to file``),
through the real CLI entry in-process, on a real demo DuckDB file and a SQLite-catalog lake."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

pytest.importorskip("duckdb_extension_ducklake")

from biodiv.config import Config, StoreConfig  # noqa: E402
from biodiv.store.database import Store  # noqa: E402
from biodiv.demo import build_demo  # noqa: E402
from helpers_areas import run_cli  # noqa: E402


def _counts(store: Store) -> tuple[int, int, int]:
    with store.read() as con:
        return con.execute("SELECT (SELECT count(*) FROM observations), (SELECT count(*) FROM areas),"
                           " (SELECT count(*) FROM taxa)").fetchone()


@pytest.fixture
def lake_cfg_file(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("BIODIV_DB", raising=False)
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    cfg = Config(db_path=str(tmp_path / "data" / "biodiv.duckdb"),
                 store_=StoreConfig(backend="ducklake", catalog="sqlite:data/catalog.sqlite", data_path="data/lake"))
    return cfg.save(tmp_path / "biodiv.toml")


def test_store_migrate_copies_the_demo_chosen_by_demo_not_db_path(lake_cfg_file, tmp_path, monkeypatch, capsys):
    demo = tmp_path / "data" / "demo.duckdb"
    build_demo(demo, n_observations=150, seed=7)
    want = _counts(Store(demo))
    assert want[0] == 150
    code, out, err = run_cli(["-c", str(lake_cfg_file), "--demo", "store", "migrate", "--to", "ducklake"],
                             monkeypatch, capsys)
    assert code == 0, err
    assert f"copied {demo}" in out
    assert not (tmp_path / "data" / "biodiv.duckdb").exists()    # db_path was not the source
    lake = Store(tmp_path / "data" / "catalog.sqlite")
    assert lake.lake is not None and _counts(lake) == want

    # --to file: --db names the new file
    copy = tmp_path / "copy.duckdb"
    code, out, err = run_cli(["-c", str(lake_cfg_file), "--db", str(copy), "store", "migrate", "--to", "file"],
                             monkeypatch, capsys)
    assert code == 0, err
    assert str(copy) in out and not (tmp_path / "data" / "biodiv.duckdb").exists()
    assert _counts(Store(copy)) == want
    con = duckdb.connect(str(copy), read_only=True)   # a plain DuckDB file
    con.close()
    # the same again: refused in one line, the copy untouched
    before = copy.read_bytes()
    code, _, err = run_cli(["-c", str(lake_cfg_file), "--db", str(copy), "store", "migrate", "--to", "file"],
                           monkeypatch, capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "already exists" in err
    assert copy.read_bytes() == before


def test_store_migrate_from_db_refuses_a_missing_file_in_one_line(lake_cfg_file, tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nope.duckdb"
    code, _, err = run_cli(["-c", str(lake_cfg_file), "--db", str(missing), "store", "migrate", "--to", "ducklake"],
                           monkeypatch, capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and str(missing) in err
    assert not (tmp_path / "data" / "catalog.sqlite").exists()   # nothing created


def test_store_migrate_to_file_never_writes_into_the_lake(lake_cfg_file, tmp_path, monkeypatch, capsys):
    demo = tmp_path / "data" / "demo.duckdb"
    build_demo(demo, n_observations=50, seed=3)
    code, _, err = run_cli(["-c", str(lake_cfg_file), "--demo", "store", "migrate", "--to", "ducklake"],
                           monkeypatch, capsys)
    assert code == 0, err
    inside = tmp_path / "data" / "lake" / "copy.duckdb"
    files = sorted(p.name for p in (tmp_path / "data" / "lake").rglob("*"))
    code, _, err = run_cli(["-c", str(lake_cfg_file), "store", "migrate", "--to", "file", "--output", str(inside)],
                           monkeypatch, capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "data folder" in err, err
    assert not inside.exists() and sorted(p.name for p in (tmp_path / "data" / "lake").rglob("*")) == files
