"""A bad reference file never replaces a good one (issue 22, item 2).

The real national list of protected species (../shared/data) is imported into a store whose
taxa are real names taken from that list; then damaged editions of the same file are
imported: cut in half, saved with ``,`` instead of ``;``, a block of the file overwritten,
a quote left open. Each is refused in one line with the stored statuses unchanged (the
database byte-identical); a shorter list is accepted with ``--force``, and what an import
changes (reference taxa gained and lost, taxa with a status before and after) is printed."""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import pytest

from helpers_analysis import build_fixture
from helpers_hardening import cli, sha256, write_config

pytestmark = pytest.mark.shared


def _real_list(shared_data) -> Path:
    return shared_data / "conservation" / "liste-especes-protegees-france.csv"


@pytest.fixture
def store_with_real_taxa(tmp_path, shared_data):
    """The analysis fixture store plus 60 taxa named after accepted names spread over the real
    list (so that a list cut in half loses some of them), and its config file."""
    with open(_real_list(shared_data), encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    picked = rows[:: len(rows) // 60][:60]
    values = ", ".join(
        f"({1000 + i}, '{r['nomsScientifiques'].split(',')[0].strip().replace(chr(39), chr(39) * 2)}', 'species', 10)"
        for i, r in enumerate(picked))
    store = build_fixture(tmp_path / "biodiv.duckdb", with_statuses=False,
                          extra_sql=f"INSERT INTO taxa (id, name, rank, rank_level) VALUES {values};")
    return store.path, write_config(tmp_path, db=store.path)


def _statuses(db: Path):
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return (con.execute("SELECT taxon_id, source, code FROM taxon_statuses ORDER BY ALL").fetchall(),
                con.execute("SELECT count(*) FROM ref_statuses").fetchone()[0])
    finally:
        con.close()


def _damaged(src: Path, out: Path, kind: str) -> Path:
    raw = src.read_bytes()
    lines = raw.split(b"\n")
    if kind == "cut in half":
        data = b"\n".join(lines[: len(lines) // 2]) + b"\n"
    elif kind == "comma separator":
        data = raw.replace(b";", b",")
    elif kind == "overwritten block":
        rng = random.Random(22)
        start = len(raw) // 2
        garbage = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 ,;") for _ in range(4096))
        data = raw[:start] + garbage + raw[start + 4096:]
    elif kind == "quote left open":
        i = len(lines) - 200            # 200 lines swallowed: under the CSV field limit
        lines[i] = lines[i].replace(b";", b';"', 1)
        data = b"\n".join(lines)
    else:
        raise ValueError(kind)
    out.write_bytes(data)
    return out


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("kind", ["cut in half", "comma separator", "overwritten block", "quote left open"])
def test_a_damaged_edition_is_refused_and_the_statuses_stay(store_with_real_taxa, shared_data, tmp_path, kind,
                                                              monkeypatch, capsys):
    db, cfg_file = store_with_real_taxa
    code, out, err = cli(["refs", "import", str(_real_list(shared_data))], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    before_statuses = _statuses(db)
    n_with_status = len({t for t, _, _ in before_statuses[0] if t >= 1000})
    assert n_with_status >= 50          # the real names picked from the list all match
    assert re.search(rf"taxa with an official status: 0 -> {len({t for t, _, _ in before_statuses[0]})}", out), out
    before = sha256(db)

    bad = _damaged(_real_list(shared_data), tmp_path / f"{kind.replace(' ', '_')}.csv", kind)
    code, _, err = cli(["refs", "import", str(bad)], cfg_file, monkeypatch, capsys)
    line = _one_line(err)
    assert code == 1, err
    assert "nothing was" in line, line
    assert sha256(db) == before and _statuses(db) == before_statuses


def test_a_shorter_list_needs_force_and_the_change_is_reported(store_with_real_taxa, shared_data, tmp_path,
                                                                monkeypatch, capsys):
    db, cfg_file = store_with_real_taxa
    assert cli(["refs", "import", str(_real_list(shared_data))], cfg_file, monkeypatch, capsys)[0] == 0
    half = _damaged(_real_list(shared_data), tmp_path / "half.csv", "cut in half")
    code, _, err = cli(["refs", "import", str(half)], cfg_file, monkeypatch, capsys)
    assert code == 1 and "--force" in _one_line(err)
    code, out, err = cli(["refs", "import", str(half), "--force"], cfg_file, monkeypatch, capsys)
    assert code == 0, err
    m = re.search(r"inpn_protection: (\d+) -> (\d+) reference taxa \(\+(\d+), -(\d+)\)", out)
    assert m, out
    before, after, gained, lost = map(int, m.groups())
    assert gained == 0 and lost == before - after and lost > before // 3
    m = re.search(r"taxa with an official status: (\d+) -> (\d+)", out)
    assert m and int(m.group(2)) < int(m.group(1)), out
    assert len({t for t, _, _ in _statuses(db)[0]}) == int(m.group(2))
