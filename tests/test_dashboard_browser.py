"""End to end: ``streamlit run app.py`` on 127.0.0.1 and headless Chromium with no network.

Every request that does not go to 127.0.0.1 is aborted, so the map draws only if Leaflet is
served locally and no basemap is needed.
"""

from __future__ import annotations

import re

import pytest


from helpers_dashboard import build_fixture_db

pytestmark = pytest.mark.browser

OPEN_FIRST_POPUP_JS = """() => {
  for (const k of Object.keys(window)) {
    const m = window[k];
    if (!k.startsWith('map_') || !(m instanceof L.Map)) continue;
    let done = false;
    m.eachLayer(l => {
      if (done || !l.feature || l.feature.geometry.type !== 'Point') return;
      if (!String(l.feature.properties.popup).includes('Rougegorge')) return;
      l.fire('click', {latlng: l.getLatLng()}, true);
      done = true;
    });
  }
  const p = document.querySelector('.leaflet-popup-content');
  return p ? p.innerText : null;
}"""




def test_map_page_draws_offline_in_chromium(tmp_path, monkeypatch, browser_ready):
    from helpers_browser import chromium, new_context, streamlit_server, visit

    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    with streamlit_server(db, log_dir=tmp_path) as server, chromium() as browser:
        carte = visit(browser, f"{server.url}/carte", min_polygons=3)
        assert carte.seconds_to_map is not None, server.log.read_text()[-2000:]
        assert carte.probe["height"] > 300 and carte.probe["width"] > 300
        # 3 communes as the base + the same 3 coloured (one thematic layer) + 1 ZSC + 1 ZPS
        assert carte.probe["polygons"] == 8
        assert carte.probe["points"] == 8            # the obscured observation is not drawn
        assert sorted(carte.probe["names"]) == ["Alpha", "Beta", "Gamma"]   # the communes named
        for text in ("Carte des observations", "Couche affichée",
                     "Vue d'ensemble", "Mode atelier", "8 observations affichées en points"):
            assert text in carte.text
        assert "Données de démonstration" not in carte.text

        # A click on a point shows the popup (French + scientific name, date, link).
        context = new_context(browser)
        page = context.new_page()
        page.goto(f"{server.url}/carte")
        popup = None
        for _ in range(200):
            for frame in page.frames:
                try:
                    popup = frame.evaluate(OPEN_FIRST_POPUP_JS)
                except Exception:
                    continue
                if popup:
                    break
            if popup:
                break
            page.wait_for_timeout(100)
        # the filters follow the map in the sidebar (a session's first run draws them last)
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("Certitude de localisation").wait_for(timeout=30_000)
        assert "Filtres" in sidebar.inner_text() and "Période" in sidebar.inner_text()
        # and the page really has no network: a request to the internet fails
        outside = page.evaluate("() => fetch('https://tile.openstreetmap.org/0/0/0.png')"
                                ".then(() => 'reached').catch(() => 'blocked')")
        context.close()
        assert outside == "blocked"
        assert popup is not None
        assert "Rougegorge familier" in popup and "Erithacus rubecula" in popup
        assert "08/08/2025" in popup and "Voir sur iNaturalist" in popup

        overview = visit(browser, server.url + "/", min_polygons=3)
        assert overview.seconds_to_map is not None
        assert "Vue d'ensemble — Territoire d'essai" in overview.text
        context = new_context(browser)
        page = context.new_page()
        page.goto(server.url + "/")
        page.get_by_text("Nouvelles espèces pour le territoire").wait_for(timeout=30_000)   # below the charts
        context.close()


# In the map's frame: what the legend says, how many legends, the scale's text, and the
# on-screen position of commune ``code``'s centre (to click it with the mouse).
MAP_FACTS_JS = """(code) => {
  let m = null;
  for (const k of Object.keys(window)) if (k.startsWith('map_') && window[k] instanceof L.Map) m = window[k];
  if (!m) return null;
  let at = null;
  m.eachLayer(l => {
    const p = l.feature && l.feature.properties;
    if (p && p.kind === 'commune' && p.code === code && l.getBounds) {
      const c = m.latLngToContainerPoint(l.getBounds().getCenter());
      at = {x: c.x, y: c.y};
    }
  });
  const legends = [...document.querySelectorAll('.biodiv-legend')];
  return {at, legends: legends.length, legend: legends.map(l => l.innerText).join('|'),
          scale: (document.querySelector('.leaflet-control-scale') || {innerText: ''}).innerText,
          attribution: (document.querySelector('.leaflet-control-attribution') || {innerText: ''}).innerText,
          layersFolded: !!document.querySelector('.leaflet-control-layers:not(.leaflet-control-layers-expanded)')};
}"""


