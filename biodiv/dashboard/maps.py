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
from branca.element import Element, MacroElement
from jinja2 import Template

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

ATTRIBUTION = "Observations © contributeurs iNaturalist · Communes IGN/Etalab · Natura 2000 INPN"
BACKGROUND = "#dde7ee"       # beyond the territory: a pale blue-grey, read as "outside"
TERRITORY_FILL = "#fbfaf5"   # the territory drawn as a base (paper colour), communes over it


class _MapSetup(MacroElement):
    """Metric-only scale, French attributions and control names, and the map container's
    offline background.

    Why a macro: folium's ``control_scale`` always adds miles, its attribution control
    only says "Leaflet", and Leaflet names its controls in English for screen readers
    ("Zoom in", "Layers", "Close popup"); Leaflet's own options (``zoomInTitle``…) and, for
    the two names it has no option for, the controls' elements, do what the dashboard needs."""

    _template = Template("""{% macro script(this, kwargs) %}
        L.control.scale({metric: true, imperial: false, position: 'bottomleft'}).addTo({{ this._parent.get_name() }});
        if ({{ this._parent.get_name() }}.zoomControl) {
          {{ this._parent.get_name() }}.zoomControl.remove();
          {{ this._parent.get_name() }}.zoomControl = L.control.zoom(
            {zoomInTitle: 'Zoom avant', zoomOutTitle: 'Zoom arrière'}).addTo({{ this._parent.get_name() }});
        }
        {{ this._parent.get_name() }}.on('popupopen', function (e) {
          var b = e.popup.getElement().querySelector('.leaflet-popup-close-button');
          if (b) { b.setAttribute('aria-label', 'Fermer'); b.title = 'Fermer'; }
        });
        setTimeout(function () {   // after the layer control (added last, see finish)
          {{ this._parent.get_name() }}.getContainer().querySelectorAll('.leaflet-control-layers-toggle').forEach(
            function (a) { a.title = 'Couches et fonds'; a.setAttribute('aria-label', 'Couches et fonds'); });
        }, 0);
        {{ this._parent.get_name() }}.attributionControl.setPrefix(false);
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.attribution|tojson }});
        {{ this._parent.get_name() }}.getContainer().style.background = {{ this.background|tojson }};
        {% if this.bounds %}
        // fit again once the frame has its final size (the first fit can see a 0-height frame)
        setTimeout(function () {
          {{ this._parent.get_name() }}.invalidateSize();
          {{ this._parent.get_name() }}.fitBounds({{ this.bounds|tojson }}, {padding: [8, 8]});
        }, 50);
        {% endif %}
    {% endmacro %}""")

    def __init__(self, attribution: str = ATTRIBUTION, background: str = BACKGROUND,
                 bounds: list | None = None) -> None:
        super().__init__()
        self._name = "MapSetup"
        self.attribution = attribution
        self.background = background
        self.bounds = bounds


def new_map(bounds: tuple[float, float, float, float] | None, basemap: str = "auto",
            height: int | str = "100%") -> folium.Map:
    """An empty map fitted to ``bounds`` (xmin, ymin, xmax, ymax).

    basemap: ``none`` (outlines only, works offline), ``osm`` / ``ign`` (tiles shown),
    ``auto`` (outlines shown; OSM and IGN Plan offered in the layer control, fetched only
    when a user picks them: nothing is requested offline).
    """
    m = folium.Map(tiles=None, prefer_canvas=True, control_scale=False, height=height,
                   zoom_control=True, zoom_snap=0.25, zoom_delta=0.5)
    m.options["maxZoom"] = 18
    if bounds:
        xmin, ymin, xmax, ymax = bounds
        m.fit_bounds([[ymin, xmin], [ymax, xmax]], padding=(8, 8))
    if basemap in ("osm", "auto"):
        folium.TileLayer(OSM_TILES, attr=OSM_ATTR, name="Fond OpenStreetMap (en ligne)",
                         overlay=basemap == "auto", show=basemap == "osm", max_zoom=19).add_to(m)
    if basemap in ("ign", "auto"):
        folium.TileLayer(IGN_TILES, attr=IGN_ATTR, name="Fond IGN Plan (en ligne)",
                         overlay=basemap == "auto", show=basemap == "ign", max_zoom=19).add_to(m)
    m.add_child(_MapSetup(bounds=[[bounds[1], bounds[0]], [bounds[3], bounds[2]]] if bounds else None))
    m.get_root().header.add_child(Element(
        "<style>.leaflet-container .leaflet-control-attribution{font-size:10px;line-height:1.3}"
        ".leaflet-container{font-family:sans-serif}</style>"), name="biodiv_map_style")
    return m


