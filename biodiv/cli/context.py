"""What every command module shares: the consoles and the configuration of this invocation.

Apart from :mod:`biodiv.cli.root` so that the command modules (``biodiv/cli/*.py``) never
import the module that registers them (no import cycle)."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from biodiv.config import Config, load_config
from biodiv.errors import BiodivError

# soft_wrap: a message is never broken at the terminal's width, so a command it suggests
# (`biodiv dashboard --demo`) stays on one line and can be copied whole; tables still fit
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DB_ENV = "BIODIV_DB"


def demo_path(cfg: Config) -> Path:
    """Where the demo database lives: ``data/demo.duckdb`` beside the configuration."""
    from biodiv.store.demo import DEMO_DB_NAME

    return cfg.resolve(f"data/{DEMO_DB_NAME}")


def get_config(ctx: typer.Context) -> Config:
    """The configuration for this invocation (loaded once), with the database chosen by the
    global ``--db PATH`` or ``--demo`` if one was given (:func:`choose_database`)."""
    root = ctx.find_root()
    obj = root.obj
    if "config" not in obj:
        cfg = load_config(obj.get("config_path"))
        obj["real_db"] = cfg.db
        chosen = choose_database(cfg, obj.get("db"), bool(obj.get("demo")),
                                 building_demo=root.invoked_subcommand == "demo")
        if chosen is not None:
            _use_database(root, chosen)
            obj["chosen_db"] = chosen
        obj["config"] = cfg
    return obj["config"]


def choose_database(cfg: Config, db: Path | None, demo: bool, building_demo: bool = False) -> Path | None:
    """The database named on the command line: ``--db PATH`` (relative to the current
    folder), ``--demo`` (``data/demo.duckdb`` beside the configuration, which must exist
    unless the command is ``biodiv demo``, which builds it), or ``None`` (the usual lookup:
    ``$BIODIV_DB``, else ``db_path`` of the configuration)."""
    if db is not None and demo:
        raise BiodivError("choose one database: --db PATH or --demo, not both")
    if db is not None:
        return Path(db).expanduser().absolute()
    if demo:
        path = demo_path(cfg)
        if not path.exists() and not building_demo:
            raise BiodivError(f"no demo database at {path}: run `biodiv demo` first")
        return path
    return None


def _use_database(root: typer.Context, path: Path) -> None:
    """Make ``path`` this invocation's database through ``$BIODIV_DB``.

    Why the environment: it is the one channel every reader of the configuration already
    honours (``Config.db``, a configuration loaded again by a command, the dashboard's server
    process), so ``--db`` cannot miss one. The previous value comes back when the command
    ends (a CLI run in-process, as in tests, leaves the environment as it found it)."""
    previous = os.environ.get(DB_ENV)
    os.environ[DB_ENV] = str(path)

    def restore() -> None:
        if previous is None:
            os.environ.pop(DB_ENV, None)
        else:
            os.environ[DB_ENV] = previous

    root.call_on_close(restore)
