"""`init --communes` refuses codes that exist nowhere (issue 11, item 7): a department that
does not exist is refused always; with the official list offline (`--communes-file`, the
real decoupage-administratif communes of Hérault) unknown codes are refused and communes
déléguées warned; without it a warning says the codes were not checked. Every refusal
leaves the database and the config file byte-identical."""

from __future__ import annotations

import pytest

from helpers_hardening import COMMUNES_JSON, cli, sha256, write_config

pytestmark = pytest.mark.shared


@pytest.fixture
def initialised(tmp_path, monkeypatch, capsys):
    cfg_file = write_config(tmp_path)
    code, _, err = cli(["init", "--communes", "34114,34120", "--name", "Deux"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    return cfg_file, tmp_path / "biodiv.duckdb"


def test_codes_that_exist_nowhere_are_refused(initialised, shared_data, monkeypatch, capsys):
    cfg_file, db = initialised
    official = str(shared_data / COMMUNES_JSON)
    before = (sha256(db), cfg_file.read_bytes())
    for args, expected in (
        (["--communes", "00000"], "00000: no such INSEE commune code (no department 00"),
        (["--communes", "34114,20004"], "20004: no such INSEE commune code (no department 20"),
        (["--communes", "34114,34999", "--communes-file", official], "unknown INSEE commune code(s) 34999"),
        (["--communes", "34114", "--communes-file", str(db)], "is not readable JSON"),
    ):
        code, _, err = cli(["init", *args], cfg_file, monkeypatch, capsys)
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
        assert expected in lines[0], lines[0]
        assert (sha256(db), cfg_file.read_bytes()) == before


def test_checked_codes_are_accepted_with_what_could_not_be_checked(initialised, shared_data, monkeypatch, capsys):
    cfg_file, _ = initialised
    official = str(shared_data / COMMUNES_JSON)
    # 34093 Dio-et-Valquières is a commune déléguée of Lunas (34144); 30189 is in the Gard,
    # a department the Hérault file does not cover
    code, out, err = cli(["init", "--communes", "34114,34093,30189", "--communes-file", official],
                         cfg_file, monkeypatch, capsys)
    assert code == 0, err
    assert "3 communes" in out
    assert "warning: 30189 not checked" in err
    assert "34093 (Dio-et-Valquières) is a commune déléguée of 34144" in err
    assert "not checked against the official commune list" not in err

    code, out, err = cli(["init", "--communes", "34114,34120"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    assert "not checked against the official commune list" in err and "--communes-file" in err