def finish(m: folium.Map, base_url: str | None = None, collapsed: bool = True) -> folium.Map:
    """Add the layer control (folded: it would cover the map) and make every asset local
    (call last)."""
    folium.LayerControl(collapsed=True).add_to(m)
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


def _label(v: float, kind: str) -> str:
    if kind == "date":
        return date.fromordinal(int(v)).strftime("%d/%m/%Y")
    if kind == "int" or abs(v) >= 10:
        return format_int(round(v))
    return f"{v:.1f}".replace(".", ",")


def colour_classes(values: Iterable[Any], n: int = len(PALETTE)
                   ) -> tuple[Callable[[Any], str], list[tuple[str, str]]]:
    """Quantile classes: returns ``colour(value)`` and a legend ``[(colour, label), …]``.

    Classes are contiguous: each starts right after the previous one ends (next whole
    number for counts, next day for dates, the same bound for ratios), so the legend covers
    every value between the smallest and the largest. Zero and missing values get a neutral
    grey, so "nothing seen" reads as such.
    """
    raw = list(values)
    is_date = any(isinstance(v, (date, datetime, pd.Timestamp)) for v in raw if v is not None)
    nums = sorted({x for x in (_numeric(v) for v in raw) if x is not None and (is_date or x > 0)})
    if not nums:
        return (lambda v: EMPTY_COLOUR), [(EMPTY_COLOUR, "aucune donnée")]
    kind = "date" if is_date else ("int" if all(x == int(x) for x in nums) else "ratio")
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

    legend = [(EMPTY_COLOUR, "aucune donnée" if is_date else "0 (aucune donnée)")]
    low = nums[0]
    for up, c in zip(uppers, colours):
        legend.append((c, _label(low, kind) if low == up else f"{_label(low, kind)} – {_label(up, kind)}"))
        low = up if kind == "ratio" else up + 1
    return colour, legend


class Legend(MacroElement):
    """The map's one legend, drawn inside the map (bottom right): the thematic layer's
    classes, then one line per outline layer drawn (Natura 2000…)."""

    _template = Template("""{% macro html(this, kwargs) %}{% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
          var c = L.control({position: 'bottomright'});
          c.onAdd = function () {
            var d = L.DomUtil.create('div', 'biodiv-legend');
            d.innerHTML = {{ this.content|tojson }};
            L.DomEvent.disableClickPropagation(d);
            return d;
          };
          c.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}""")

    STYLE = ("background:rgba(255,255,255,.92);padding:6px 8px;border-radius:4px;"
             "box-shadow:0 0 4px rgba(0,0,0,.3);font:{size}px/1.35 sans-serif;color:#222;white-space:nowrap")

    def __init__(self, title: str, classes: list[tuple[str, str]],
                 outlines: list[tuple[str, str]] = (), font_px: int = 12) -> None:
        super().__init__()
        self._name = "Legend"
        rows = [f"<b>{html.escape(title)}</b>"]
        rows += [f'<div><span style="display:inline-block;width:1em;height:1em;background:{c};'
                 f'border:1px solid #888;vertical-align:-2px;margin-right:4px"></span>{html.escape(t)}</div>'
                 for c, t in classes]
        rows += [f'<div><span style="display:inline-block;width:1em;height:1em;border:2px dashed {c};'
                 f'vertical-align:-2px;margin-right:4px;background:{c}22{";border-radius:50%;border-style:solid" if t.startswith("Observation") else ""}">'
                 f'</span>{html.escape(t)}</div>'
                 for c, t in outlines]
        self.content = f'<div style="{self.STYLE.format(size=font_px)}">' + "".join(rows) + "</div>"


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------