def _map_frame(page, code="T0002", timeout_s=40):
    for _ in range(timeout_s * 10):
        for frame in page.frames:
            try:
                facts = frame.evaluate(MAP_FACTS_JS, code)
            except Exception:
                continue
            if facts and facts["at"]:
                return frame, facts
        page.wait_for_timeout(100)
    raise AssertionError("no map with the commune drawn")


def test_a_click_on_a_commune_opens_its_sheet_and_back_returns(tmp_path, monkeypatch, browser_ready):
    from helpers_browser import chromium, new_context, streamlit_server

    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    with streamlit_server(db, log_dir=tmp_path) as server, chromium() as browser:
        context = new_context(browser)
        page = context.new_page()
        page.goto(f"{server.url}/carte")
        frame, facts = _map_frame(page)
        # one legend (the thematic layer's), with Natura 2000; metric scale; credits; folded layers
        assert facts["legends"] == 1
        assert "Observations" in facts["legend"] and "Natura 2000 ZSC" in facts["legend"]
        assert "km" in facts["scale"] and "mi" not in facts["scale"].split()
        assert "iNaturalist" in facts["attribution"] and "IGN" in facts["attribution"]
        assert facts["layersFolded"]
        # a real mouse click on Beta (T0002), away from the site outline and the points, once
        # the page is drawn (sidebar included) and the map has stopped moving
        page.locator('[data-testid="stSidebar"]').get_by_text("Certitude de localisation").wait_for(timeout=30_000)
        for _ in range(50):
            page.wait_for_timeout(300)
            frame, again = _map_frame(page)
            if again["at"] == facts["at"]:
                break
            facts = again
        box = frame.frame_element().bounding_box()
        page.mouse.click(box["x"] + facts["at"]["x"] + 25, box["y"] + facts["at"]["y"] + 35)
        page.wait_for_url("**/fiche-commune?commune=T0002", timeout=30_000)
        page.get_by_text("Commune · code T0002").wait_for(timeout=30_000)
        assert page.locator("h2").filter(has_text="Beta").count() >= 1
        # the sheet has one commune selector (the sidebar's commune filter is left out)
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("Groupe taxonomique").wait_for(timeout=30_000)
        for _ in range(100):          # the Carte's sidebar stays until the sheet's run ends
            lines = [t.strip() for t in sidebar.inner_text().splitlines()]
            if "Commune" not in lines and "Certitude de localisation" in lines:
                break
            page.wait_for_timeout(200)
        assert "Commune" not in lines and "Site Natura 2000" in lines, lines
        page.go_back()
        page.wait_for_url(re.compile(r"/carte"), timeout=30_000)
        page.get_by_text("Couche affichée").wait_for(timeout=30_000)
        page.wait_for_url(re.compile(r"/carte$"), timeout=30_000)   # the sheet's ?commune= is not kept
        # opened directly from its address, a sheet shows its subject
        page.goto(f"{server.url}/fiche-commune?commune=T0003")
        page.get_by_text("Commune · code T0003").wait_for(timeout=30_000)
        context.close()


ENGLISH = re.compile(r"\b(Select all|No results|Press Enter|Choose an option|Sunday|Monday|January|February|"
                     r"Download|Search|Fullscreen|Show|Hide|Loading|Running|Deploy|Settings|Close|Skip to main)\b")


