"""The offline demo database: generated, deterministic, fictional, never over real data."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from biodiv.dashboard import data
from biodiv.demo import build_demo, is_demo_file
from biodiv.errors import BiodivError
from biodiv.store.database import Store

from helpers_dashboard import build_fixture_db

# a fixed end date: the generated data, hence every figure pinned below, depend only on the
# seed, the size and this date
END = date(2026, 6, 1)


def fingerprint(path: Path) -> tuple:
    with Store(path).read() as con:
        return con.execute(
            "SELECT count(*), sum(hash(id, observed_on, taxon_id, lon, lat, quality_grade, user_login)) "
            "FROM observations"
        ).fetchone()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo(path, n_observations=600, seed=7, end=END)
    return path


def test_demo_is_flagged_fictional_and_linked_by_the_attach_step(demo_db):
    assert is_demo_file(demo_db)
    with Store(demo_db).read() as con:
        info = data.db_info(con)
        assert info["demo"] is True and "fictive" in info["territory"]
        codes = [r[0] for r in con.execute("SELECT code FROM areas WHERE type = 'commune'").fetchall()]
        assert len(codes) == 12 and all(c.startswith("ZZ") for c in codes)   # not INSEE codes
        sites = con.execute("SELECT type, code FROM areas WHERE type LIKE 'n2000%' ORDER BY 1").fetchall()
        assert sites == [("n2000_zps", "FRDEMO02"), ("n2000_zsc", "FRDEMO01")]
        run = con.execute("SELECT kind, status, stats->>'link' FROM runs WHERE kind = 'demo'").fetchone()
        assert run == ("demo", "ok", "attach")
        links = con.execute("SELECT count(DISTINCT observation_id), count(*) FROM observation_areas").fetchone()
        assert links == (576, 758)
        # the default view counts the verifiable grades: 327 research + 211 needs_id of the 575
        # kept observations (37 casual left out), recomputed with plain SQL on the tables
        k = data.key_figures(con)
        assert {x: k[x] for x in ("observations", "species", "observers", "obscured", "drawable")} == {
            "observations": 538, "species": 56, "observers": 30, "obscured": 6, "drawable": 532}
        k = data.key_figures(con, data.ALL_OBSERVATIONS)
        assert (k["observations"], k["drawable"]) == (575, 569)
        removed = con.execute("SELECT count(*) FROM observations WHERE removed_at IS NOT NULL").fetchone()[0]
        assert removed == 8
        # "nouvelles espèces" has something to show: the three newcomers of the last year, and
        # one species first drawn this year
        assert sorted(data.new_species(con, END.year)["sci_name"]) == [
            "Coracias garrulus", "Latrodectus tredecimguttatus", "Libelloides coccajus", "Pleurotus eryngii"]
        assert sorted(data.per_year(con)["year"]) == list(range(END.year - 5, END.year + 1))  # 5 years back
        assert con.execute("SELECT count(*) FROM taxon_statuses WHERE kind = 'protected'").fetchone()[0] == 24
        # both fictional Natura 2000 sites lie inside the outline, flagged as an import flags them
        flags = con.execute("SELECT code, in_territory FROM areas WHERE type LIKE 'n2000%' ORDER BY code").fetchall()
        assert flags == [("FRDEMO01", True), ("FRDEMO02", True)]


def test_same_seed_same_database_other_seed_other_database(demo_db, tmp_path):
    again = tmp_path / "again.duckdb"
    build_demo(again, n_observations=600, seed=7, end=END)
    assert fingerprint(again) == fingerprint(demo_db)
    build_demo(again, n_observations=600, seed=8, end=END)     # rebuilds over a demo file
    assert fingerprint(again) != fingerprint(demo_db)
    assert not Path(str(again) + ".old").exists() and not Path(str(again) + ".wip").exists()


def test_demo_never_overwrites_a_real_database(tmp_path):
    real = build_fixture_db(tmp_path / "biodiv.duckdb")
    before = fingerprint(real)
    with pytest.raises(BiodivError, match="not a demo database"):
        build_demo(real, n_observations=50, end=END)
    with pytest.raises(BiodivError, match="is the real database"):
        build_demo(tmp_path / "./biodiv.duckdb", real_db=real, n_observations=50, end=END)
    assert fingerprint(real) == before


def _cli(args, cwd, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("BIODIV_DB", "BIODIV_CONFIG")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "biodiv", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=120)


def test_cli_demo_then_dashboard_demo_errors(tmp_path):
    out = _cli(["demo", "-n", "200", "--end", END.isoformat()], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "biodiv dashboard --demo" in out.stdout
    assert is_demo_file(tmp_path / "data" / "demo.duckdb")
    missing = _cli(["dashboard", "--demo"], tmp_path / "data")
    assert missing.returncode == 1 and "run `biodiv demo` first" in missing.stderr
