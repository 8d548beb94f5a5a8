"""End to end: ``streamlit run app.py`` on 127.0.0.1 and headless Chromium with no network.

Every request that does not go to 127.0.0.1 is aborted, so the map draws only if Leaflet is
served locally and no basemap is needed.
"""

from __future__ import annotations

import pytest

from biodiv.dashboard.server import assets
from biodiv.dashboard.server.browser import CHROMIUM

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


@pytest.fixture(scope="module")
def browser_ready():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium absent (/usr/bin/chromium)")
    pytest.importorskip("playwright.sync_api")
    if not assets.assets_installed():
        try:
            assets.install_assets()
        except Exception as exc:  # no npm or no registry: nothing to draw the map with
            pytest.skip(f"Leaflet files missing (`biodiv dashboard --install-assets`): {exc}")


def test_map_page_draws_offline_in_chromium(tmp_path, monkeypatch, browser_ready):
    from biodiv.dashboard.server.browser import chromium, new_context, streamlit_server, visit

    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    with streamlit_server(db, log_dir=tmp_path) as server, chromium() as browser:
        carte = visit(browser, f"{server.url}/carte", min_polygons=3)
        assert carte.seconds_to_map is not None, server.log.read_text()[-2000:]
        assert carte.probe["height"] > 300 and carte.probe["width"] > 300
        assert carte.probe["polygons"] == 5          # 3 communes + 1 ZSC + 1 ZPS
        assert carte.probe["points"] == 8            # the obscured observation is not drawn
        for text in ("Carte des observations", "Colorer les communes selon",
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
        assert "Nouvelles espèces pour le territoire" in overview.text