# The text a reader sees: text nodes of rendered elements whose font is not 0 px (see
# biodiv/dashboard/french.py), plus the ::after text shown in their place; icon ligatures
# (Material Symbols: "dashboard", "map"…) are glyphs, not words, and are left out.
VISIBLE_TEXT_JS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !n.textContent.trim() || !el.checkVisibility()) continue;
    const cs = getComputedStyle(el);
    if (cs.fontSize === '0px' || cs.fontFamily.includes('Material')) continue;
    if (['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName)) continue;
    out.push(n.textContent.trim());
  }
  for (const el of document.querySelectorAll('*')) {
    const after = getComputedStyle(el, '::after').content;
    if (after && after !== 'none' && after !== 'normal' && after.length > 2) out.push(after.slice(1, -1));
  }
  return out.join('\\n');
}"""


# What a screen reader says of buttons, fields, frames and charts: their accessible-name
# attributes, in every frame (the map's included). Streamlit, Leaflet and Vega write these in
# English (biodiv/dashboard/french.py, maps._MapSetup and charts rename them).
NAMES_JS = """() => {
  const attrs = ['aria-label', 'title', 'placeholder', 'alt', 'aria-roledescription', 'aria-description'];
  const out = [];
  for (const el of document.querySelectorAll(attrs.map(a => '[' + a + ']').join(',')))
    for (const a of attrs) if (el.getAttribute(a)) out.push(a + '=' + el.getAttribute(a));
  return out;
}"""
ENGLISH_NAMES = re.compile(
    r"\b(Help|Remove|Clear|Collapse|Expand|Open|Close|Selected|Choose|Link to|Download|Copy|Show|Hide|"
    r"Search|Fullscreen|Zoom in|Zoom out|Layers|visualization|Vega|axis|legend|container|Title text|Sidebar|"
    r"App pages|start|end|streamlit_folium|Press|Skip)\b")


def _all_names(page) -> list[str]:
    names = []
    for frame in page.frames:
        try:
            names += frame.evaluate(NAMES_JS)
        except Exception:
            pass
    return names


def _all_text(page) -> str:
    parts = []
    for frame in page.frames:
        try:
            parts.append(frame.evaluate(VISIBLE_TEXT_JS))
        except Exception:
            pass
    return "\n".join(parts)


def test_no_english_on_any_page_and_charts_in_french(tmp_path, monkeypatch, browser_ready):
    from helpers_browser import chromium, new_context, streamlit_server

    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    with streamlit_server(db, log_dir=tmp_path) as server, chromium() as browser:
        context = new_context(browser)
        page = context.new_page()
        for path in ("", "carte", "fiche-commune?commune=T0001", "fiche-site?site=FR9990001",
                     "fiche-espece?taxon=6", "atelier"):
            page.goto(f"{server.url}/{path}")
            page.get_by_text("Filtres" if path != "atelier" else "observations").first.wait_for(timeout=40_000)
            page.wait_for_timeout(2500)
            found = ENGLISH.findall(_all_text(page))
            assert not found, (path, found)
            names = _all_names(page)
            english = [n for n in names if ENGLISH_NAMES.search(n)]
            assert not english, (path, english)
            assert any(n == "title=Zoom avant" for n in names), (path, names)   # the map's frame was read
        # an opened multiselect offers no "Select all"
        page.goto(f"{server.url}/carte")
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("Groupe taxonomique").wait_for(timeout=40_000)
        page.wait_for_timeout(1500)
        sidebar.locator('[data-testid="stMultiSelect"] input').first.click()
        listbox = page.locator('[role="listbox"]')
        listbox.wait_for(timeout=10_000)
        menu = listbox.inner_text()
        assert "Oiseaux" in menu and "Select all" not in menu
        page.keyboard.type("zzzz")                               # nothing matches: French, not "No results"
        page.wait_for_timeout(800)
        seen = _all_text(page)
        assert "Aucun résultat" in seen and not ENGLISH.findall(seen), ENGLISH.findall(seen)
        page.keyboard.press("Escape")
        # the quality line every page shows says why, in French, as visible text (no "?"
        # button: Streamlit names it "Help" for screen readers)
        quality = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Qualité : vérifiables")
        quality.first.wait_for(timeout=10_000)
        assert "requêtes SQL nommées" in quality.first.inner_text()
        assert page.locator('[data-testid="stTooltipIcon"]').count() == 0
        # the charts: Vega-Lite SVG with French titles and axes
        page.goto(f"{server.url}/")
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        charts.first.wait_for(timeout=40_000)
        page.wait_for_timeout(1500)
        texts = [charts.nth(i).inner_text() for i in range(charts.count())]
        assert any("Observations par mois de l'année" in t and "Nombre d'observations" in t and "juil." in t
                   for t in texts), texts
        assert any("Évolution par année" in t and "Observateurs" in t and "Année" in t for t in texts), texts
        context.close()


# Font sizes of the visible text of the page (the map's frame apart: its furniture, scale
# and credits, is not text the room reads), and the scroll state.
ATELIER_FACTS_JS = """() => {
  const sizes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !n.textContent.trim() || !el.checkVisibility()) continue;
    const cs = getComputedStyle(el);
    if (cs.fontSize === '0px' || cs.fontFamily.includes('Material') || el.closest('svg')) continue;
    if (['SCRIPT', 'STYLE'].includes(el.tagName)) continue;
    sizes.push([parseFloat(cs.fontSize), n.textContent.trim().slice(0, 40)]);
  }
  const main = document.querySelector('[data-testid=stMain]');
  const nav = [...document.querySelectorAll('a[href]')].filter(a => a.checkVisibility() && /carte|fiche/.test(a.href));
  return {sizes, docScroll: document.documentElement.scrollHeight, mainScroll: main.scrollHeight,
          mainHeight: main.clientHeight, navLinks: nav.length};
}"""


def test_workshop_screen_fits_1920x1080_without_scroll_navigation_or_login(tmp_path, monkeypatch, browser_ready):
    from helpers_browser import chromium, streamlit_server

    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    with streamlit_server(db, log_dir=tmp_path) as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{server.url}/atelier")
        page.get_by_text("Dernières observations").wait_for(timeout=40_000)
        _map_frame(page, "T0001")                                    # the map is drawn
        page.wait_for_timeout(1500)
        facts = page.evaluate(ATELIER_FACTS_JS)
        page.screenshot(path=str(tmp_path / "atelier.png"))
        assert facts["docScroll"] <= 1080 and facts["mainScroll"] <= facts["mainHeight"], facts
        assert facts["navLinks"] == 0
        small = [(px, t) for px, t in facts["sizes"] if px < 28]
        assert not small, small
        text = _all_text(page)
        for login in ("alice", "bob", "carol", "dave", "erin", "frank"):
            assert login not in text
        assert "Machaon" in text and "nouvelle espèce !" in text
        assert not ENGLISH.findall(text)
        # the legend beside the map, never over it; the commune names at 28 px, none over another
        legend = page.locator(".atl-legend")
        assert "Natura 2000" in legend.inner_text()
        lb = legend.bounding_box()
        mb = page.locator("iframe").first.bounding_box()
        assert lb and mb and (lb["x"] >= mb["x"] + mb["width"] or lb["y"] >= mb["y"] + mb["height"]), (lb, mb)
        names = page.frames[1].evaluate("""() => [...document.querySelectorAll('.biodiv-name')]
            .filter(d => d.style.visibility !== 'hidden')
            .map(d => { const r = d.getBoundingClientRect();
                        return [r.left, r.top, r.right, r.bottom, parseFloat(getComputedStyle(d).fontSize)]; })""")
        assert names and all(n[4] >= 28 for n in names)
        overlaps = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
                    if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]
        assert not overlaps, overlaps


# At phone width: the page's scroll width, the frames of the tables (Streamlit's grids and
# the plain HTML tables) that reach past the screen's right edge, the HTML tables wider than
# their frame (cut or scrolled sideways), and the label of the filters' toggle.
PHONE_FACTS_JS = """() => {
  const W = innerWidth, out = [], cut = [];
  for (const el of document.querySelectorAll('[data-testid=stDataFrame], [data-testid=stTable], .bd-w')) {
    if (!el.checkVisibility()) continue;
    const r = el.getBoundingClientRect();
    if (r.right > W + 0.5 || r.left < -0.5) out.push([el.className.toString().slice(0, 30), r.left, r.right]);
  }
  for (const w of document.querySelectorAll('.bd-w')) if (w.scrollWidth > w.clientWidth + 1) cut.push(w.innerText.slice(0, 40));
  return {scrollWidth: document.scrollingElement.scrollWidth, innerWidth: W, outside: out, cut,
          labels: [...document.querySelectorAll('[data-testid=stExpandSidebarButton],'
                   + '[data-testid=stSidebarCollapsedControl] button')]
                  .filter(e => e.checkVisibility()).map(e => getComputedStyle(e, '::after').content)};
}"""

PHONE_PAGES = {"": "Par groupe taxonomique", "carte": "Couche affichée",
               "fiche-commune?commune=T0002": "Liste des espèces", "fiche-site?site=FR9990001": "Liste des espèces",
               "fiche-espece?taxon=6": "Communes et sites", "atelier": "Dernières observations"}


def test_phone_width_has_no_overflowing_table_and_a_labelled_filter_toggle(tmp_path, monkeypatch, browser_ready):
    """400 × 800, every page: nothing wider than the screen, every table inside it (a wide
    Streamlit grid scrolls inside its own frame), and "Filtres" written on the toggle that
    unfolds the filters (Mode atelier, a projection screen, has no filters)."""
    from helpers_browser import chromium, streamlit_server

    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    with streamlit_server(db, log_dir=tmp_path) as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 400, "height": 800})
        for path, last in PHONE_PAGES.items():
            page.goto(f"{server.url}/{path}")
            page.get_by_text(last).first.wait_for(timeout=40_000)
            page.wait_for_timeout(2500)
            facts = page.evaluate(PHONE_FACTS_JS)
            assert facts["scrollWidth"] <= facts["innerWidth"] == 400, (path, facts)
            assert not facts["outside"] and not facts["cut"], (path, facts)
            if path != "atelier":
                assert '"Filtres"' in facts["labels"], (path, facts)


# Streamlit's tables are drawn on a canvas (glide-data-grid): rows are 35 px under a 35 px
# header, and the row's selection box sits in the first ~30 px. This is the public widget
# (st.dataframe with on_select), clicked as a reader clicks it.
ROW_PX = 35


def _click_table_row(page, table, row: int) -> None:
    table.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box = table.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + ROW_PX * (row + 1) + ROW_PX / 2)


def _table_with(page, heading: str):
    """The st.dataframe whose accessible copy (the grid's hidden <table>) has ``heading``."""
    tables = page.locator('[data-testid="stDataFrame"]').filter(
        has=page.locator("table th", has_text=heading))
    tables.first.wait_for(timeout=40_000)
    return tables.first


def test_species_rows_open_the_species_sheet_and_its_areas_open_theirs(tmp_path, monkeypatch, browser_ready):
    """Fiche commune of Beta lists Erithacus rubecula, Quercus ilex, Timon lepidus (one
    observation each: by name); its 2nd row opens Fiche espèce of Quercus ilex (taxon 2).
    The Rougegorge's areas are Beta, Gamma, then the ZPS and the ZSC sites."""
    from helpers_browser import chromium, new_context, streamlit_server

    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    with streamlit_server(db, log_dir=tmp_path) as server, chromium() as browser:
        context = new_context(browser)
        page = context.new_page()
        page.goto(f"{server.url}/fiche-commune?commune=T0002")
        page.get_by_text("Commune · code T0002").wait_for(timeout=40_000)
        species = _table_with(page, "Nom scientifique")
        assert "Quercus ilex" in species.locator("table").inner_text()
        _click_table_row(page, species, 1)
        page.wait_for_url("**/fiche-espece?taxon=2", timeout=30_000)
        page.locator("h2").filter(has_text="Chêne vert").first.wait_for(timeout=30_000)
        page.go_back()                                               # back returns to the commune
        page.wait_for_url("**/fiche-commune?commune=T0002", timeout=30_000)
        page.get_by_text("Commune · code T0002").wait_for(timeout=30_000)

        page.goto(f"{server.url}/fiche-espece?taxon=6")
        page.locator("h2").filter(has_text="Rougegorge familier").first.wait_for(timeout=40_000)
        areas = _table_with(page, "Dernière observation")
        _click_table_row(page, areas, 2)                             # Site ZPS d'essai
        page.wait_for_url("**/fiche-site?site=FR9990002", timeout=30_000)
        page.get_by_text("code FR9990002").first.wait_for(timeout=30_000)
        context.close()
