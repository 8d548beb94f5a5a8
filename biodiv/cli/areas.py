"""``biodiv init`` and ``biodiv areas fetch|import|list``: thin wrappers over
:mod:`biodiv.areas.territory` and :mod:`biodiv.areas.reference` (no logic of their own)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from biodiv.config import DEFAULT_EPCI_SIREN, config_path

areas_app = typer.Typer(
    help="Reference areas: commune boundaries, Natura 2000 sites, any local zoning.",
    no_args_is_help=True,
)


def _console():
    from biodiv.cli.context import console, err_console

    return console, err_console


def _warn_missing(codes: list[str]) -> None:
    if codes:
        _, err = _console()
        shown = ", ".join(codes[:10]) + (", ..." if len(codes) > 10 else "")
        err.print(
            f"[yellow]warning:[/] {len(codes)} territory commune(s) have no boundary loaded: {shown} "
            "(check the INSEE codes, or import a layer that has them)",
            highlight=False, soft_wrap=True,
        )


def init(
    ctx: typer.Context,
    epci: Optional[str] = typer.Option(
        None, "--epci", help=f"EPCI SIREN number (default {DEFAULT_EPCI_SIREN}, CC Vallée de l'Hérault)."
    ),
    communes: Optional[str] = typer.Option(
        None, "--communes", help="Comma-separated INSEE commune codes, instead of an EPCI."
    ),
    name: Optional[str] = typer.Option(None, "--name", help="Territory name (default: the EPCI name)."),
    epci_file: Optional[Path] = typer.Option(
        None, "--epci-file", help="Offline: an @etalab/decoupage-administratif epci.json to read the EPCI from."
    ),
    communes_file: Optional[Path] = typer.Option(
        None, "--communes-file",
        help="Offline: an @etalab/decoupage-administratif communes.json to check the --communes codes against.",
    ),
) -> None:
    """Choose the territory: write the config file and create the database."""
    from biodiv import pipeline
    from biodiv.cli.context import get_config, new_config

    path = config_path(ctx.find_root().obj.get("config_path"))
    cfg = get_config(ctx) if path.exists() else new_config(ctx)  # init may create the file
    print_init(pipeline.init_territory(cfg, path, epci=epci, communes=communes, name=name,
                                       epci_file=epci_file, communes_file=communes_file))


def print_init(result, next_step: bool = True) -> None:
    """What ``biodiv init`` (or the first ``biodiv update``) did, and what to do next."""
    console, err = _console()
    what = f"EPCI {result.siren}" if result.siren else "communes"
    console.print(f"[green]territory[/] {result.name} ({what}, {len(result.codes)} communes)",
                  highlight=False, soft_wrap=True)
    console.print(f"config written to {result.config_file}; database {result.db}", highlight=False, soft_wrap=True)
    for note in result.notes:
        err.print(f"[yellow]warning:[/] {note}", highlight=False, soft_wrap=True)
    _warn_missing(result.missing_codes)
    if next_step and result.missing_types:
        console.print(
            f"next: [bold]biodiv areas fetch[/] (missing: {', '.join(result.missing_types)}; "
            "or [bold]biodiv areas import FILE --type TYPE[/])",
            highlight=False, soft_wrap=True,
        )


@areas_app.command("fetch")
def fetch(
    ctx: typer.Context,
    area_type: Optional[List[str]] = typer.Option(
        None, "--type", "-t", help="Only these types (commune, n2000_zsc, n2000_zps); default all three."
    ),
    refresh: bool = typer.Option(False, "--refresh", help="Download again even if cached."),
) -> None:
    """Download commune boundaries and Natura 2000 sites of the territory (cached)."""
    from biodiv.areas.reference import fetch_areas
    from biodiv.cli.context import get_config

    console, _ = _console()
    cfg = get_config(ctx)
    from biodiv.sensitivity.levels import refresh as refresh_sensitivity

    with cfg.store().write() as con:
        results = fetch_areas(cfg, con, types=area_type or None, refresh=refresh)
        refresh_sensitivity(con)   # communes and areas changed: where sensitive records may be shown
    for r in results:
        origin = "cache" if r.get("from_cache") else "downloaded"
        console.print(
            f"[green]{r['type']}[/]: {r['count']} areas ({r['in_territory']} in the territory), "
            f"{r['area_km2']:.1f} km², {origin}: {r['source']}",
            highlight=False, soft_wrap=True,
        )
        _warn_missing(r.get("missing_codes", []))


@areas_app.command("import")
def import_(
    ctx: typer.Context,
    paths: List[Path] = typer.Argument(
        ..., help="GeoJSON, Shapefile, GeoPackage, zipped Shapefile, any OGR format; several files make one layer."
    ),
    area_type: str = typer.Option(..., "--type", "-t", help="commune, n2000_zsc, n2000_zps, znieff1, znieff2, custom."),
    code_field: Optional[str] = typer.Option(None, "--code-field", help="Attribute holding the area code."),
    name_field: Optional[str] = typer.Option(None, "--name-field", help="Attribute holding the area name."),
    layer: Optional[str] = typer.Option(None, "--layer", help="Layer to read, when the file holds several (GeoPackage)."),
    source_date: Optional[str] = typer.Option(
        None, "--source-date", help="Date of the layer, YYYY-MM-DD (default: the file's date)."
    ),
    append: bool = typer.Option(
        False, "--append", help="Add to the areas of this type already loaded (new codes only) instead of replacing them."
    ),
    communes_file: Optional[Path] = typer.Option(
        None, "--communes-file", help="Official commune list (@etalab/decoupage-administratif communes.json): "
        "warn about codes of a commune layer that no longer exist, and what replaced them."
    ),
) -> None:
    """Replace the areas of one type with the polygons of local files (or add to them with --append)."""
    from biodiv.areas.reference import AreaImportError, combine_loaded, load_file, refuse_loaded_codes, store_loaded
    from biodiv.cli.context import get_config

    console, _ = _console()
    started = datetime.now(timezone.utc)
    when = None
    if source_date:
        try:
            when = date.fromisoformat(source_date)
        except ValueError:
            raise AreaImportError(f"--source-date {source_date!r} is not a date (YYYY-MM-DD)") from None
    cfg = get_config(ctx)
    loaded = combine_loaded(  # every file read and checked before any write
        [load_file(p, area_type, code_field, name_field, source_date=when, layer=layer) for p in paths]
    )
    if communes_file is not None and area_type == "commune":
        from biodiv.areas.territory import outdated_codes, read_communes_file

        for note in outdated_codes(loaded.prepared.frame["code"].astype(str).tolist(),
                                   read_communes_file(communes_file), str(communes_file)):
            _console()[1].print(f"[yellow]warning:[/] {note}", highlight=False, soft_wrap=True)
    store = cfg.store()
    before = _territory_figures(store) if area_type == "commune" else None
    if append and store.exists():
        with store.read() as con:   # refused before a working copy is even made
            refuse_loaded_codes(con, area_type, loaded.prepared.frame["code"].tolist())
    from biodiv.sensitivity.levels import refresh as refresh_sensitivity

    with store.write() as con:
        stats = store_loaded(con, loaded, started, append=append)
        refresh_sensitivity(con)   # communes and areas changed: where sensitive records may be shown
    what = str(paths[0]) if len(paths) == 1 else f"{len(paths)} files"
    console.print(
        f"[green]{stats['type']}[/]: {stats['count']} areas {'after adding' if append else 'imported from'} {what} "
        f"({stats['in_territory']} in the territory, {stats['area_km2']:.1f} km²"
        f"{', CRS ' + stats['source_crs'] if stats['source_crs'] else ''})",
        highlight=False, soft_wrap=True,
    )
    for note in stats["notes"]:
        if note.startswith("warning: "):
            _console()[1].print(f"[yellow]warning:[/] {note.removeprefix('warning: ')}", highlight=False, soft_wrap=True)
        else:
            console.print(f"  {note}", highlight=False, soft_wrap=True)
    _warn_missing(stats.get("missing_codes", []))
    if area_type == "commune":
        _warn_territory_moved(before, _territory_figures(store))


def _territory_figures(store) -> dict | None:
    """The territory's area and its observations inside it, or None (no store, no territory)."""
    if not store.exists():
        return None
    with store.read() as con:
        row = con.execute("SELECT area_km2 FROM territory LIMIT 1").fetchone()
        n = con.execute("SELECT count(*) FROM observations WHERE in_territory AND removed_at IS NULL").fetchone()[0]
    return {"km2": float(row[0]) if row and row[0] is not None else None, "observations": int(n)}


