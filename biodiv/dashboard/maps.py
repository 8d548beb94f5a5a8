"""folium map builders: pure functions from GeoJSON dicts and DataFrames to a ``folium.Map``.

Why this shape: the pages only pass what ``data`` returned, so the map's content (what a
popup says, which layers exist, how heavy the payload is) is tested on the HTML without a
browser. Weight rules: one GeoJSON layer per kind of thing (never one folium object per
observation), coordinates rounded to 1e-5°, outlines simplified upstream, Leaflet served
locally (see ``assets``), and no basemap tiles unless configured.
"""

from __future__ import annotations

import html
import math
from datetime import date, datetime
from typing import Any, Callable, Iterable

import folium
import pandas as pd

from biodiv.dashboard.server.assets import localize
from biodiv.dashboard.labels import CERTAINTY_FR, HIDDEN_OBSERVER_FR, MEASURES_FR, QUALITY_FR, format_int

# Sequential palette (light to dark green), colour-blind safe (ColorBrewer YlGn, 6 classes).
PALETTE = ["#ffffcc", "#d9f0a3", "#addd8e", "#78c679", "#31a354", "#006837"]
EMPTY_COLOUR = "#f2f2f2"
ZSC_COLOUR = "#7b3294"
ZPS_COLOUR = "#e66101"
POINT_COLOUR = "#1f78b4"

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTR = "&copy; contributeurs OpenStreetMap"
IGN_TILES = (
    "https://data.geopf.fr/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER=GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2&STYLE=normal&TILEMATRIXSET=PM"
    "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&FORMAT=image/png"
)
IGN_ATTR = "&copy; IGN Géoplateforme"


# ---------------------------------------------------------------------------
# Base map
# ---------------------------------------------------------------------------

def new_map(bounds: tuple[float, float, float, float] | None, basemap: str = "auto",
            height: int | str = "100%") -> folium.Map:
    """An empty map fitted to ``bounds`` (xmin, ymin, xmax, ymax).

    basemap: ``none`` (outlines only, works offline), ``osm`` / ``ign`` (tiles shown),
    ``auto`` (outlines shown; OSM and IGN Plan offered in the layer control, fetched only
    when a user picks them: nothing is requested offline).
    """
    m = folium.Map(tiles=None, prefer_canvas=True, control_scale=True, height=height,
                   zoom_control=True)
    m.options["maxZoom"] = 18
    if bounds:
        xmin, ymin, xmax, ymax = bounds
        m.fit_bounds([[ymin, xmin], [ymax, xmax]])
    if basemap in ("osm", "auto"):
        folium.TileLayer(OSM_TILES, attr=OSM_ATTR, name="Fond OpenStreetMap (en ligne)",
                         overlay=basemap == "auto", show=basemap == "osm", max_zoom=19).add_to(m)
    if basemap in ("ign", "auto"):
        folium.TileLayer(IGN_TILES, attr=IGN_ATTR, name="Fond IGN Plan (en ligne)",
                         overlay=basemap == "auto", show=basemap == "ign", max_zoom=19).add_to(m)
    return m


def finish(m: folium.Map, base_url: str | None = None, collapsed: bool = False) -> folium.Map:
    """Add the layer control (folded on small maps) and make every asset local (call last)."""
    folium.LayerControl(collapsed=collapsed).add_to(m)
    return localize(m) if base_url is None else localize(m, base_url)


# ---------------------------------------------------------------------------
# Colour classes
# ---------------------------------------------------------------------------

def _numeric(v: Any) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, (date, datetime, pd.Timestamp)):
        return float(pd.Timestamp(v).toordinal())
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return float(v)


def _label(v: float, is_date: bool) -> str:
    if is_date:
        return date.fromordinal(int(v)).strftime("%d/%m/%Y")
    if abs(v) >= 10 or v == int(v):
        return format_int(round(v))
    return f"{v:.1f}".replace(".", ",")


def colour_classes(values: Iterable[Any], n: int = len(PALETTE)
                   ) -> tuple[Callable[[Any], str], list[tuple[str, str]]]:
    """Quantile classes: returns ``colour(value)`` and a legend ``[(colour, label), …]``.

    Zero and missing values get a neutral grey, so "nothing seen" reads as such.
    """
    raw = list(values)
    is_date = any(isinstance(v, (date, datetime, pd.Timestamp)) for v in raw if v is not None)
    nums = sorted({x for x in (_numeric(v) for v in raw) if x is not None and (is_date or x > 0)})
    if not nums:
        return (lambda v: EMPTY_COLOUR), [(EMPTY_COLOUR, "aucune donnée")]
    k = min(n, len(nums))
    # upper bound of each class, from quantiles of the distinct values
    uppers = [nums[min(len(nums) - 1, math.ceil((i + 1) * len(nums) / k) - 1)] for i in range(k)]
    colours = ([PALETTE[round(i * (len(PALETTE) - 1) / (k - 1))] for i in range(k)]
               if k > 1 else [PALETTE[-1]])

    def colour(v: Any) -> str:
        x = _numeric(v)
        if x is None or (not is_date and x <= 0):
            return EMPTY_COLOUR
        for up, c in zip(uppers, colours):
            if x <= up:
                return c
        return colours[-1]

    legend = [(EMPTY_COLOUR, "aucune donnée")]
    low = nums[0]
    for up, c in zip(uppers, colours):
        legend.append((c, _label(low, is_date) if low == up else f"{_label(low, is_date)} – {_label(up, is_date)}"))
        nxt = [x for x in nums if x > up]
        low = nxt[0] if nxt else up
    return colour, legend


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------

