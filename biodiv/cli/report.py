"""``biodiv report``: print-ready documents and images, a thin mirror of :mod:`biodiv.report`."""

from __future__ import annotations

import time
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from biodiv.cli.analysis import Quality   # the same quality choices as `biodiv export`

report_app = typer.Typer(
    help="Print and share: A4 sheets (PDF), the atlas booklet, maps and key figures as images. "
         "Public unless --private.",
    no_args_is_help=True,
)


class Format(str, Enum):
    pdf = "pdf"
    html = "html"
    png = "png"
    svg = "svg"


class ImageFormat(str, Enum):
    png = "png"
    svg = "svg"


def _date(value: Optional[str], option: str) -> Optional[date]:
    from biodiv.report.sheets import ReportError

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ReportError(f"{option} expects a date YYYY-MM-DD, got {value!r}") from None


def _options(ctx, since, until, group, quality, private):
    from biodiv.analysis.queries import QUALITY_GRADES
    from biodiv.cli.context import get_config
    from biodiv.report.sheets import Options

    return Options(since=_date(since, "--since"), until=_date(until, "--until"),
                   groups=(group,) if group else (), quality=QUALITY_GRADES[quality.value], public=not private,
                   sensitivity_default=get_config(ctx).sensitivity.default_level)


def _write(ctx: typer.Context, out: Optional[Path], default: str, body: bytes | str, started: float, what: str) -> None:
    from biodiv.cli.context import console, protect_output, size_text
    from biodiv.files import write_atomic

    path = out if out is not None else Path.cwd() / default
    protect_output(ctx, path)        # checked again here for the default name
    data = body.encode("utf-8") if isinstance(body, str) else body
    write_atomic(path, data, what)
    console.print(f"{what}: {path} ({size_text(len(data))}, {time.monotonic() - started:.1f} s)", highlight=False)


def _document(ctx, kind, code, fmt, out, since, until, group, quality, private, size="1080x1080") -> None:
    from biodiv.cli.context import get_config, protect_output
    from biodiv.report import render

    protect_output(ctx, out)         # never the store, its working copy or the configuration: before any read
    started = time.monotonic()
    opts = _options(ctx, since, until, group, quality, private)
    with get_config(ctx).store().read() as con:
        if fmt in (Format.pdf, Format.html):
            html, _title = render.sheet_html(con, kind, code, opts)
            body = render.to_pdf(html) if fmt is Format.pdf else html
        else:
            from biodiv.report.sheets import build

            sheet = build(con, kind, code, opts)
            w, h = render.parse_size(size)
            svg = render.commune_map(con, sheet, w, h, title=sheet.title, font_px=max(11.0, min(w, h) / 45))
            body = render.svg_to_png(svg) if fmt is Format.png else svg
    name = f"fiche-{kind}" + (f"-{code}" if code else "") + f".{fmt.value}"
    _write(ctx, out, name.replace(" ", "_").replace("/", "_"), body, started,
           "document" if fmt in (Format.pdf, Format.html) else "map")


FMT = typer.Option(Format.pdf, "--format", "-f", help="pdf (A4, print-ready), html, or the sheet's map as png/svg.")
OUT = typer.Option(None, "--out", "-o", help="Output file (default: fiche-KIND-CODE.FORMAT in the current folder).")
SINCE = typer.Option(None, "--since", help="Observed on or after this date (YYYY-MM-DD).")
UNTIL = typer.Option(None, "--until", help="Observed on or before this date (YYYY-MM-DD).")
GROUP = typer.Option(None, "--group", help="Iconic group only: Aves, Plantae, Insecta, Reptilia...")
QUALITY = typer.Option(Quality.verifiable, "--quality", help="Quality grades kept (verifiable = research + needs_id, the default everywhere; any = every grade).")
PRIVATE = typer.Option(False, "--private", help="An internal document (default: public, with public mode and sensitivity levels applied).")
SIZE = typer.Option("1080x1080", "--size", help="Image size WIDTHxHEIGHT in pixels: 1080x1080 for a post, 1920x1080 for a slide.")


@report_app.command("commune")
def commune(ctx: typer.Context, code: str = typer.Argument(..., help="INSEE code of a commune of the territory."),
            fmt: Format = FMT, out: Optional[Path] = OUT, since: Optional[str] = SINCE, until: Optional[str] = UNTIL,
            group: Optional[str] = GROUP, quality: Quality = QUALITY, private: bool = PRIVATE,
            size: str = SIZE) -> None:
    """The sheet of one commune."""
    _document(ctx, "commune", code, fmt, out, since, until, group, quality, private, size)


