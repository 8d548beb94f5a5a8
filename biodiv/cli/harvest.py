"""``biodiv harvest`` and ``biodiv update``: thin wrappers over :mod:`biodiv.inat.harvest`
(and :mod:`biodiv.areas.reference` for the reference layers ``update`` fetches when missing)."""

from __future__ import annotations

import typer
from rich.table import Table

SUMMARY_ROWS = (
    ("new", "new"), ("updated", "updated"), ("unchanged", "unchanged"), ("removed", "removed"),
    ("restored", "restored"), ("pages", "pages"), ("taxa_fetched", "taxa fetched"),
    ("requests", "requests made"), ("requests_today", "requests today"), ("bytes_downloaded", "downloaded"),
    ("bytes_written", "written to disk"), ("duration_s", "duration (s)"),
)


def _consoles():
    from biodiv.cli.context import console, err_console

    return console, err_console


def print_summary(summary: dict) -> None:
    console, err = _consoles()
    table = Table(title=f"harvest ({summary.get('mode')}{', resumed' if summary.get('resumed') else ''}"
                        f"{', nothing changed' if summary.get('no_change') else ''})",
                  show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for key, label in SUMMARY_ROWS:
        if key in summary:
            value = summary[key]
            if key == "requests_today":
                value = f"{value} / {summary.get('budget_per_day')}"
            elif key.startswith("bytes_"):
                from biodiv.cli.core import _size

                value = _size(value)
            table.add_row(label, str(value))
    attach = summary.get("attach") or {}
    if attach:
        table.add_row("attached", str(attach.get("observations", 0)))
    console.print(table)
    if summary.get("status") == "budget":
        err.print(f"[yellow]stopped:[/] {summary.get('message')}", highlight=False, soft_wrap=True)


def _run(ctx: typer.Context, full: bool, reconcile: bool, progress: bool, fetch_areas: bool) -> dict:
    from biodiv.cli.context import get_config
    from biodiv.inat.db import TerritoryMissing
    from biodiv.inat.harvest import harvest

    cfg = get_config(ctx)
    store = cfg.store()
    _, err = _consoles()
    if fetch_areas and not store.exists() and not store.wip_path.exists():
        _first_init(ctx, err)
        cfg = get_config(ctx)
    failures: list[str] = []
    from biodiv.inat.harvest import _written_bytes
    from biodiv.inat.probe import probe

    baseline = _written_bytes()
    first = None
    if not full and not reconcile:
        # an update that finds nothing opens no writer (no copy of the store): see biodiv.inat.probe
        first = probe(cfg, store, needs_writer=_missing_areas if fetch_areas else None)
        if isinstance(first, dict):
            return first
    with store.write() as con:
        if fetch_areas:
            if con.execute("SELECT count(*) FROM territory").fetchone()[0] == 0:
                raise TerritoryMissing("no territory is defined yet: run `biodiv init` first")
            from biodiv.areas.reference import fetch_missing_areas, missing_types

            missing = missing_types(con)
            if missing:
                err.print(f"fetching missing reference areas: {', '.join(missing)}", highlight=False)
                failures = fetch_missing_areas(cfg, con, missing)   # Natura 2000 down: warned, harvest goes on
                for failure in failures:
                    err.print(f"[yellow]warning:[/] {failure}", highlight=False, soft_wrap=True)
        summary = harvest(cfg, con, full=full, reconcile=reconcile, progress=progress, probe=first,
                          written_baseline=baseline)
    if failures:
        summary["areas_not_fetched"] = failures
    return summary


def _missing_areas(con) -> bool:
    from biodiv.areas.reference import missing_types

    return con.execute("SELECT count(*) FROM territory").fetchone()[0] == 0 or bool(missing_types(con))


def _first_init(ctx: typer.Context, err) -> None:
    """A fresh machine: ``update`` starts with ``biodiv init`` for the configured territory
    (CCVH by default), so that one command sets everything up."""
    from biodiv.cli.areas import init
    from biodiv.errors import BiodivError

    err.print("no database yet: defining the territory first (biodiv init)", highlight=False)
    try:
        ctx.invoke(init, ctx, epci=None, communes=None, name=None, epci_file=None, communes_file=None)
    except BiodivError as exc:
        raise BiodivError(
            f"{exc}. Without network, explore biodiv with fictional demonstration data: "
            "`biodiv demo` then `biodiv dashboard --demo`"
        ) from None
    ctx.find_root().obj.pop("config", None)  # reload the config init just wrote


def harvest_command(
    ctx: typer.Context,
    full: bool = typer.Option(False, "--full", help="Re-read every observation, not only what changed."),
    reconcile: bool = typer.Option(
        False, "--reconcile", help="Also find observations deleted, made private or moved out (soft delete)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Harvest iNaturalist observations of the territory (first run: all; later: what changed)."""
    print_summary(_run(ctx, full, reconcile, progress, fetch_areas=False))


def update_command(
    ctx: typer.Context,
    full: bool = typer.Option(False, "--full", help="Re-read every observation, not only what changed."),
    reconcile: bool = typer.Option(False, "--reconcile", help="Also look for deleted observations."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """The everyday command: fetch reference areas if missing, harvest, attach.

    Exit code 3 (partial) when an optional layer (Natura 2000) could not be fetched."""
    from biodiv.dashboard import photos
    from biodiv.errors import EXIT_PARTIAL

    summary = _run(ctx, full, reconcile, progress, fetch_areas=True)
    print_summary(summary)
    photos.after_update(ctx)   # square thumbnails of the latest observations, for Mode atelier offline
    if summary.get("areas_not_fetched"):
        _, err = _consoles()
        err.print("[yellow]partial:[/] harvested and attached, but some reference areas could not be fetched "
                  "(warned above); the next `biodiv update` tries them again", highlight=False, soft_wrap=True)
        raise SystemExit(EXIT_PARTIAL)   # not typer.Exit: the root runs click with standalone_mode=False


def register(app: typer.Typer) -> None:
    app.command("harvest")(harvest_command)
    app.command("update")(update_command)
