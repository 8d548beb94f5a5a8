"""The ``biodiv`` command line: a thin mirror of the library (one module per area under
``biodiv/cli``). Every :class:`~biodiv.errors.BiodivError` becomes one red line and
exit code 1; nothing here holds logic of its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import re
import sys
from typing import Optional

import typer
from rich.markup import escape

from biodiv.cli.context import err_console
from biodiv.errors import BiodivError

app = typer.Typer(
    name="biodiv",
    help="iNaturalist observations of a French territory: harvest, attach to areas, explore, query."
         "\n\nThe database is the configuration's (db_path, or $BIODIV_DB); --db PATH or --demo,"
         " given before the command, choose another for every command: `biodiv --demo status`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help: every option's help whole (Rich's tables cut it at 80 columns)
    # and no <bool> placeholder after a flag
    rich_markup_mode=None,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="Config file (default: $BIODIV_CONFIG or ./biodiv.toml)."
    ),
    db: Optional[Path] = typer.Option(
        None, "--db", metavar="PATH",
        help="Database file for this command (default: $BIODIV_DB, else db_path of the config).",
    ),
    demo: bool = typer.Option(
        False, "--demo", help="Use the demo database (data/demo.duckdb, built by `biodiv demo`).",
    ),
) -> None:
    ctx.obj = {"config_path": config, "db": db, "demo": demo}


_registered = False


def _register() -> None:
    """Add every area's commands to ``app`` (once per process)."""
    global _registered
    if _registered:
        return
    _registered = True
    from biodiv.cli import analysis
    from biodiv.cli import areas
    from biodiv.cli import core
    from biodiv.cli import dashboard
    from biodiv.cli import harvest
    from biodiv.cli import publish
    from biodiv.cli import report
    from biodiv.cli import schedule
    from biodiv.cli import store

    for module in (areas, core, harvest, dashboard, analysis, report, publish, schedule, store):
        module.register(app)


def command():
    """The click command tree of ``app``, as ``biodiv`` prints its help: each command's
    summary whole in its group's listing (click cuts it to the width left beside the names:
    "Harvest iNaturalist observations of the territory (first..."), and a command quoted in
    a help text (`biodiv dashboard --demo`) never broken across lines."""
    _register()
    root = typer.main.get_command(app)

    class Context(root.context_class):
        formatter_class = _command_keeping_formatter(root.context_class.formatter_class)

    def visit(cmd) -> None:
        cmd.context_class = Context
        if cmd.help and not cmd.short_help:
            cmd.short_help = " ".join(cmd.help.split("\n\n")[0].split())
        for sub in getattr(cmd, "commands", {}).values():
            visit(sub)

    visit(root)
    return root


_GLUE = "\ue000"               # stands for a space that must not break a line
_HYPHEN = "\ue001"             # stands for a hyphen that must not end a line (YYYY-MM-DD)
_QUOTED = re.compile(r"`[^`\n]*`")


def _glued(text: str) -> str:
    return _QUOTED.sub(lambda m: m.group(0).replace(" ", _GLUE), text).replace("-", _HYPHEN)


def _command_keeping_formatter(base):
    """``base`` (click's HelpFormatter) wrapping text between backticks as one word."""

    class Formatter(base):
        def write(self, string: str) -> None:
            super().write(string.replace(_GLUE, " ").replace(_HYPHEN, "-"))

        def write_text(self, text: str) -> None:
            super().write_text(_glued(text))

        def write_dl(self, rows, *args, **kwargs) -> None:
            super().write_dl([(first, _glued(second)) for first, second in rows], *args, **kwargs)

    return Formatter


ERROR_FILE_ENV = "BIODIV_ERROR_FILE"


def _record_error(exc: BiodivError) -> None:
    """For a parent process that shows the failure in its own words (``dashboard --live``,
    :mod:`biodiv.dashboard.live`): the error's kinds (its class and the biodiv classes above
    it) written as JSON to ``$BIODIV_ERROR_FILE``, so that the dashboard picks a French
    message from its catalogue by kind, never by matching English text."""
    target = os.environ.get(ERROR_FILE_ENV)
    if not target:
        return
    kinds = [c.__name__ for c in type(exc).__mro__ if isinstance(c, type) and issubclass(c, BiodivError)]
    try:
        Path(target).write_text(json.dumps({"kinds": kinds, "message": str(exc)}), encoding="utf-8")
    except OSError:
        pass


def main() -> None:
    try:
        command()(standalone_mode=False, prog_name="biodiv")
    except BiodivError as exc:
        # escaped: messages hold TOML tables ([dashboard]) and SQL lists, not rich markup
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        _record_error(exc)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except Exception as exc:
        # usage errors: typer ships its own click, so match on the interface, not the class
        if callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Exit":
            sys.exit(getattr(exc, "exit_code", 0))
        if type(exc).__name__ == "Abort":
            sys.exit(1)
        raise