@report_app.command("site")
def site(ctx: typer.Context, code: str = typer.Argument(..., help="Natura 2000 site code (FR9101388...)."),
         fmt: Format = FMT, out: Optional[Path] = OUT, since: Optional[str] = SINCE, until: Optional[str] = UNTIL,
         group: Optional[str] = GROUP, quality: Quality = QUALITY, private: bool = PRIVATE,
         size: str = SIZE) -> None:
    """The sheet of one Natura 2000 site."""
    _document(ctx, "site", code, fmt, out, since, until, group, quality, private, size)


@report_app.command("species")
def species(ctx: typer.Context, taxon: str = typer.Argument(..., help="Scientific name, French name or iNaturalist taxon id."),
            fmt: Format = FMT, out: Optional[Path] = OUT, since: Optional[str] = SINCE, until: Optional[str] = UNTIL,
            group: Optional[str] = GROUP, quality: Quality = QUALITY, private: bool = PRIVATE,
            size: str = SIZE) -> None:
    """The sheet of one species in the territory."""
    _document(ctx, "species", taxon, fmt, out, since, until, group, quality, private, size)


@report_app.command("territory")
def territory(ctx: typer.Context, fmt: Format = FMT, out: Optional[Path] = OUT, since: Optional[str] = SINCE,
              until: Optional[str] = UNTIL, group: Optional[str] = GROUP, quality: Quality = QUALITY,
              private: bool = PRIVATE, size: str = SIZE) -> None:
    """The sheet of the whole territory."""
    _document(ctx, "territory", None, fmt, out, since, until, group, quality, private, size)


@report_app.command("atlas")
def atlas(ctx: typer.Context,
          fmt: Format = typer.Option(Format.pdf, "--format", "-f", help="pdf (A4 booklet) or html."),
          out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (default: atlas.FORMAT in the current folder)."),
          since: Optional[str] = SINCE, until: Optional[str] = UNTIL, group: Optional[str] = GROUP,
          quality: Quality = QUALITY, private: bool = PRIVATE) -> None:
    """The territory's booklet: cover, contents, territory sheet, a sheet per commune and Natura 2000 site, methods."""
    from biodiv.cli.context import get_config
    from biodiv.report import render
    from biodiv.report.sheets import ReportError

    if fmt not in (Format.pdf, Format.html):
        raise ReportError("the atlas is a document: --format pdf or html")
    from biodiv.cli.context import protect_output

    protect_output(ctx, out)
    started = time.monotonic()
    with get_config(ctx).store().read() as con:
        html, _title, _n = render.atlas_html(con, _options(ctx, since, until, group, quality, private))
    body = render.to_pdf(html) if fmt is Format.pdf else html
    _write(ctx, out, f"atlas.{fmt.value}", body, started, "atlas")


def _image(ctx, draw: str, stem: str, what: str, size, fmt, out, since, until, group, quality, private) -> None:
    """An image of the territory (``draw``: ``territory_map_svg`` or ``card_svg`` of
    :mod:`biodiv.report.render`) at ``size``, as PNG or SVG."""
    from biodiv.cli.context import get_config, protect_output
    from biodiv.report import render

    protect_output(ctx, out)
    started = time.monotonic()
    w, h = render.parse_size(size)
    with get_config(ctx).store().read() as con:
        svg = getattr(render, draw)(con, (w, h), _options(ctx, since, until, group, quality, private))
    body = render.svg_to_png(svg) if fmt is ImageFormat.png else svg
    _write(ctx, out, f"{stem}-{w}x{h}.{fmt.value}", body, started, what)


IMAGE_FMT = typer.Option(ImageFormat.png, "--format", "-f", help="png or svg.")


@report_app.command("map")
def map_image(ctx: typer.Context, size: str = SIZE, fmt: ImageFormat = IMAGE_FMT,
              out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (default: carte-WxH.FORMAT in the current folder)."),
              since: Optional[str] = SINCE, until: Optional[str] = UNTIL, group: Optional[str] = GROUP,
              quality: Quality = QUALITY, private: bool = PRIVATE) -> None:
    """The territory's map as an image, for a slide or a social network post."""
    _image(ctx, "territory_map_svg", "carte", "map", size, fmt, out, since, until, group, quality, private)


@report_app.command("card")
def card(ctx: typer.Context, size: str = SIZE, fmt: ImageFormat = IMAGE_FMT,
         out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (default: chiffres-WxH.FORMAT in the current folder)."),
         since: Optional[str] = SINCE, until: Optional[str] = UNTIL, group: Optional[str] = GROUP,
         quality: Quality = QUALITY, private: bool = PRIVATE) -> None:
    """The territory's key figures as an image card."""
    _image(ctx, "card_svg", "chiffres", "card", size, fmt, out, since, until, group, quality, private)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