def _fmt_value(v: Any, measure: str) -> str:
    x = _numeric(v)
    if x is None:
        return "—"
    if measure == "last_observed":
        return pd.Timestamp(v).strftime("%d/%m/%Y")
    if measure == "per_km2":
        return f"{x:.1f}".replace(".", ",")
    return format_int(x)


def add_choropleth(m: folium.Map, features: dict[str, Any], measures: pd.DataFrame, measure: str,
                   name: str = "Communes") -> list[tuple[str, str]]:
    """Area outlines coloured by ``measure`` (a column of ``measures``, keyed by area_id).

    Returns the legend. Each feature carries its name and value for the tooltip.
    """
    by_id = measures.set_index("area_id")[measure].to_dict() if len(measures) else {}
    colour, legend = colour_classes(by_id.values())
    label = MEASURES_FR.get(measure, measure)
    feats = []
    for feat in features["features"]:
        v = by_id.get(feat["properties"]["area_id"])
        props = dict(feat["properties"], value=_fmt_value(v, measure), fill=colour(v))
        feats.append({"type": "Feature", "properties": props, "geometry": feat["geometry"]})
    folium.GeoJson(
        {"type": "FeatureCollection", "features": feats},
        name=name,
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": "#555555",
                                  "weight": 1, "fillOpacity": 0.7},
        highlight_function=lambda f: {"weight": 3},
        tooltip=folium.GeoJsonTooltip(fields=["name", "value"], aliases=["", label], localize=False),
        overlay=True, control=True, show=True,
    ).add_to(m)
    return legend


def add_outlines(m: folium.Map, features: dict[str, Any], name: str, colour: str,
                 show: bool = True) -> None:
    """Unfilled outlines (Natura 2000 sites, an area's border), toggleable in the layer control."""
    if not features["features"]:
        return
    folium.GeoJson(
        features, name=name,
        style_function=lambda f, c=colour: {"color": c, "weight": 2, "fillColor": c,
                                            "fillOpacity": 0.12, "dashArray": "5 4"},
        tooltip=folium.GeoJsonTooltip(fields=["code", "name"], aliases=["", ""], localize=False),
        overlay=True, control=True, show=show,
    ).add_to(m)


def _text(v: Any) -> str | None:
    """A non-empty string, or None for None/NaN/empty (pandas turns missing text into NaN)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v)
    return s or None


def popup_html(row: dict[str, Any], public_mode: bool = False) -> str:
    """What a click on an observation shows: names, date, observer, certainty, photo, link."""
    fr = html.escape(_text(row.get("common_name_fr")) or "")
    sci = html.escape(_text(row.get("sci_name")) or "taxon inconnu")
    when = row.get("observed_on")
    when_s = pd.Timestamp(when).strftime("%d/%m/%Y") if when is not None and not pd.isna(when) else "date inconnue"
    who = HIDDEN_OBSERVER_FR if public_mode else html.escape(_text(row.get("user_login")) or "—")
    cert = CERTAINTY_FR.get(str(row.get("certainty") or ""), "")
    grade = QUALITY_FR.get(str(row.get("quality_grade") or ""), "")
    parts = [f"<b>{fr}</b><br><i>{sci}</i>" if fr else f"<i>{sci}</i>",
             f"{when_s} · {who}", f"{grade} · {cert}"]
    photo = _text(row.get("photo_url"))
    if photo:
        parts.append(f'<img src="{html.escape(photo)}" width="75" height="75" alt="">')
    uri = _text(row.get("uri"))
    if uri:
        parts.append(f'<a href="{html.escape(uri)}" target="_blank">Voir sur iNaturalist</a>')
    return "<br>".join(parts)


def add_points(m: folium.Map, points: pd.DataFrame, public_mode: bool = False,
               name: str = "Observations") -> None:
    """Observations as one GeoJSON layer of CircleMarkers with popups (small sets only)."""
    feats = [
        {"type": "Feature",
         "properties": {"popup": popup_html(r, public_mode)},
         "geometry": {"type": "Point", "coordinates": [round(float(r["lon"]), 5), round(float(r["lat"]), 5)]}}
        for r in points.to_dict("records")
    ]
    folium.GeoJson(
        {"type": "FeatureCollection", "features": feats}, name=name,
        marker=folium.CircleMarker(radius=5, weight=1, color="#ffffff", fill=True,
                                   fill_color=POINT_COLOUR, fill_opacity=0.85),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False, localize=False),
        overlay=True, control=True, show=True,
    ).add_to(m)


def add_grid(m: folium.Map, grid: pd.DataFrame, cell_deg: float,
             name: str = "Observations (grille)") -> list[tuple[str, str]]:
    """Counts per square cell (computed in DuckDB) as one GeoJSON layer of squares."""
    colour, legend = colour_classes(grid["observations"])
    feats = []
    for r in grid.itertuples():
        x0, y0 = round(r.lon0, 5), round(r.lat0, 5)
        x1, y1 = round(r.lon0 + cell_deg, 5), round(r.lat0 + cell_deg, 5)
        feats.append({"type": "Feature",
                      "properties": {"n": format_int(r.observations), "fill": colour(r.observations)},
                      "geometry": {"type": "Polygon",
                                   "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}})
    folium.GeoJson(
        {"type": "FeatureCollection", "features": feats}, name=name,
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": "#333333",
                                  "weight": 0.3, "fillOpacity": 0.75},
        tooltip=folium.GeoJsonTooltip(fields=["n"], aliases=["Observations"], localize=False),
        overlay=True, control=True, show=True,
    ).add_to(m)
    return legend


def map_size(m: folium.Map) -> int:
    """Bytes of the rendered map HTML (what the browser receives for it)."""
    return len(m.get_root().render().encode("utf-8"))
