"""Documents from sheets: HTML (Jinja2 templates), PDF (WeasyPrint, HTML/CSS paged media),
charts as SVG (the dashboard's Altair charts, rendered offline by vl-convert), maps as SVG
(:mod:`biodiv.report.svgmap`), PNG from SVG (vl-convert's resvg). No browser, no network.

Why these libraries (docs/architecture.md, "Documents"): WeasyPrint lays out A4 pages from
HTML and CSS (running footers, page counters, a table of contents with page numbers,
tables whose header repeats on each page and whose rows never split) and embeds the fonts
it uses; vl-convert renders the very Vega-Lite specifications the dashboard shows, in a
bundled JavaScript engine (no Chromium). The font is Source Sans Pro (SIL Open Font
Licence, French glyphs), shipped by the PyPI package ``font-source-sans-pro``.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment, PackageLoader, select_autoescape

from biodiv.attach.crs import territory_crs
from biodiv.dashboard import charts, data
from biodiv.dashboard.labels import format_date, format_int, plural
from biodiv.dashboard.maps import colour_classes
from biodiv.report import svgmap
from biodiv.report.sheets import Options, ReportError, Sheet, build, sheet_codes
from biodiv.sensitivity import public as sensitive

FORMATS = ("pdf", "html", "svg", "png")
ATTRIBUTION = "Contours : IGN Admin Express, Etalab · Données : contributeurs iNaturalist"
SOURCES = (
    "Observations : contributeurs et contributrices d'iNaturalist (www.inaturalist.org), chacune sous la "
    "licence choisie par son auteur ({licences}). Contours des communes : IGN Admin Express (Licence "
    "Ouverte Etalab). Sites Natura 2000 et statuts de protection : INPN (MNHN, OFB). Référentiel "
    "taxonomique : TAXREF (MNHN) lorsqu'il est importé. Données à jour au {updated} ; "
    "qualité retenue : {quality}. Document produit par biodiv le {today}."
)
NOTICE_PUBLIC = (
    "Document public : les identifiants des observateurs ne sont pas diffusés et les cartes agrègent "
    "les observations par commune, jamais par point. Les observations d'espèces sensibles suivent les "
    "niveaux de sensibilité du SINP (floutage à la commune, à la maille de 10 km ou au département, "
    "ou non-diffusion). Des données citoyennes reflètent l'effort de prospection autant que la "
    "biodiversité : une commune peu observée n'est pas une commune pauvre."
)
NOTICE_PRIVATE = (
    "Document interne (non public) : il peut contenir des informations à ne pas diffuser. "
    "Des données citoyennes reflètent l'effort de prospection autant que la biodiversité."
)


class _Fonts:
    """``file://`` URLs of the shipped font (for WeasyPrint) and its folder (for vl-convert)."""

    def __init__(self) -> None:
        import font_source_sans_pro

        self.dir = Path(font_source_sans_pro.font_directory)
        self.regular = (self.dir / "SourceSansPro-Regular.ttf").as_uri()
        self.bold = (self.dir / "SourceSansPro-Bold.ttf").as_uri()
        self.italic = (self.dir / "SourceSansPro-It.ttf").as_uri()


@lru_cache(maxsize=1)
def fonts() -> _Fonts:
    import vl_convert

    f = _Fonts()
    vl_convert.register_font_directory(str(f.dir))
    return f


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=PackageLoader("biodiv.report", "templates"),
                       autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def chart_svg(chart) -> str:
    """An Altair chart as SVG text, offline, in the document's font."""
    import vl_convert

    fonts()
    spec = chart.to_dict()
    spec.setdefault("config", {})["font"] = "Source Sans Pro"
    svg = vl_convert.vegalite_to_svg(spec)
    return svg[svg.find("<svg"):]


def commune_map(con: duckdb.DuckDBPyConnection, sheet: Sheet, width: int = 680, height: int = 430,
                title: str = "", font_px: float = 11.0) -> str:
    """The territory's communes coloured by the sheet's observations (the dashboard's
    classes and colours), the sheet's area drawn on top and framed."""
    features = data.area_features(con, "commune")["features"]
    values = dict(zip(sheet.map_measures["area_id"], sheet.map_measures["observations"]))
    colour, legend = colour_classes(values.values())
    layers = [svgmap.Layer(features, svgmap.by_property(values, colour), labels=len(features) <= 60)]
    focus: list[dict] = []
    if sheet.area_id is not None:
        info = data.area_info(con, sheet.area_id)
        own = data.area_features(con, info["type"], area_id=sheet.area_id)["features"]
        layers.append(svgmap.Layer(own, lambda f: "none", stroke="#b71c1c", width=2.2))
        focus = own
    spec = svgmap.MapSpec(width, height, territory_crs(con), title=title, legend=legend,
                          legend_title="Observations par commune", attribution=ATTRIBUTION, font_px=font_px)
    return svgmap.render(spec, layers, focus=focus)


