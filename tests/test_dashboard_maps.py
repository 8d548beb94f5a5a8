"""folium map builders: popups, local assets (no CDN), colour classes, payload bounds."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from biodiv.dashboard import maps
from biodiv.dashboard.server import assets
from biodiv.errors import BiodivError


def square(i, x, y, d=0.1):
    return {"type": "Feature", "properties": {"area_id": i, "code": f"C{i}", "name": f"Commune {i}"},
            "geometry": {"type": "Polygon",
                         "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}}


FEATURES = {"type": "FeatureCollection", "features": [square(1, 3.0, 43.0), square(2, 3.1, 43.0)]}


def test_popup_shows_names_date_observer_certainty_photo_and_link():
    row = {"id": 11, "common_name_fr": "Rougegorge familier", "sci_name": "Erithacus rubecula",
           "observed_on": date(2025, 8, 8), "user_login": "bob", "quality_grade": "research",
           "certainty": "edge", "photo_url": "https://static.inaturalist.org/photos/11/square.jpg",
           "uri": "https://www.inaturalist.org/observations/11"}
    html = maps.popup_html(row)
    assert "<b>Rougegorge familier</b>" in html and "<i>Erithacus rubecula</i>" in html
    assert "08/08/2025" in html and "bob" in html
    assert "En limite de commune" in html and "Recherche (validée)" in html
    assert '<img src="https://static.inaturalist.org/photos/11/square.jpg"' in html
    assert 'href="https://www.inaturalist.org/observations/11"' in html and "Voir sur iNaturalist" in html
    public = maps.popup_html(row, public_mode=True)
    assert "bob" not in public and "observateur masqué" in public


def test_popup_escapes_text_from_the_api():
    html = maps.popup_html({"common_name_fr": "<script>x</script>", "sci_name": "A & B",
                            "observed_on": None, "user_login": "<b>evil</b>"})
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;evil" in html and "A &amp; B" in html and "date inconnue" in html


def test_map_uses_only_local_leaflet_and_no_tiles_offline():
    m = maps.new_map((3.0, 43.0, 3.2, 43.1), basemap="none")
    maps.add_choropleth(m, FEATURES, pd.DataFrame({"area_id": [1, 2], "observations": [5, 0]}), "observations")
    maps.finish(m)
    html = m.get_root().render()
    urls = set(re.findall(r'(?:src|href)="([^"]+)"', html))
    assert urls == {"/app/static/vendor/leaflet/leaflet.js", "/app/static/vendor/leaflet/leaflet.css"}
    assert "cdn." not in html and "jquery" not in html.lower() and "bootstrap" not in html.lower()
    assert "tile.openstreetmap.org" not in html
    assert '"maxZoom": 18' in html


def test_basemap_auto_offers_tiles_without_showing_them():
    html = maps.finish(maps.new_map((3.0, 43.0, 3.2, 43.1), basemap="auto")).get_root().render()
    assert "Fond OpenStreetMap (en ligne)" in html and "Fond IGN Plan (en ligne)" in html
    assert "GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2" in html
    # overlays not added to the map until picked: folium writes `.addTo(map)` only when shown
    shown = maps.finish(maps.new_map((3.0, 43.0, 3.2, 43.1), basemap="osm")).get_root().render()
    assert shown.count(".addTo(map_") > html.count(".addTo(map_")


def test_colour_classes_are_contiguous():
    """No gap between classes: each starts at the next whole number (counts), the next day
    (dates) or the same bound (ratios) after the previous one ends."""
    _, legend = maps.colour_classes([3, 10, 40, 75, 120, 141, 200, 500, 0])
    bounds = [label.split(" – ") for _, label in legend[1:]]
    for (_, hi), (lo, _) in zip(bounds, bounds[1:]):
        assert int(lo.replace("\u202f", "")) == int(hi.replace("\u202f", "")) + 1
    _, ratios = maps.colour_classes([0.5, 1.25, 2.0, 3.5, 7.0, 9.0, 12.0])
    rb = [label.split(" – ") for _, label in ratios[1:]]
    assert all(hi == lo for (_, hi), (lo, _) in zip(rb, rb[1:]) if len(rb) > 1)
    _, dates = maps.colour_classes([date(2024, 1, 1), date(2024, 3, 1), date(2025, 6, 1)])
    assert [lab for _, lab in dates[1:]] == ["01/01/2024", "02/01/2024 – 01/03/2024", "02/03/2024 – 01/06/2025"]


def test_map_has_one_legend_metric_scale_french_attribution_and_folded_layers():
    m = maps.new_map((3.0, 43.0, 3.2, 43.1), basemap="none")
    legend = maps.add_choropleth(m, FEATURES, pd.DataFrame({"area_id": [1, 2], "observations": [5, 0]}),
                                 "observations")
    m.add_child(maps.Legend("Observations", legend, [(maps.ZSC_COLOUR, "Natura 2000 ZSC")]))
    maps.finish(m)
    html = m.get_root().render()
    assert html.count("biodiv-legend") == 1 and "Natura 2000 ZSC" in html
    assert "imperial: false" in html and "control.scale" in html
    assert "contributeurs iNaturalist" in html and "IGN/Etalab" in html and "INPN" in html
    assert '"collapsed": true' in html
    assert '"kind": "commune"' in html and '"code": "C1"' in html          # what a click opens


def test_grid_formula_matches_pyproj():
    from pyproj import Transformer

    from biodiv.dashboard import grid

    t = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    for lon, lat in [(3.5, 43.6), (-4.5, 48.4), (7.7, 48.6), (9.4, 42.0), (2.35, 51.05)]:
        x, y = grid.l93(lon, lat)
        px, py = t.transform(lon, lat)
        assert abs(x - px) < 0.05 and abs(y - py) < 0.05
    assert grid.cell_code(10_000, 68, 628) == "10kmL93E068N628"
    assert grid.parse_code("1kmL93E0740N6278") == (1000, 740, 6278)
    assert grid.parse_code("10kmL93E068N62") is None and grid.parse_code("T0001") is None


def test_colour_classes_grey_for_zero_and_dates_get_date_labels():
    colour, legend = maps.colour_classes([0, 1, 2, 3, 50, None])
    assert colour(0) == maps.EMPTY_COLOUR and colour(None) == maps.EMPTY_COLOUR
    assert colour(50) == maps.PALETTE[-1]
    assert colour(1) != colour(50)
    assert legend[0] == (maps.EMPTY_COLOUR, "0 (aucune donnée)")
    dcolour, dlegend = maps.colour_classes([date(2024, 1, 1), date(2025, 6, 1), None])
    assert dcolour(date(2025, 6, 1)) == maps.PALETTE[-1]
    assert any("01/06/2025" in label for _, label in dlegend)


def test_choropleth_tooltip_values_per_commune():
    m = maps.new_map(None, "none")
    maps.add_choropleth(m, FEATURES, pd.DataFrame({"area_id": [1, 2], "per_km2": [1.25, None]}), "per_km2")
    html = m.get_root().render()
    assert '"value": "1,2"' in html or '"value": "1,3"' in html
    assert '"value": "\\u2014"' in html
    assert "Observations par km\\u00b2" in html


def test_point_limit_payload_stays_under_3_mb():
    from biodiv.dashboard.ui import MAX_POINTS

    rng = np.random.default_rng(1)
    n = MAX_POINTS                                  # the most points a map may ever carry
    pts = pd.DataFrame({
        "id": np.arange(n), "lon": rng.uniform(3, 3.2, n), "lat": rng.uniform(43, 43.2, n),
        "observed_on": [date(2025, 5, 1)] * n, "common_name_fr": ["Rougegorge familier"] * n,
        "sci_name": ["Erithacus rubecula"] * n, "quality_grade": ["research"] * n,
        "user_login": ["naturaliste_long_login"] * n, "certainty": ["precise"] * n,
        "photo_url": ["https://static.inaturalist.org/photos/123456789/square.jpg"] * n,
        "uri": [f"https://www.inaturalist.org/observations/{200000000 + i}" for i in range(n)],
    })
    m = maps.new_map((3.0, 43.0, 3.2, 43.2), "none")
    maps.add_points(m, pts)
    from biodiv.dashboard.grid import cell_code

    ix, iy = np.repeat(np.arange(740, 760), 20), np.tile(np.arange(6270, 6290), 20)
    grid = pd.DataFrame({"ix": ix, "iy": iy, "code": [cell_code(1000, a, b) for a, b in zip(ix, iy)],
                         "observations": np.arange(400)})
    maps.add_grid(m, grid, 1000)
    maps.finish(m)
    size = maps.map_size(m)
    assert size < 3_000_000
    html = m.get_root().render()
    assert html.count("CircleMarker") < 10          # one layer, not one object per point
    assert re.search(r"3\.\d{6,}", html) is None    # coordinates rounded to 5 decimals


def test_install_assets_reports_a_missing_npm(tmp_path):
    with pytest.raises(BiodivError, match="not found"):
        assets.install_assets(tmp_path / "vendor", npm="npm-does-not-exist-here")
    assert not assets.assets_installed(tmp_path / "vendor")


def test_html_tables_escape_and_scale_bars():
    from biodiv.dashboard.html import bars_table, plain_table

    df = pd.DataFrame({"g": ["<Oiseaux>", "Plantes"], "n": [10, 5], "m": [[1] * 12, [0] * 11 + [4]]})
    out = bars_table(df, "g", "Groupe", {"n": "Observations"}, months="m")
    assert "&lt;Oiseaux&gt;" in out and "<Oiseaux>" not in out
    assert 'style="width:100%"></span><b>10</b>' in out and 'style="width:50%"></span><b>5</b>' in out
    assert 'title="déc. : 4" style="height:100%"' in out
    table = plain_table(pd.DataFrame({"d": [date(2025, 8, 8)], "n": [12345]}), {"d": "Date", "n": "N"})
    assert "<td>08/08/2025</td>" in table and "<td>12\u202f345</td>" in table


def test_names_are_one_layer_of_text_markers_in_the_layer_control():
    m = maps.new_map((3.0, 43.0, 3.2, 43.1), basemap="none")
    feats = {"type": "FeatureCollection", "features": [
        {**f, "properties": {**f["properties"], "label_lon": 3.05 + 0.1 * i, "label_lat": 43.05}}
        for i, f in enumerate(FEATURES["features"])]}
    feats["features"][1]["properties"]["name"] = "Saint-Jean-de-<Fos>"
    maps.add_names(m, feats)
    html = maps.finish(m).get_root().render()
    assert html.count("L.divIcon(") == 1 and "L.marker(" in html            # one layer, drawn in the browser
    assert '[43.05, 3.05, "Commune 1"]' in html and '[43.05, 3.15, "Saint-Jean-de-\\u003cFos\\u003e"]' in html
    assert "textContent = p[2]" in html                                     # a name is text, never HTML
    assert re.search(r'"Noms des communes" : names_\w+', html)              # toggled in the layer control


def test_map_rendered_once_by_st_folium_sends_the_same_map(tmp_path, monkeypatch):
    """ui.show_map asks st_folium not to render the whole HTML page again (render=False): for
    every kind of map the pages draw, what reaches the browser is the same as with the extra
    render (which a folium.DivIcon per name needed, hence the names layer)."""
    import os
    from unittest import mock

    import streamlit_folium

    from biodiv.dashboard import data, ui
    from helpers_dashboard import build_fixture_db

    db_path = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.setenv("BIODIV_DB", str(db_path))
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    st_ = os.stat(db_path)
    db = ui.Db(str(db_path), st_.st_ino, st_.st_mtime_ns, st_.st_size)
    area = data.NO_FILTERS
    with ui.cursor(db) as con:
        alpha = con.execute("SELECT id FROM areas WHERE code = 'T0001'").fetchone()[0]
    cases = {"points": dict(measure="observations"), "grid": dict(measure="grid:10000"),
             "sheet": dict(measure="observations", area_id=alpha),
             "atelier": dict(measure="observations", points=False, font_px=28, names_px=26)}
    for what, kwargs in cases.items():
        sent = []
        with mock.patch.object(streamlit_folium, "_component_func", side_effect=lambda *a, **kw: sent.append(kw)):
            for render in (True, False):
                m, _ = ui.observation_map(db, area, **kwargs)
                streamlit_folium.st_folium(m, key="k", height=500, use_container_width=True,
                                           returned_objects=[], render=render)
        with_render, without = ({k: re.sub(r"[0-9a-f]{32}", "ID", str(v)) for k, v in s.items() if k != "on_change"}
                                for s in sent)
        assert without == with_render, what
        assert "biodiv-name" in without["script"] and "Alpha" in without["script"], what
