"""QGIS styles stored in a GeoPackage, so that its layers open styled.

Why in the file: a GIS officer who opens the export (or the stakes map) in QGIS should see
the dashboard's classes and colours at once, not grey defaults. QGIS reads a layer's default
style from the GeoPackage's ``layer_styles`` table (the convention QGIS itself writes, read
by QGIS 3.x); the style is QML. The QML here uses ``<prop k= v=/>`` symbol properties, which
every QGIS 3 reads (3.22 included: Debian 12, common in local authorities).

The colours are the dashboard's (``biodiv.dashboard.maps``: ColorBrewer YlGn, colour-blind
safe; Natura 2000 ZSC/ZPS outlines); ``tests/test_exports_polish.py`` checks they stay equal.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Sequence

PALETTE = ["#ffffcc", "#d9f0a3", "#addd8e", "#78c679", "#31a354", "#006837"]
EMPTY = "#f2f2f2"
POINT = "#1f78b4"
ZSC = "#7b3294"
ZPS = "#e66101"


def _rgb(hex_colour: str, alpha: int = 255) -> str:
    h = hex_colour.lstrip("#")
    return f"{int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha}"


def _fill(name: str, colour: str, outline: str = "#555555", width: float = 0.26, alpha: float = 1.0,
          style: str = "solid") -> str:
    return (f'<symbol type="fill" name="{name}" alpha="{alpha}" clip_to_extent="1" force_rhr="0">'
            f'<layer class="SimpleFill" enabled="1" locked="0" pass="0">'
            f'<prop k="color" v="{_rgb(colour)}"/><prop k="outline_color" v="{_rgb(outline)}"/>'
            f'<prop k="outline_width" v="{width}"/><prop k="outline_width_unit" v="MM"/>'
            f'<prop k="style" v="{style}"/><prop k="outline_style" v="solid"/></layer></symbol>')


def _doc(renderer: str) -> str:
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
            f'<qgis version="3.22.0" styleCategories="Symbology">{renderer}</qgis>')


def categorized(attr: str, classes: Sequence[tuple[str, str, str]], alpha: float = 0.75) -> str:
    """Polygons coloured by the value of ``attr``: ``classes`` = (value, label, #rrggbb)."""
    cats = "".join(f'<category symbol="{i}" value="{escape(v)}" label="{escape(lab)}" render="true"/>'
                   for i, (v, lab, _) in enumerate(classes))
    syms = "".join(_fill(str(i), col, outline="#5a5a5a", width=0.1, alpha=alpha) for i, (_, _, col) in enumerate(classes))
    return _doc(f'<renderer-v2 type="categorizedSymbol" attr="{attr}" symbollevels="0" enableorderby="0" '
                f'forceraster="0"><categories>{cats}</categories><symbols>{syms}</symbols></renderer-v2>')


def graduated(attr: str, breaks: Sequence[float], colours: Sequence[str] = PALETTE) -> str:
    """Polygons coloured by class of ``attr``: ``breaks`` are the upper bounds of the classes
    (0 gets the empty colour: "nothing seen" reads as such)."""
    ranges, syms, low = [], [_fill("0", EMPTY)], 0.0
    ranges.append('<range symbol="0" lower="0" upper="0" label="0 (aucune donnée)" render="true"/>')
    k = max(len(breaks), 1)
    for i, up in enumerate(breaks, 1):
        colour = colours[round((i - 1) * (len(colours) - 1) / max(k - 1, 1))]
        label = f"{low:g} – {up:g}" if low != up else f"{up:g}"
        ranges.append(f'<range symbol="{i}" lower="{low}" upper="{up}" label="{label}" render="true"/>')
        syms.append(_fill(str(i), colour))
        low = up + (1 if float(up).is_integer() else 0)
    return _doc(f'<renderer-v2 type="graduatedSymbol" attr="{attr}" graduatedMethod="GraduatedColor" '
                f'symbollevels="0" enableorderby="0" forceraster="0"><ranges>{"".join(ranges)}</ranges>'
                f'<symbols>{"".join(syms)}</symbols></renderer-v2>')


def outline(colour: str) -> str:
    """Polygons drawn as a coloured outline, no fill (Natura 2000 sites, the territory)."""
    return _doc('<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0"><symbols>'
                + _fill("0", colour, outline=colour, width=0.6, style="no") + "</symbols></renderer-v2>")


def points(colour: str = POINT) -> str:
    return _doc('<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0"><symbols>'
                '<symbol type="marker" name="0" alpha="0.85" clip_to_extent="1" force_rhr="0">'
                '<layer class="SimpleMarker" enabled="1" locked="0" pass="0">'
                f'<prop k="color" v="{_rgb(colour)}"/><prop k="outline_color" v="255,255,255,255"/>'
                '<prop k="outline_width" v="0.2"/><prop k="name" v="circle"/><prop k="size" v="2"/>'
                '</layer></symbol></symbols></renderer-v2>')


def quantile_breaks(values: Sequence[float], n: int = len(PALETTE)) -> list[float]:
    """Upper bounds of up to ``n`` classes over the distinct positive values (the dashboard's
    quantile classes)."""
    nums = sorted({float(v) for v in values if v is not None and v == v and v > 0})
    if not nums:
        return []
    k = min(n, len(nums))
    return [nums[min(len(nums) - 1, -(-(i + 1) * len(nums) // k) - 1)] for i in range(k)]


def add_styles(path: Path, styles: dict[str, tuple[str, str]], geometry_column: str = "geom") -> None:
    """Store each layer's default style: ``styles`` = {layer: (qml, description)}."""
    db = sqlite3.connect(path)
    try:
        db.executescript("""CREATE TABLE IF NOT EXISTS layer_styles (
            id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256),
            f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT,
            styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
            update_time DATETIME DEFAULT CURRENT_TIMESTAMP)""")
        now = datetime.now(timezone.utc).isoformat()
        for layer, (qml, description) in styles.items():
            column = db.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                                [layer]).fetchone()
            db.execute("DELETE FROM layer_styles WHERE f_table_name = ?", [layer])
            db.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                       "styleName, styleQML, styleSLD, useAsDefault, description, owner, update_time) "
                       "VALUES ('', '', ?, ?, ?, ?, '', 1, ?, 'biodiv', ?)",
                       [layer, column[0] if column else geometry_column, f"{layer} (biodiv)", qml, description, now])
        db.commit()
    finally:
        db.close()