def _sheet_context(con: duckdb.DuckDBPyConnection, sheet: Sheet) -> dict[str, Any]:
    fig = sheet.figures
    share = None
    total = sheet.territory_figures.get("observations") or 0
    if sheet.kind != "territory" and total:
        share = f"{100 * (fig.get('observations') or 0) / total:.1f} %".replace(".", ",")
    species = [
        {"group": r.group if isinstance(r.group, str) else "", "fr": r.common_name_fr or "", "sci": r.sci_name or "",
         "status": r.status or "", "n": format_int(r.observations),
         "last": "" if r.last_year is None or (isinstance(r.last_year, float) and math.isnan(r.last_year))
         else int(r.last_year)}
        for r in sheet.species.itertuples()
    ]
    phen = charts.phenology_chart(sheet.phenology, font_px=11, height=170) if len(sheet.phenology) else None
    trend = charts.trend_chart(sheet.per_year, font_px=11, height=60) if len(sheet.per_year) else None
    effort = sheet.effort
    effort_text = (
        f"{plural(effort['obs_days'], 'journée-observateur', 'journées-observateur')} "
        f"et {plural(effort['observers'], 'observateur', 'observateurs')} avec ces filtres"
        + (f", pour {format_int(sheet.area_km2)} km²" if sheet.area_km2 else "")
        + ". Peu d'observations signifie d'abord peu de prospection."
    )
    licences = ", ".join(f"{name} : {format_int(n)}" for name, n in sheet.licences) or "aucune observation"
    updated = sheet.info.get("last_update")
    sources = SOURCES.format(licences=licences, updated=format_date(updated) if updated else "date inconnue",
                             quality=sheet.quality_label, today=datetime.now().strftime("%d/%m/%Y"))
    return {
        "anchor": f"{sheet.kind}-{sheet.code or 'territoire'}", "kind": sheet.kind, "title": sheet.title,
        "subtitle": sheet.subtitle, "period": sheet.period_label, "quality": sheet.quality_label,
        "demo": sheet.info.get("demo"),
        "fig": {"observations": format_int(fig.get("observations") or 0), "species": format_int(fig.get("species") or 0),
                "observers": format_int(fig.get("observers") or 0), "share": share},
        "map_svg": commune_map(con, sheet),
        "phenology_svg": chart_svg(phen) if phen is not None else "",
        "trend_svg": chart_svg(trend) if trend is not None else "",
        "species": species, "communes": sheet.communes, "effort": effort_text, "sources": sources,
        "notice": (NOTICE_PUBLIC + (" " + (sensitive.notice_fr(sheet.sensitivity) or "") if sheet.sensitivity else ""))
        if sheet.options.public else NOTICE_PRIVATE,
    }


def _document(title: str, sheets: list[dict], *, author: str, cover: dict | None = None,
              contents: list[dict] | None = None, extra: list[dict] | None = None) -> str:
    env = _env()
    css = env.get_template("report.css").render(fonts=fonts(), footer=f"{author} · {title}".replace('"', "'"))
    return env.get_template("document.html").render(
        title=title, author=author, description=f"{title} ({author})", css=css, sheets=sheets,
        cover=cover, contents=contents or [], extra=extra or [])


def sheet_html(con: duckdb.DuckDBPyConnection, kind: str, code: str | None = None,
               options: Options = Options()) -> tuple[str, str]:
    """One sheet as a whole HTML document; returns (html, title)."""
    sheet = build(con, kind, code, options)
    ctx = _sheet_context(con, sheet)
    title = f"{sheet.title} — {sheet.subtitle.split(' · ')[0]}"
    return _document(title, [ctx], author=sheet.info.get("territory") or "biodiv"), title


METHODS = """
<p>Les observations viennent d'<b>iNaturalist</b>, plateforme de sciences participatives : chacun y
dépose photos et sons, identifiés par la communauté. Une observation est de « qualité recherche » quand
au moins deux tiers des identifications s'accordent sur l'espèce. Elles sont rattachées aux communes et
aux sites Natura 2000 par leurs coordonnées et leur précision.</p>
<p><b>Limites.</b> Ce sont des données d'opportunité : elles reflètent où et quand les naturalistes
observent (villages, sentiers, week-ends) autant que la répartition des espèces. L'absence
d'observation n'est pas une absence d'espèce. iNaturalist floute certaines observations (espèces
menacées, choix de l'observateur) dans une maille d'environ 20 km : elles ne sont rattachées qu'aux
zones qui contiennent toute leur maille.</p>
<p><b>Données sensibles.</b> Les documents publics suivent les niveaux de sensibilité du SINP :
0 précis, 1 commune, 2 maille de 10 km, 3 département, 4 non diffusé.</p>
"""


