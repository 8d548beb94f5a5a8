"""``biodiv publish``: the public atlas as static files, and the map of stakes for planning;
a thin mirror of :mod:`biodiv.publish`."""

from __future__ import annotations

import time
from pathlib import Path

import typer

publish_app = typer.Typer(
    help="Public outputs: the static public atlas (a folder of HTML pages) and the map of stakes (GeoPackage).",
    no_args_is_help=True,
)


@publish_app.command("site")
def site(ctx: typer.Context,
         out: Path = typer.Option(..., "--out", "-o", help="Folder of the site (created; rebuilt pages only where data changed)."),
         quality: str = typer.Option("verifiable", "--quality", help="Quality grades shown (verifiable = research + needs_id, the default everywhere; research; any).")) -> None:
    """Build or update the public atlas: home, species list, a page per commune, site and species, methods, search."""
    from biodiv.analysis.queries import QUALITY_GRADES
    from biodiv.cli.context import console, get_config, size_text
    from biodiv.publish.site import SiteError, build_site
    from biodiv.report.sheets import Options

    if quality not in QUALITY_GRADES:
        raise SiteError(f"--quality must be one of {', '.join(QUALITY_GRADES)}, got {quality!r}")
    started = time.monotonic()
    cfg = get_config(ctx)
    with cfg.store().read() as con:
        result = build_site(con, out, Options(quality=QUALITY_GRADES[quality], public=True,
                                              sensitivity_default=cfg.sensitivity.default_level))
    console.print(
        f"site {out}: {result.pages} pages ({size_text(result.bytes)} in all); "
        f"{len(result.written)} files written, {result.unchanged} unchanged, {len(result.removed)} removed "
        f"({time.monotonic() - started:.1f} s). Open {out / 'index.html'} or copy the folder to any web host.",
        highlight=False)


@publish_app.command("stakes")
def stakes(ctx: typer.Context,
           out: Path = typer.Option(..., "--out", "-o", help="GeoPackage to write (.gpkg).")) -> None:
    """The map of biodiversity stakes for planning (PLU/PLUi): per 1 km cell, species at stake, survey effort, class."""
    from biodiv.cli.context import console, get_config, protect_output
    from biodiv.publish.stakes import write_stakes

    protect_output(ctx, out)

    from biodiv.report.sheets import Options

    started = time.monotonic()
    cfg = get_config(ctx)
    with cfg.store().read() as con:
        summary = write_stakes(con, out, Options(sensitivity_default=cfg.sensitivity.default_level))
    console.print(f"stakes {out}: {summary['cells']} cells of {summary['size_km']} km "
                  f"({summary['with_stakes']} with species at stake), styled for QGIS "
                  f"({time.monotonic() - started:.1f} s)", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(publish_app, name="publish")
