"""End to end in Chromium (no network): the public map page and the Mode atelier of a demo
store with the referential imported draw no sensitive observation where its level forbids,
link to none of them on iNaturalist, and say what is withheld."""

from __future__ import annotations

import duckdb
import pytest

from biodiv.config import Config
from biodiv.demo import build_demo
from biodiv.sensitivity.levels import store_referential
from biodiv.sensitivity.referential import read_referential
from biodiv.store.database import Store

from helpers_sensitivity import write_referential

pytestmark = pytest.mark.browser

POINTS_JS = """() => {
  const out = [];
  for (const k of Object.keys(window)) {
    const m = window[k];
    if (!k.startsWith('map_') || !(m instanceof L.Map)) continue;
    m.eachLayer(l => {
      const g = l.feature && l.feature.geometry;
      if (g && g.type === 'Point') out.push(g.coordinates);
    });
  }
  return out.length ? out : null;
}"""




def test_public_map_and_mode_atelier_hide_sensitive_places(tmp_path, browser_ready):
    from helpers_browser import chromium, new_context, streamlit_server, visit

    db = tmp_path / "demo.duckdb"
    build_demo(db, n_observations=900)           # few enough points to be drawn one by one
    with Store(db).write() as con:
        store_referential(con, read_referential(write_referential(tmp_path)), None)
    con = duckdb.connect(str(db), read_only=True)
    try:
        sensitive = con.execute(
            """SELECT o.id, o.lon, o.lat FROM observations o JOIN observation_sensitivity s ON s.observation_id = o.id
               WHERE s.level > 0 AND o.in_territory AND NOT o.obscured AND o.removed_at IS NULL""").fetchall()
        shared = {(round(x, 4), round(y, 4)) for x, y in con.execute(
            """SELECT o.lon, o.lat FROM observations o LEFT JOIN observation_sensitivity s ON s.observation_id = o.id
               WHERE coalesce(s.level, 0) = 0 AND o.lon IS NOT NULL""").fetchall()}
    finally:
        con.close()
    secret = {(round(x, 4), round(y, 4)) for _, x, y in sensitive} - shared
    assert len(secret) > 10
    cfg = Config()
    cfg.dashboard.public_mode = True
    cfg_file = cfg.save(tmp_path / "biodiv.toml")
    with streamlit_server(db, config=cfg_file, log_dir=tmp_path) as server, chromium() as browser:
        carte = visit(browser, f"{server.url}/carte", min_polygons=3, complete=True)
        assert carte.seconds_to_map is not None, server.log.read_text()[-2000:]
        assert carte.probe["points"] > 100                     # the published observations are drawn
        context = new_context(browser)
        page = context.new_page()
        page.goto(f"{server.url}/carte")
        drawn = None
        for _ in range(300):
            for frame in page.frames:
                try:
                    drawn = frame.evaluate(POINTS_JS)
                except Exception:
                    continue
                if drawn:
                    break
            if drawn:
                break
            page.wait_for_timeout(100)
        assert drawn and len(drawn) == carte.probe["points"]
        assert not {(round(x, 4), round(y, 4)) for x, y in drawn} & secret
        page.get_by_text("données sensibles non diffusées").first.wait_for(timeout=30_000)
        html = "".join(f.content() for f in page.frames)
        for oid, _, _ in sensitive:
            assert f"inaturalist.org/observations/{oid}\"" not in html
        context.close()

        atelier = visit(browser, f"{server.url}/atelier", min_polygons=3, complete=True)
        assert atelier.seconds_to_map is not None
        assert "données sensibles non diffusées" in atelier.text and "floutée" in atelier.text
