"""The printed documents, the public atlas and the stakes map go through the public layer
(biodiv.sensitivity.public), on the demo store with the hand-made SINP referential of
tests/helpers_sensitivity.py imported: a level-4 species (Pelobates cultripes) appears in no
public output but in the officer's private sheet; area pages and sheets count what the
public layer places there; the stakes map places no sensitive observation in a 1 km cell."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from biodiv.dashboard import data
from biodiv.demo import build_demo
from biodiv.publish.site import build_site
from biodiv.publish.stakes import stakes_cells
from biodiv.report import render
from biodiv.report.sheets import Options, build, sheet_codes
from biodiv.store.database import Store
from helpers_sensitivity import write_referential

HIDDEN = "Pelobates cultripes"          # level 4 everywhere in the demo (no department: every rule applies)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("sens_pub")
    db = d / "demo.duckdb"
    build_demo(db)
    done = subprocess.run([sys.executable, "-m", "biodiv", "--db", str(db), "refs", "import",
                           str(write_referential(d))], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with Store(db).read() as con:
        assert con.execute("SELECT count(*) FROM observations o JOIN taxa t ON t.id = o.taxon_id "
                           "WHERE t.name = ?", [HIDDEN]).fetchone()[0] > 0      # the demo has it
    return db


def test_public_documents_leave_out_a_level_4_species_the_private_one_keeps(demo):
    with Store(demo).read() as con:
        public, _ = render.sheet_html(con, "territory", None, Options(public=True))
        private, _ = render.sheet_html(con, "territory", None, Options(public=False))
        atlas, _, _ = render.atlas_html(con, Options(public=True))
    assert HIDDEN in private
    assert HIDDEN not in public and HIDDEN not in atlas
    assert "données sensibles non diffusées" in public           # said, not hidden silently


def test_sheets_count_what_the_public_layer_places_in_each_area(demo):
    with Store(demo).read() as con:
        for code, _name in sheet_codes(con)["commune"][:4]:
            sheet = build(con, "commune", code, Options(public=True))
            area = con.execute("SELECT id FROM areas WHERE code = ?", [code]).fetchone()[0]
            f = data.Filters(public=True)
            expected = data.key_figures(con, f.with_(area=area))["observations"]
            private = build(con, "commune", code, Options(public=False)).figures["observations"]
            assert sheet.figures["observations"] == expected <= private


def test_the_public_atlas_shows_no_level_4_species_and_public_counts(demo, tmp_path):
    with Store(demo).read() as con:
        result = build_site(con, tmp_path / "atlas")
        measures = data.area_measures(con, data.Filters(public=True), "commune")
    text = "\n".join(p.read_text(encoding="utf-8") for p in (tmp_path / "atlas").rglob("*.html"))
    assert result.pages > 20 and HIDDEN not in text
    assert HIDDEN not in (tmp_path / "atlas" / "recherche.json").read_text(encoding="utf-8")
    for row in measures.itertuples():
        page = (tmp_path / "atlas" / "commune" / f"{row.code}.html").read_text(encoding="utf-8")
        flat = " ".join(re.sub(r"<[^>]+>", " ", page).replace("\u202f", " ").split())
        assert f"{row.observations:,}".replace(",", " ") + " observations" in flat, row.code


def test_stakes_place_no_sensitive_observation_in_a_1km_cell(demo):
    with Store(demo).read() as con:
        cells = stakes_cells(con)
        public_grid = data.grid_counts(con, data.Filters(public=True), 1000)
        private_grid = data.grid_counts(con, data.Filters(), 1000)
        hidden_key = con.execute("SELECT coalesce(species_id, id) FROM taxa WHERE name = ?", [HIDDEN]).fetchone()[0]
        hidden_cells = data.grid_counts(con, data.Filters(public=True, species=(hidden_key,)), 1000)
    assert sum(c["observations"] for c in cells) == int(public_grid["observations"].sum())
    assert int(public_grid["observations"].sum()) < int(private_grid["observations"].sum())
    assert hidden_cells.empty
