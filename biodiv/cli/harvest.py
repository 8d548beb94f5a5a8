"""``biodiv harvest`` and ``biodiv update``: thin wrappers over :mod:`biodiv.pipeline`
(parse the options, call, print)."""

from __future__ import annotations

import typer
from rich.table import Table

from biodiv import pipeline
from biodiv.cli.context import size_text

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
                value = size_text(value)
            table.add_row(label, str(value))
    attach = summary.get("attach") or {}
    if attach:
        table.add_row("attached", str(attach.get("observations", 0)))
    console.print(table)
    if summary.get("status") == "budget":
        err.print(f"[yellow]stopped:[/] {summary.get('message')}", highlight=False, soft_wrap=True)
    if summary.get("status") == "partial":
        err.print(f"[yellow]partial:[/] {summary.get('message')}", highlight=False, soft_wrap=True)


def _note(message: str) -> None:
    """A progress line or a warning of :mod:`biodiv.pipeline`, on stderr."""
    _, err = _consoles()
    if message.startswith("warning: "):
        err.print(f"[yellow]warning:[/] {message[len('warning: '):]}", highlight=False, soft_wrap=True)
    else:
        err.print(message, highlight=False, soft_wrap=True)


def harvest_command(
    ctx: typer.Context,
    full: bool = typer.Option(False, "--full", help="Re-read every observation, not only what changed."),
    reconcile: bool = typer.Option(
        False, "--reconcile", help="Also find observations deleted, made private or moved out (soft delete)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Harvest iNaturalist observations of the territory (first run: all; later: what changed).

    Exit code 3 (partial) when records failed the checks and were kept aside (quarantine)."""
    from biodiv.cli.context import get_config
    from biodiv.errors import EXIT_PARTIAL

    summary = pipeline.harvest(get_config(ctx), full=full, reconcile=reconcile, progress=progress)
    print_summary(summary)
    if summary.get("status") == "partial":
        raise SystemExit(EXIT_PARTIAL)   # not typer.Exit: the root runs click with standalone_mode=False


def update_command(
    ctx: typer.Context,
    full: bool = typer.Option(False, "--full", help="Re-read every observation, not only what changed."),
    reconcile: bool = typer.Option(False, "--reconcile", help="Also look for deleted observations."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """The everyday command: fetch reference areas if missing, harvest, attach.

    Exit code 3 (partial) when a reference layer that was loaded before could not be fetched,
    or records were kept aside (quarantine); a layer never loaded that cannot be fetched
    (offline) is a warning only."""
    from biodiv.cli.areas import print_init
    from biodiv.cli.context import console, get_config
    from biodiv.config import config_path
    from biodiv.errors import EXIT_PARTIAL

    result = pipeline.update(get_config(ctx), config_path(ctx.find_root().obj.get("config_path")),
                             full=full, reconcile=reconcile, progress=progress, note=_note)
    if result.initialised is not None:
        print_init(result.initialised, next_step=False)   # update fetched the layers itself
    print_summary(result.summary)
    got = result.photos   # square thumbnails of the latest observations, for Mode atelier offline
    if got:
        console.print(f"Photos for Mode atelier: {got['fetched']} downloaded, {got['cached']} already cached"
                      + (f", {got['failed']} failed (shown without photo)" if got["failed"] else ""), highlight=False)
    if any(getattr(f, "expected", True) for f in result.areas_not_fetched):
        _, err = _consoles()
        err.print("[yellow]partial:[/] harvested and attached, but some reference areas could not be fetched "
                  "(warned above); the next `biodiv update` tries them again", highlight=False, soft_wrap=True)
    if result.partial:
        raise SystemExit(EXIT_PARTIAL)   # not typer.Exit: the root runs click with standalone_mode=False


def register(app: typer.Typer) -> None:
    app.command("harvest")(harvest_command)
    app.command("update")(update_command)