def _fmt_value(v: Any, measure: str) -> str:
    x = _numeric(v)
    if x is None:
        return "—"
    if measure == "last_observed":
        return pd.Timestamp(v).strftime("%d/%m/%Y")
    if measure in ("per_km2", "effort"):
        return f"{x:.1f}".replace(".", ",")
    return format_int(x)


def add_base(m: folium.Map, features: dict[str, Any], name: str = "Fond : communes du territoire") -> None:
    """The offline base: the territory's communes in paper colour with grey borders, below
    any thematic layer (not in the layer control: it is the map's ground)."""
    if not features["features"]:
        return
    folium.GeoJson(
        features, name=name,
        style_function=lambda f: {"fillColor": TERRITORY_FILL, "color": "#8a8a8a", "weight": 1,
                                  "fillOpacity": 1},
        interactive=False, overlay=True, control=False, show=True,
    ).add_to(m)


class _Names(folium.map.Layer):
    """Commune names as one layer: the points and names as one JSON array, each drawn by
    the browser as a text marker (``L.divIcon``: no image, offline-safe).

    Why not a ``folium.Marker`` with a ``DivIcon`` per commune: each is two folium objects
    rendered by Jinja at every page run (28 communes: a third of the map's render time) and
    ~600 bytes of script each."""

    _template = Template("""{% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.layerGroup();
        var {{ this.get_name() }}_divs = [];
        {{ this.points|tojson }}.forEach(function (p) {
          var d = document.createElement('div');
          d.className = 'biodiv-name';
          d.setAttribute('style', {{ this.style|tojson }});
          d.textContent = p[2];
          {{ this.get_name() }}_divs.push(d);
          L.marker([p[0], p[1]], {interactive: false, keyboard: false,
                   icon: L.divIcon({html: d, className: '', iconSize: [0, 0], iconAnchor: [0, 0]})})
            .addTo({{ this.get_name() }});
        });
        // names that would overlap one already shown are hidden (the largest communes are
        // first in the list), again at every zoom: no name ever covers another
        function {{ this.get_name() }}_declutter() {
          var kept = [];
          {{ this.get_name() }}_divs.forEach(function (d) {
            d.style.visibility = 'visible';
            var r = d.getBoundingClientRect();
            if (!r.width) return;
            var hit = kept.some(function (k) {
              return r.left < k.right && k.left < r.right && r.top < k.bottom && k.top < r.bottom; });
            if (hit) { d.style.visibility = 'hidden'; } else { kept.push(r); }
          });
        }
        {{ this._parent.get_name() }}.on('zoomend moveend resize layeradd', function () {
          requestAnimationFrame({{ this.get_name() }}_declutter); });
        [50, 300, 1000].forEach(function (ms) { setTimeout({{ this.get_name() }}_declutter, ms); });
    {% endmacro %}""")

    def __init__(self, points: list[list[Any]], style: str, name: str) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "Names"
        self.points = points
        self.style = style


def add_names(m: folium.Map, features: dict[str, Any], font_px: int = 11,
              name: str = "Noms des communes") -> None:
    """Commune names at a point inside each commune (``label_lon``/``label_lat``), as text
    markers, toggleable; a name that would overlap a larger commune's is hidden (the full
    list is on the sheets)."""
    style = (f"display:inline-block;font:600 {font_px}px/1.1 sans-serif;color:#333;text-align:center;white-space:nowrap;"
             "text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 2px #fff;transform:translate(-50%,-50%);"
             "pointer-events:none")
    from shapely.geometry import shape

    placed = [(shape(f["geometry"]).area, f["properties"]) for f in features["features"]
              if f["properties"].get("label_lon") is not None and f["properties"].get("label_lat") is not None]
    # largest first: where two names would overlap, the browser keeps the larger commune's
    points = [[round(p["label_lat"], 5), round(p["label_lon"], 5), p["name"] or ""]
              for _, p in sorted(placed, key=lambda t: -t[0])]
    _Names(points, style, name).add_to(m)


