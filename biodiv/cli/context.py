"""What every command module shares: the consoles and the configuration of this invocation.

Apart from :mod:`biodiv.cli.root` so that the command modules (``biodiv/cli/*.py``) never
import the module that registers them (no import cycle)."""

from __future__ import annotations

import typer
from rich.console import Console

from biodiv.config import Config, load_config

console = Console()
err_console = Console(stderr=True)


def get_config(ctx: typer.Context) -> Config:
    """The configuration for this invocation (loaded once)."""
    obj = ctx.find_root().obj
    if "config" not in obj:
        obj["config"] = load_config(obj.get("config_path"))
    return obj["config"]
