"""Maps as vector SVG for documents: areas coloured by a measure, with legend, scale bar,
north arrow and attributions (pure: takes GeoJSON-like dicts, returns SVG text).

Why our own few lines of SVG rather than a plotting library: a printed sheet needs the same
classes and colours as the dashboard (:func:`biodiv.dashboard.maps.colour_classes`), crisp
vector output in the PDF, no browser, and a few KB per map. The outlines are projected in
the territory's metric projection (Lambert-93 in metropolitan France, the legal UTM zone
overseas: :mod:`biodiv.attach.crs`), so a scale bar is true and shapes are not stretched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any, Callable, Iterable

from pyproj import Transformer

from biodiv.attach.crs import WGS84

NICE_STEPS = (1, 2, 5)


@dataclass
class Layer:
    """Polygons to draw: ``features`` (GeoJSON Features, WGS84) filled by ``fill(feature)``."""

    features: list[dict]
    fill: Callable[[dict], str] = lambda f: "none"
    stroke: str = "#555555"
    width: float = 0.6
    labels: bool = False


@dataclass
class MapSpec:
    width: int
    height: int
    metric_crs: str
    title: str = ""
    legend_title: str = ""
    legend: list[tuple[str, str]] = field(default_factory=list)
    attribution: str = ""
    font_px: float = 11.0
    label: str = ""          # what a screen reader says of the map (default: the title)


def _rings(geometry: dict) -> Iterable[list[list[float]]]:
    if geometry["type"] == "Polygon":
        yield from geometry["coordinates"]
    elif geometry["type"] == "MultiPolygon":
        for poly in geometry["coordinates"]:
            yield from poly


def _ring_area(ring: list[tuple[float, float]]) -> float:
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]))


def _nice(length: float) -> float:
    """The largest 1/2/5 × 10^k not above ``length``."""
    if length <= 0:
        return 0.0
    exp = 10 ** math.floor(math.log10(length))
    return max(s * exp for s in NICE_STEPS if s * exp <= length)


def render(spec: MapSpec, layers: list[Layer], focus: Iterable[dict] = ()) -> str:
    """The SVG of ``layers`` (first drawn first), framed on the ``focus`` features if any,
    else on everything; legend and scale at the bottom, north arrow at the top right."""
    to_metric = Transformer.from_crs(WGS84, spec.metric_crs, always_xy=True)
    projected: list[list[tuple[str, list[list[tuple[float, float]]], dict, Layer]]] = []
    xs: list[float] = []
    ys: list[float] = []
    focus_ids = {id(f) for f in focus}
    fx: list[float] = []
    fy: list[float] = []
    for layer in layers:
        out = []
        for feat in layer.features:
            rings = []
            for ring in _rings(feat["geometry"]):
                px, py = to_metric.transform([p[0] for p in ring], [p[1] for p in ring])
                rings.append(list(zip(px, py)))
                xs.extend(px)
                ys.extend(py)
                if id(feat) in focus_ids:
                    fx.extend(px)
                    fy.extend(py)
            out.append((layer.fill(feat), rings, feat, layer))
        projected.append(out)
    per_row = max(1, int((spec.width - 16) // (spec.font_px * 12)))
    legend_rows = math.ceil(len(spec.legend) / per_row) if spec.legend else 0
    legend_h = 0 if not spec.legend else int(spec.font_px * 1.6 * (legend_rows + 1) + 8)
    title_h = int(spec.font_px * 2) if spec.title else 0
    pad = 8
    frame_w, frame_h = spec.width - 2 * pad, spec.height - legend_h - title_h - 2 * pad
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{spec.width}" height="{spec.height}" '
             f'viewBox="0 0 {spec.width} {spec.height}" role="img" '
             f'aria-label="{escape(spec.label or spec.title or "Carte des observations par commune")}" '
             f'font-family="Source Sans Pro, sans-serif">']
    if spec.title:
        # as large as 1.3 × the text size, shrunk to fit the width (≈ 0.52 em per character)
        size = min(spec.font_px * 1.3, (spec.width - 2 * pad) / (0.52 * max(len(spec.title), 1)))
        parts.append(f'<title>{escape(spec.title)}</title>')
        parts.append(f'<text x="{pad}" y="{spec.font_px * 1.4:.1f}" font-size="{size:.1f}" '
                     f'font-weight="600" fill="#222">{escape(spec.title)}</text>')
    if not xs or frame_w <= 0 or frame_h <= 0:
        parts.append(f'<text x="{pad}" y="{title_h + 30}" font-size="{spec.font_px}" fill="#555">'
                     'Aucune zone à cartographier</text></svg>')
        return "".join(parts)
    bx, by = (fx, fy) if fx else (xs, ys)
    xmin, xmax, ymin, ymax = min(bx), max(bx), min(by), max(by)
    margin = 0.04 * max(xmax - xmin, ymax - ymin, 1.0)
    xmin, xmax, ymin, ymax = xmin - margin, xmax + margin, ymin - margin, ymax + margin
    scale = min(frame_w / (xmax - xmin), frame_h / (ymax - ymin))
    ox = pad + (frame_w - (xmax - xmin) * scale) / 2
    oy = title_h + pad + (frame_h - (ymax - ymin) * scale) / 2

    def pt(x: float, y: float) -> str:
        return f"{ox + (x - xmin) * scale:.1f},{oy + (ymax - y) * scale:.1f}"

    parts.append(f'<clipPath id="frame"><rect x="{pad}" y="{title_h + pad}" width="{frame_w}" '
                 f'height="{frame_h}"/></clipPath><g clip-path="url(#frame)">')
    labels = []
    for out in projected:
        for fill, rings, feat, layer in out:
            d = " ".join("M" + " L".join(pt(x, y) for x, y in ring) + " Z" for ring in rings if ring)
            name = escape(str(feat.get("properties", {}).get("name") or ""))
            parts.append(f'<path d="{d}" fill="{fill}" fill-rule="evenodd" stroke="{layer.stroke}" '
                         f'stroke-width="{layer.width}"><title>{name}</title></path>')
            lon, lat = feat.get("properties", {}).get("label_lon"), feat.get("properties", {}).get("label_lat")
            if layer.labels and name and lon is not None:
                lx, ly = to_metric.transform(lon, lat)
                area = sum(abs(_ring_area(r)) for r in rings)
                labels.append((area, pt(lx, ly), name))
    placed: list[tuple[float, float, float, float]] = []
    size = spec.font_px * 0.8
    for _, xy, name in sorted(labels, key=lambda t: -t[0]):   # larger areas first
        x, y = xy.split(",")
        half = 0.26 * size * len(name)
        box = (float(x) - half, float(y) - size, float(x) + half, float(y) + 0.3 * size)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            continue        # would overlap a name already drawn: the sheet's table lists every area
        placed.append(box)
        parts.append(f'<text x="{x}" y="{y}" font-size="{spec.font_px * 0.8:.1f}" text-anchor="middle" '
                     f'fill="#222" stroke="#fff" stroke-width="2.2" paint-order="stroke">{name}</text>')
    parts.append("</g>")
    # north arrow (top right of the frame)
    nx, ny = spec.width - pad - 14, title_h + pad + 6
    parts.append(f'<g aria-label="Nord"><path d="M{nx},{ny} l7,20 l-7,-5 l-7,5 Z" fill="#222"/>'
                 f'<text x="{nx}" y="{ny + 33}" font-size="{spec.font_px}" text-anchor="middle" fill="#222">N</text></g>')
    # scale bar (bottom left of the frame): a round length of at most a quarter of the width
    bottom = title_h + pad + frame_h
    metres = _nice((frame_w / 4) / scale)
    if metres > 0:
        bar = metres * scale
        text = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
        parts.append(f'<g><rect x="{pad + 4}" y="{bottom - 12}" width="{bar:.1f}" height="4" fill="#222"/>'
                     f'<text x="{pad + 4}" y="{bottom - 16}" font-size="{spec.font_px * 0.9:.1f}" fill="#222">'
                     f'{text.replace(".", ",")}</text></g>')
    # legend below the map, then the attribution
    y = bottom + pad + spec.font_px
    if spec.legend:
        parts.append(f'<text x="{pad}" y="{y:.1f}" font-size="{spec.font_px}" font-weight="600" fill="#222">'
                     f'{escape(spec.legend_title)}</text>')
        col_w = (spec.width - 2 * pad) / per_row
        for i, (colour, label) in enumerate(spec.legend):
            lx = pad + (i % per_row) * col_w
            ly = y + spec.font_px * 1.6 * (i // per_row + 1)
            parts.append(f'<rect x="{lx:.1f}" y="{ly - spec.font_px + 1:.1f}" width="{spec.font_px * 1.6:.1f}" '
                         f'height="{spec.font_px:.1f}" fill="{colour}" stroke="#555" stroke-width="0.5"/>'
                         f'<text x="{lx + spec.font_px * 2.2:.1f}" y="{ly:.1f}" font-size="{spec.font_px}" '
                         f'fill="#222">{escape(label)}</text>')
    if spec.attribution:
        parts.append(f'<text x="{spec.width - pad}" y="{spec.height - 4}" font-size="{spec.font_px * 0.75:.1f}" '
                     f'text-anchor="end" fill="#555">{escape(spec.attribution)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def by_property(values: dict[Any, Any], colour: Callable[[Any], str], key: str = "area_id"
                ) -> Callable[[dict], str]:
    """A fill function: the colour of ``values[feature.properties[key]]``."""
    return lambda f: colour(values.get(f.get("properties", {}).get(key)))