def add_choropleth(m: folium.Map, features: dict[str, Any], measures: pd.DataFrame, measure: str,
                   name: str = "Communes", kind: str = "commune") -> list[tuple[str, str]]:
    """Area outlines coloured by ``measure`` (a column of ``measures``, keyed by area_id).

    Returns the legend. Each feature carries its name, value, code and ``kind`` (what a
    click on it opens: see ``ui.show_map``).
    """
    by_id = measures.set_index("area_id")[measure].to_dict() if len(measures) else {}
    colour, legend = colour_classes(by_id.values())
    if not features["features"]:
        return legend          # folium's tooltip refuses an empty layer
    label = MEASURES_FR.get(measure, measure)
    feats = []
    for feat in features["features"]:
        v = by_id.get(feat["properties"]["area_id"])
        props = {"area_id": feat["properties"]["area_id"], "code": feat["properties"]["code"],
                 "name": feat["properties"]["name"], "kind": kind,
                 "value": _fmt_value(v, measure), "fill": colour(v)}
        feats.append({"type": "Feature", "properties": props, "geometry": feat["geometry"]})
    folium.GeoJson(
        {"type": "FeatureCollection", "features": feats},
        name=name,
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": "#555555",
                                  "weight": 1, "fillOpacity": 0.8},
        highlight_function=lambda f: {"weight": 3},
        tooltip=folium.GeoJsonTooltip(fields=["name", "value"], aliases=["", label], localize=False),
        overlay=True, control=True, show=True,
    ).add_to(m)
    return legend


def add_outlines(m: folium.Map, features: dict[str, Any], name: str, colour: str,
                 show: bool = True, kind: str | None = "site") -> bool:
    """Outlines (Natura 2000 sites, an area's border), toggleable in the layer control.

    A feature with ``kind`` opens its sheet when clicked (see ``ui.show_map``). Returns
    whether anything was drawn (for the legend)."""
    if not features["features"]:
        return False
    feats = [{"type": "Feature", "geometry": f["geometry"],
              "properties": {"area_id": f["properties"]["area_id"], "code": f["properties"]["code"],
                             "name": f["properties"]["name"], **({"kind": kind} if kind else {})}}
             for f in features["features"]]
    folium.GeoJson(
        {"type": "FeatureCollection", "features": feats}, name=name,
        style_function=lambda f, c=colour: {"color": c, "weight": 2, "fillColor": c,
                                            "fillOpacity": 0.12, "dashArray": "5 4"},
        tooltip=folium.GeoJsonTooltip(fields=["code", "name"], aliases=["", ""], localize=False),
        interactive=kind is not None, overlay=True, control=True, show=show,
    ).add_to(m)
    return True


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
    """Observations as one GeoJSON layer of CircleMarkers with popups (small sets only);
    nothing when there is no point (folium's popup refuses an empty layer)."""
    if points.empty:
        return
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


def add_grid(m: folium.Map, grid: pd.DataFrame, size_m: int, measure: str = "observations",
             name: str | None = None) -> list[tuple[str, str]]:
    """Cells of the national Lambert-93 grid (rows of ``data.grid_counts``) coloured by
    ``measure``, as one GeoJSON layer; each cell carries its official code (a click lists
    its species: see the Carte page)."""
    from biodiv.dashboard.grid import cell_ring

    colour, legend = colour_classes(grid[measure] if len(grid) else [])
    if grid.empty:
        return legend          # folium's tooltip refuses an empty layer
    label = MEASURES_FR.get(measure, measure)
    feats = []
    for r in grid.to_dict("records"):
        v = r[measure]
        feats.append({"type": "Feature",
                      "properties": {"code": r["code"], "kind": "cell", "value": _fmt_value(v, measure),
                                     "n": format_int(r["observations"]), "fill": colour(v)},
                      "geometry": {"type": "Polygon", "coordinates": [cell_ring(size_m, r["ix"], r["iy"])]}})
    folium.GeoJson(
        {"type": "FeatureCollection", "features": feats},
        name=name or f"Mailles {size_m // 1000} km",
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": "#444444",
                                  "weight": 0.6, "fillOpacity": 0.8},
        highlight_function=lambda f: {"weight": 2.5},
        tooltip=folium.GeoJsonTooltip(fields=["code", "value"], aliases=["Maille", label], localize=False),
        overlay=True, control=True, show=True,
    ).add_to(m)
    return legend


def map_size(m: folium.Map) -> int:
    """Bytes of the rendered map HTML (what the browser receives for it)."""
    return len(m.get_root().render().encode("utf-8"))
