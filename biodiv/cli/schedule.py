"""``biodiv schedule daily``: a scheduled update that works (systemd user timer or crontab
line), a thin mirror of :mod:`biodiv.schedule`."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer

schedule_app = typer.Typer(help="Schedule the daily `biodiv update` (systemd user timer or cron).",
                           no_args_is_help=True)


class Method(str, Enum):
    systemd = "systemd"
    cron = "cron"


@schedule_app.command("daily")
def daily(ctx: typer.Context,
          at: str = typer.Option("06:15", "--at", help="Time of day HH:MM."),
          method: Optional[Method] = typer.Option(None, "--method", help="systemd (a user timer) or cron; default: systemd when available, else cron."),
          print_only: bool = typer.Option(False, "--print", help="Only print what would be installed."),
          enable: bool = typer.Option(True, "--enable/--no-enable", help="Enable the systemd timer at once (default) or only write its files.")) -> None:
    """Run `biodiv update` every day, with this installation's absolute paths."""
    from biodiv.cli.context import console, get_config
    from biodiv.schedule import default_method, install, plan

    cfg = get_config(ctx)
    chosen = ctx.find_root().obj.get("chosen_db")
    log = cfg.resolve("data/update.log")
    s = plan(method.value if method else default_method(), at, cfg.source_file, chosen, log, cfg.base_dir)
    if print_only:
        for path, text in s.files.items():
            console.print(f"# {path}\n{text}", highlight=False, markup=False)
        return
    for line in install(s, enable=enable):
        console.print(line, highlight=False, markup=False)
    console.print(f"every day at {s.hour:02d}:{s.minute:02d}, in {s.folder}: {' '.join(s.command)} (log: {s.log})",
                  highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")