def atlas_html(con: duckdb.DuckDBPyConnection, options: Options = Options()) -> tuple[str, str, int]:
    """The territory's booklet: cover, contents, the territory sheet, one sheet per commune
    and per Natura 2000 site, methods and limits, credits. Returns (html, title, sheets)."""
    territory = build(con, "territory", None, options)
    ctxs = [_sheet_context(con, territory)]
    codes = sheet_codes(con)
    for kind in ("commune", "site"):
        for code, _name in codes[kind]:
            ctxs.append(_sheet_context(con, build(con, kind, code, options, territory.sensitivity)))
    name = territory.info.get("territory") or "le territoire"
    title = f"Atlas de la biodiversité — {name}"
    cover = {"title": title, "subtitle": f"Observations naturalistes {territory.period_label} · "
                                         f"{territory.quality_label}",
             "demo": territory.info.get("demo"), "map_svg": commune_map(con, territory, 680, 560)}
    extra = [{"anchor": "methodes", "title": "Méthodes et limites", "html": METHODS}]
    contents = [{"anchor": c["anchor"], "title": c["title"] if c["kind"] == "territory" else
                 f"{c['title']} ({'commune' if c['kind'] == 'commune' else 'site'})"} for c in ctxs]
    contents.append({"anchor": "methodes", "title": "Méthodes et limites"})
    return _document(title, ctxs, author=name, cover=cover, contents=contents, extra=extra), title, len(ctxs)


def to_pdf(html: str) -> bytes:
    """A4 PDF of ``html``, fonts embedded, tagged (structure for screen readers)."""
    from weasyprint import HTML

    fonts()
    return HTML(string=html, base_url=str(fonts().dir)).write_pdf(pdf_tags=True)


def svg_to_png(svg: str) -> bytes:
    import vl_convert

    fonts()
    return vl_convert.svg_to_png(svg, scale=1.0)


def parse_size(text: str) -> tuple[int, int]:
    """``1080x1080`` → (1080, 1080), within 200–4000 px a side."""
    try:
        w, h = (int(x) for x in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise ReportError(f"--size must look like 1080x1080 (width x height in pixels), got {text!r}") from None
    if not (200 <= w <= 4000 and 200 <= h <= 4000):
        raise ReportError(f"--size {text}: each side between 200 and 4000 pixels")
    return w, h


def territory_map_svg(con: duckdb.DuckDBPyConnection, size: tuple[int, int], options: Options = Options()) -> str:
    """The territory's map alone at ``size`` (a slide, a post), title included."""
    sheet = build(con, "territory", None, options)
    w, h = size
    font = max(11.0, min(w, h) / 45)
    title = f"Observations naturalistes — {sheet.title}"
    if sheet.info.get("demo"):
        title = f"Données fictives — {sheet.title}"
    return commune_map(con, sheet, w, h, title=title, font_px=font)


def card_svg(con: duckdb.DuckDBPyConnection, size: tuple[int, int], options: Options = Options()) -> str:
    """A key-figures card (observations, species, observers, period) at ``size``."""
    from html import escape

    sheet = build(con, "territory", None, options)
    w, h = size
    u = min(w, h) / 20
    fig = sheet.figures
    items = [(format_int(fig.get("observations") or 0), "observations"), (format_int(fig.get("species") or 0), "espèces"),
             (format_int(fig.get("observers") or 0), "observateurs")]
    def fit(text: str, size: float, room: float) -> float:   # ≈ 0.55 em per character
        return min(size, room / (0.55 * max(len(text), 1)))

    subtitle = f"Atlas de la biodiversité · observations {sheet.period_label}"
    t_size, s_size = fit(sheet.title, 1.5 * u, w - 2 * u), fit(subtitle, 0.85 * u, w - 2 * u)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
             f'font-family="Source Sans Pro, sans-serif" role="img">',
             f'<title>{escape(sheet.title)} : chiffres clés</title>',
             f'<rect width="{w}" height="{h}" fill="#f3f8f1"/>',
             f'<text x="{u}" y="{1.5 * u + t_size:.0f}" font-size="{t_size:.0f}" font-weight="700" fill="#1b5e20">'
             f'{escape(sheet.title)}</text>',
             f'<text x="{u}" y="{2.4 * u + t_size + s_size:.0f}" font-size="{s_size:.0f}" fill="#333">'
             f'{escape(subtitle)}</text>']
    top = 3.5 * u + t_size + s_size
    row = (h - top - 2.5 * u) / len(items)
    v_size = min(row * 0.7, 3.2 * u)
    for i, (value, label) in enumerate(items):
        y = top + row * i + v_size
        parts.append(f'<text x="{u:.0f}" y="{y:.0f}" font-size="{v_size:.0f}" font-weight="700" fill="#1b5e20">'
                     f'{value}<tspan font-size="{v_size * 0.42:.0f}" font-weight="400" fill="#333" dx="{0.4 * u:.0f}">'
                     f'{label}</tspan></text>')
    foot = "Données : contributeurs iNaturalist" + (" · DONNÉES FICTIVES" if sheet.info.get("demo") else "")
    parts.append(f'<text x="{u}" y="{h - u:.0f}" font-size="{0.7 * u:.0f}" fill="#555">{foot}</text></svg>')
    return "".join(parts)


__all__ = ["FORMATS", "Options", "ReportError", "atlas_html", "card_svg", "chart_svg", "parse_size",
           "sheet_html", "svg_to_png", "territory_map_svg", "to_pdf"]
