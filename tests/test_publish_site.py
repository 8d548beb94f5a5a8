"""``biodiv publish site`` and ``biodiv publish stakes`` on the demo store, read as a visitor,
a web host and a GIS would: links that resolve inside the folder, nothing asked of a third
party, page weights, French and accessible pages (axe-core in Chromium), the named query's
figures, no observer login, incremental rebuilds, and a GeoPackage that opens styled."""

from __future__ import annotations

import csv
import io
import os
import re
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest

from biodiv.demo import build_demo
from biodiv.publish.site import MANIFEST, SiteError, build_site
from biodiv.publish.stakes import CLASSES, LAYER, stake_class
from biodiv.store.database import Store

AXE = Path(os.environ.get("BIODIV_AXE", Path.home() / ".cache" / "biodiv-axe" / "node_modules" / "axe-core" / "axe.min.js"))


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.lang = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        for key in ("href", "src"):
            if a.get(key):
                self.refs.append(a[key])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("publish") / "demo.duckdb"
    build_demo(path)
    return path


@pytest.fixture(scope="module")
def site(demo, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "atlas"
    proc = subprocess.run([sys.executable, "-m", "biodiv", "--db", str(demo), "publish", "site", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "pages" in proc.stdout
    return out


def pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_every_link_resolves_inside_the_site_and_nothing_is_external(site):
    assert len(pages(site)) > 20
    for page in pages(site):
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        assert parser.lang == "fr", page
        for ref in parser.refs:
            url = urlparse(ref)
            assert not url.scheme and not url.netloc, f"{page.name}: {ref}"     # no third party, no http
            target = (page.parent / url.path).resolve()
            assert target.exists(), f"{page.relative_to(site)} -> {ref}"
    assert (site / "sitemap.xml").exists() and (site / "recherche.json").exists()


def test_pages_are_light(site):
    for page in pages(site):
        assert page.stat().st_size <= 300_000, page
    home = site / "index.html"
    parser = Links()
    parser.feed(home.read_text(encoding="utf-8"))
    total = home.stat().st_size + sum((home.parent / r).stat().st_size for r in parser.refs
                                      if not r.endswith(".html") and (home.parent / r).exists())
    assert total <= 3_000_000


def test_a_commune_page_has_the_named_querys_figures_and_no_login(site, demo, tmp_path):
    """Without any sensitivity (no referential, the cautious default off) a commune page gives
    the named query's figures; the public site of the fixture (default on) has no login."""
    from biodiv.report.sheets import Options

    plain = tmp_path / "plain"
    with Store(demo).read() as con:
        build_site(con, plain, Options(sensitivity_default=0))
    proc = subprocess.run([sys.executable, "-m", "biodiv", "--db", str(demo), "query", "run", "commune_richness",
                           "--format", "csv"], capture_output=True, text=True)
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert rows
    with Store(demo).read() as con:
        logins = {r[0] for r in con.execute("SELECT DISTINCT user_login FROM observations "
                                            "WHERE user_login IS NOT NULL").fetchall()}
    for row in rows:
        html = (plain / "commune" / f"{row['insee_code']}.html").read_text(encoding="utf-8")
        text = re.sub(r"<[^>]+>", " ", html).replace("\u202f", " ")
        flat = " ".join(text.split())
        assert f"{int(row['n_observations']):,}".replace(",", " ") + " observations" in flat, row
        assert f"{int(row['n_species']):,}".replace(",", " ") + " espèces" in flat, row
    everything = "\n".join(p.read_text(encoding="utf-8") for p in pages(site))
    assert not [login for login in logins if re.search(rf"\b{re.escape(login)}\b", everything)]


def test_rebuild_writes_only_what_changed(site, demo, tmp_path):
    copy = tmp_path / "demo.duckdb"
    copy.write_bytes(demo.read_bytes())
    out = tmp_path / "atlas"
    with Store(copy).read() as con:
        first = build_site(con, out)
        again = build_site(con, out)
    assert first.written and not again.written and again.unchanged == len(first.written)
    with Store(copy).write() as con:   # one observation more of an existing species in one commune
        obs, commune, key = con.execute(
            """SELECT o.id, a.code, coalesce(t.species_id, t.id) FROM observations o JOIN taxa t ON t.id = o.taxon_id
               JOIN observation_areas oa ON oa.observation_id = o.id JOIN areas a ON a.id = oa.area_id
               WHERE a.type = 'commune' AND a.in_territory AND o.quality_grade = 'casual' AND NOT o.obscured
               AND o.removed_at IS NULL AND o.observed_on < DATE '2023-01-01'
               AND coalesce(t.species_id, t.id) NOT IN (SELECT taxon_id FROM v_taxon_status WHERE protected OR threatened)
               AND t.id NOT IN (SELECT taxon_id FROM v_taxon_status WHERE protected OR threatened)
               LIMIT 1""").fetchone()   # a species of no sensitivity: public at its place
        con.execute("UPDATE observations SET quality_grade = 'research' WHERE id = ?", [obs])
    with Store(copy).read() as con:
        third = build_site(con, out)
    changed = set(third.written)
    assert f"commune/{commune}.html" in changed and f"espece/{key}.html" in changed
    assert "index.html" in changed                     # its figures changed too
    untouched = [p for p in first.written if p.startswith("espece/") and p != f"espece/{key}.html"]
    assert untouched and not changed & set(untouched)
    assert len(changed) < len(first.written) / 2


def test_a_folder_of_something_else_is_refused(demo, tmp_path):
    (tmp_path / "mine.txt").write_text("not a site")
    with Store(demo).read() as con, pytest.raises(SiteError, match="not empty"):
        build_site(con, tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "not a site" and not (tmp_path / MANIFEST).exists()


@pytest.mark.browser
def test_axe_finds_no_serious_violation_on_every_kind_of_page(site):
    from helpers_browser import CHROMIUM, chromium

    if not CHROMIUM.exists():
        pytest.skip("Debian chromium absent")
    if not AXE.exists():
        pytest.skip(f"axe-core absent ({AXE}: `npm install axe-core` there, as .ci/run does)")
    kinds = [site / "index.html", site / "especes.html", site / "methodes.html",
             next((site / "commune").glob("*.html")), next((site / "site").glob("*.html")),
             next((site / "espece").glob("*.html"))]
    script = AXE.read_text(encoding="utf-8")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 400, "height": 900})
        for path in kinds:
            page.goto(path.as_uri())
            page.add_script_tag(content=script)
            result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
            bad = [(v["id"], v["impact"], len(v["nodes"])) for v in result["violations"]
                   if v["impact"] in ("serious", "critical")]
            assert bad == [], f"{path.name}: {bad}"


def test_stakes_geopackage_opens_styled(demo, tmp_path):
    import geopandas as gpd
    import pyogrio

    out = tmp_path / "enjeux.gpkg"
    proc = subprocess.run([sys.executable, "-m", "biodiv", "--db", str(demo), "publish", "stakes", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert pyogrio.read_info(out, layer=LAYER)["crs"] == "EPSG:2154"
    cells = gpd.read_file(out, layer=LAYER)
    assert len(cells) > 0 and set(cells.geom_type) == {"Polygon"}
    assert all(abs(a - 1e6) < 5e3 for a in cells.area)           # 1 km² cells in Lambert-93
    for r in cells.itertuples():
        assert r.classe == stake_class(r.menacees, r.protegees, r.patrimoniales, r.jours_obs)
        assert r.code.startswith("1kmL93E")
    db = sqlite3.connect(out)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 10200      # GeoPackage 1.2
    name, default, qml = db.execute("SELECT f_table_name, useAsDefault, styleQML FROM layer_styles").fetchone()
    assert (name, default) == (LAYER, 1)
    root = ET.fromstring(qml.split("'SYSTEM'>", 1)[1])
    assert [c.get("value") for c in root.iter("category")] == [v for v, _, _ in CLASSES]
    bad = subprocess.run([sys.executable, "-m", "biodiv", "--db", str(demo), "publish", "stakes",
                          "--out", str(tmp_path / "x.shp")], capture_output=True, text=True)
    assert bad.returncode == 1 and "GeoPackage" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
