"""Every bad configuration value and every unusable folder is one line (issue 22, item 6).

Through the real CLI entry: numbers out of bounds (``inf``, ``1e308``, ``10**18``,
``memory_limit = "100TB"``), a TOML nested thousands deep, ``cache_dir`` naming a file or a
read-only folder, and a store whose folder is read-only (a tmpfs remounted read-only, since
root writes through file permissions) for every command that writes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers_analysis import build_fixture
from helpers_hardening import cli, sha256, small_tmpfs, write_config

BAD_VALUES = {
    "per_second inf": ("[inaturalist]\nper_second = inf\n", "inaturalist.per_second = inf"),
    "per_second 1e308": ("[inaturalist]\nper_second = 1e308\n", "inaturalist.per_second = 1e+308"),
    "per_minute huge integer": ("[inaturalist]\nper_minute = 1000000000000000000\n", "inaturalist.per_minute"),
    "per_day huge": ("[inaturalist]\nper_day = 9000000000000000000\n", "inaturalist.per_day"),
    "place_id huge": ("[inaturalist]\nplace_id = 9000000000000000000\n", "inaturalist.place_id"),
    "memory 100TB": ('[sql]\nmemory_limit = "100TB"\n', 'sql.memory_limit = "100TB"'),
    "memory 1KB": ('[sql]\nmemory_limit = "1KB"\n', 'sql.memory_limit = "1KB"'),
    "temp 1000TB": ('[sql]\ntemp_limit = "1000TB"\n', 'sql.temp_limit = "1000TB"'),
    "deep arrays": ("a = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    "deep tables": ("a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n", "nested too deeply"),
}


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_fixture(tmp_path_factory.mktemp("cfg") / "biodiv.duckdb").path


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_a_bad_value_is_one_line_naming_the_key(tmp_path, name, monkeypatch, capsys):
    text, key = BAD_VALUES[name]
    cfg_file = tmp_path / "biodiv.toml"
    cfg_file.write_text(text, encoding="utf-8")
    code, _, err = cli(["status"], cfg_file, monkeypatch, capsys)
    line = _one_line(err)
    assert code == 1 and key in line, line


def test_cache_dir_naming_a_file_is_one_line(template, tmp_path, monkeypatch, capsys):
    db = tmp_path / "biodiv.duckdb"
    shutil.copyfile(template, db)
    cfg_file = write_config(tmp_path, db=db)
    text = cfg_file.read_text(encoding="utf-8").replace(f'cache_dir = "{tmp_path / "cache"}"', f'cache_dir = "{db}"')
    cfg_file.write_text(text, encoding="utf-8")
    before = sha256(db)
    for args in (["harvest", "--no-progress"], ["areas", "fetch"], ["refs", "fetch", "--url", "http://127.0.0.1:9/x"]):
        code, _, err = cli(args, cfg_file, monkeypatch, capsys)
        assert code == 1 and "cache_dir" in _one_line(err) and "not a folder" in err, (args, err)
    assert sha256(db) == before


def test_read_only_folders_are_one_line(template, tmp_path, monkeypatch, capsys, shared_data):
    """The store's folder read-only: every writer; then a writable store with a read-only cache."""
    ro = tmp_path / "ro"
    with small_tmpfs(ro, 20_000_000):
        shutil.copyfile(template, ro / "biodiv.duckdb")
        cfg_file = write_config(ro)
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        before = sha256(ro / "biodiv.duckdb")
        layer = str(shared_data / "admin" / "communes-34-herault.geojson")
        ref = str(shared_data / "conservation" / "liste-especes-protegees-france.csv")
        monkeypatch.setenv("BIODIV_INAT_API_URL", "http://127.0.0.1:9/v1")
        for args in (["attach"], ["migrate"], ["harvest", "--no-progress"], ["update", "--no-progress"],
                     ["refs", "import", ref], ["areas", "import", layer, "--type", "commune"]):
            code, _, err = cli(args, cfg_file, monkeypatch, capsys)
            line = _one_line(err)
            assert code == 1 and "Read-only file system" in line, (args, line)
        assert sha256(ro / "biodiv.duckdb") == before

        # a writable store whose cache folder cannot be created
        rw = tmp_path / "rw"
        rw.mkdir()
        shutil.copyfile(template, rw / "biodiv.duckdb")
        cfg_file = write_config(rw)
        text = cfg_file.read_text(encoding="utf-8").replace(f'cache_dir = "{rw / "cache"}"', f'cache_dir = "{ro / "cache"}"')
        cfg_file.write_text(text, encoding="utf-8")
        for args in (["harvest", "--no-progress"], ["refs", "fetch", "--url", "http://127.0.0.1:9/x"]):
            code, _, err = cli(args, cfg_file, monkeypatch, capsys)
            assert code == 1 and "cache_dir" in _one_line(err) and "Read-only" in err, (args, err)
