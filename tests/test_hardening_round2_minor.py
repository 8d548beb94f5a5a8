"""Minor items of issue 22: a ``--param`` given twice is refused instead of the last one
winning silently."""

from __future__ import annotations

from helpers_analysis import build_fixture
from helpers_hardening import cli, write_config


def test_a_duplicate_param_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    store = build_fixture(tmp_path / "biodiv.duckdb")
    cfg_file = write_config(tmp_path, db=store.path)
    code, out, err = cli(["query", "run", "species_by_area", "--param", "area=34001", "--param", "area=34002",
                          "--format", "csv"], cfg_file, monkeypatch, capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "given twice" in lines[0] and "34001" in lines[0], err
    assert out == ""
    code, out, err = cli(["query", "run", "species_by_area", "--param", "area=34002", "--format", "csv"],
                         cfg_file, monkeypatch, capsys)
    assert code == 0 and len(out.splitlines()) > 1, err