def _warn_territory_moved(before: dict | None, after: dict | None, share: float = 0.2) -> None:
    """Warn when a new commune layer moved the territory's area or its observations by more
    than ``share``: a swapped or shifted layer passes every check of a single feature, and
    the first sign is the territory growing or its observations vanishing."""
    if not before or not after:
        return
    changes = []
    a0, a1 = before["km2"], after["km2"]
    if a0 and a1 is not None and abs(a1 - a0) > share * a0:
        changes.append(f"its area {a0:,.0f} -> {a1:,.0f} km²")
    o0, o1 = before["observations"], after["observations"]
    if o0 and abs(o1 - o0) > share * o0:
        changes.append(f"its observations {o0:,} -> {o1:,}")
    if changes:
        _console()[1].print(
            f"[yellow]warning:[/] this commune layer changed the territory a lot ({'; '.join(changes)}): check the "
            "layer (CRS, longitude/latitude order, the right file); the previous one can be imported again",
            highlight=False, soft_wrap=True)


@areas_app.command("list")
def list_(ctx: typer.Context) -> None:
    """Area types loaded: count, total km², source and date."""
    from biodiv.areas.reference import list_areas
    from biodiv.cli.context import get_config

    console, _ = _console()
    with get_config(ctx).store().read() as con:
        rows = list_areas(con)
    if not rows:
        console.print("no areas yet: run [bold]biodiv areas fetch[/] or [bold]biodiv areas import[/]")
        return
    table = Table(title="Reference areas")
    for col, justify in (("type", "left"), ("count", "right"), ("in territory", "right"),
                         ("total km²", "right"), ("source", "left"), ("date", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for r in rows:
        table.add_row(
            r["type"], str(r["count"]), str(r["in_territory"]), f"{r['area_km2'] or 0:,.1f}",
            r["source"] or "", str(r["source_date"] or r["loaded_at"].date()),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.add_typer(areas_app, name="areas")
