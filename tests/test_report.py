"""``biodiv report``: print-ready sheets and the atlas read with the real tools (pdftotext,
pdffonts, pdfinfo from poppler), images with exact sizes, the same figures as the named
queries, public documents without logins, empty data that still renders, bad input in one
line. The store is the demo file built by ``biodiv demo`` (fictional, real-shaped)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from biodiv.demo import build_demo
from biodiv.report import render
from biodiv.report.sheets import Options, ReportError, build, sheet_codes
from biodiv.store.database import Store

POPPLER = shutil.which("pdftotext") and shutil.which("pdffonts") and shutil.which("pdfinfo")
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdftotext, pdffonts, pdfinfo) not installed")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("report")
    path = d / "data" / "demo.duckdb"
    path.parent.mkdir()
    build_demo(path)
    return path


def biodiv(args: list[str], cwd: Path, db: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BIODIV_DB", "BIODIV_CONFIG")}
    return subprocess.run([sys.executable, "-m", "biodiv", "--db", str(db), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


def pdftext(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@needs_poppler
def test_commune_sheet_pdf_holds_the_named_querys_figures_and_every_species(demo, tmp_path):
    """The officer's sheet (--private: no blurring) gives the named query's figures; the public
    one never more (sensitive observations are placed no finer than their level allows)."""
    with Store(demo).read() as con:
        code, name = sheet_codes(con)["commune"][0]
        sheet = build(con, "commune", code, Options(public=False))
        public = build(con, "commune", code, Options(public=True))
    assert public.figures["observations"] <= sheet.figures["observations"]
    assert set(public.species["species_key"]) <= set(sheet.species["species_key"])
    proc = biodiv(["report", "commune", code, "--private", "--out", "sheet.pdf"], tmp_path, demo)
    assert proc.returncode == 0, proc.stderr
    text = pdftext(tmp_path / "sheet.pdf")
    rich = biodiv(["query", "run", "commune_richness", "--format", "csv"], tmp_path, demo)
    row = next(r for r in csv.DictReader(io.StringIO(rich.stdout)) if r["insee_code"] == code)
    flat = " ".join(text.split()).replace("\u202f", " ")
    assert name in flat
    assert f"{int(row['n_observations']):,}".replace(",", " ") + " observations" in flat
    assert f"{row['n_species']} espèces" in flat
    # every species of the sheet's list, no row cut
    assert len(sheet.species) == int(row["n_species"])
    for sci in sheet.species["sci_name"]:
        assert sci in flat, sci
    info = subprocess.run(["pdfinfo", str(tmp_path / "sheet.pdf")], capture_output=True, text=True).stdout
    assert "(A4)" in info and "Tagged:          yes" in info
    fonts = subprocess.run(["pdffonts", str(tmp_path / "sheet.pdf")], capture_output=True, text=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all("yes" == r[-5] for r in rows), fonts          # every font embedded
    assert any("Source-Sans-Pro" in r[0] for r in rows)


@needs_poppler
def test_atlas_has_a_page_per_commune_and_site(demo, tmp_path):
    with Store(demo).read() as con:
        codes = sheet_codes(con)
        html, title, n = render.atlas_html(con)
    assert n == 1 + len(codes["commune"]) + len(codes["site"])
    (tmp_path / "atlas.pdf").write_bytes(render.to_pdf(html))
    pages = [" ".join(p.split()) for p in pdftext(tmp_path / "atlas.pdf").split("\f")]
    for kind, key in (("commune", "(INSEE {code})"), ("site", "{code}")):
        for code, name in codes[kind]:
            # each sheet starts a page: its subtitle in the page's first lines, its name on it
            starts = [p for p in pages if key.format(code=code) in " ".join(p.split()[:16])]
            assert starts and name in starts[0], (code, name)
    assert "Sommaire" in pages[1] and "Méthodes et limites" in pages[1]


def test_images_have_the_exact_size_asked(demo, tmp_path):
    for args, name, size in ((["report", "map", "--size", "1080x1080"], "carte-1080x1080.png", (1080, 1080)),
                             (["report", "map", "--size", "1920x1080"], "carte-1920x1080.png", (1920, 1080)),
                             (["report", "card", "--size", "1200x630"], "chiffres-1200x630.png", (1200, 630))):
        proc = biodiv(args, tmp_path, demo)
        assert proc.returncode == 0, proc.stderr
        assert png_size(tmp_path / name) == size


@needs_poppler
def test_public_documents_carry_no_observer_login(demo, tmp_path):
    with Store(demo).read() as con:
        logins = {r[0] for r in con.execute("SELECT DISTINCT user_login FROM observations WHERE user_login IS NOT NULL").fetchall()}
        html, _ = render.sheet_html(con, "territory", None, Options(public=True))
    assert logins
    (tmp_path / "t.pdf").write_bytes(render.to_pdf(html))
    text = pdftext(tmp_path / "t.pdf")
    assert not [login for login in logins if login in text or login in html]
    assert "Document public" in " ".join(text.split())


@needs_poppler
def test_a_sheet_with_no_observation_renders(demo, tmp_path):
    with Store(demo).read() as con:
        code = sheet_codes(con)["commune"][0][0]
    proc = biodiv(["report", "commune", code, "--since", "2100-01-01", "--out", "empty.pdf"], tmp_path, demo)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(pdftext(tmp_path / "empty.pdf").split())
    assert "0 observations" in text and "Aucune espèce observée" in text


@pytest.mark.parametrize("args, message", [
    (["report", "commune", "99999"], "no commune with code '99999'"),
    (["report", "site", "FR0000000"], "no Natura 2000 site (or other zoning) with code"),
    (["report", "species", "Nonexistus imaginarius"], "no taxon 'Nonexistus imaginarius'"),
    (["report", "map", "--size", "big"], "--size must look like 1080x1080"),
    (["report", "map", "--size", "10x10"], "between 200 and 4000"),
    (["report", "commune", "ZZ003", "--since", "2024-13-45"], "--since expects a date"),
])
def test_bad_input_is_one_line(demo, tmp_path, args, message):
    proc = biodiv(args, tmp_path, demo)
    assert proc.returncode == 1
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not list(tmp_path.iterdir())          # nothing written


def test_unknown_sheet_kind_is_refused():
    with pytest.raises(ReportError):
        build(None, "planet")


@pytest.mark.parametrize("args", [["report", "card"], ["report", "commune", "ZZ003"], ["report", "atlas"],
                                  ["publish", "stakes"]])
def test_an_output_aimed_at_the_store_is_refused_and_the_store_kept(demo, tmp_path, args):
    import hashlib

    before = hashlib.sha256(demo.read_bytes()).hexdigest()
    proc = biodiv([*args, "--out", str(demo)], tmp_path, demo)
    assert proc.returncode == 1 and "would overwrite" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert hashlib.sha256(demo.read_bytes()).hexdigest() == before
