"""The ``biodiv`` command line: a thin mirror of the library (one module per area under
``biodiv/cli``). Every :class:`~biodiv.errors.BiodivError` becomes one red line and
exit code 1; nothing here holds logic of its own."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from biodiv.cli.context import err_console
from biodiv.errors import BiodivError

app = typer.Typer(
    name="biodiv",
    help="iNaturalist observations of a French territory: harvest, attach to areas, explore, query.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="Config file (default: $BIODIV_CONFIG or ./biodiv.toml)."
    ),
) -> None:
    ctx.obj = {"config_path": config}


def _register() -> None:
    from biodiv.cli import analysis
    from biodiv.cli import areas
    from biodiv.cli import core
    from biodiv.cli import dashboard
    from biodiv.cli import harvest

    for module in (areas, core, harvest, dashboard, analysis):
        module.register(app)


def main() -> None:
    _register()
    try:
        app(standalone_mode=False)
    except BiodivError as exc:
        # escaped: messages hold TOML tables ([dashboard]) and SQL lists, not rich markup
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
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
