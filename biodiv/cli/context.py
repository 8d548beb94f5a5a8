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

def demo_path(cfg: Config) -> Path:
    """Where the demo database lives: ``data/demo.duckdb`` beside the configuration."""
    from biodiv.demo import DEMO_DB_NAME

    return cfg.resolve(f"data/{DEMO_DB_NAME}")


def get_config(ctx: typer.Context) -> Config:
    """The configuration for this invocation (loaded once), with the database chosen by the
    global ``--db PATH`` or ``--demo`` if one was given (:func:`choose_database`), carried by
    the configuration itself (:meth:`biodiv.config.Config.use_db`)."""
    root = ctx.find_root()
    obj = root.obj
    if "config" not in obj:
        obj["config"] = _with_chosen_db(root, load_config(obj.get("config_path")))
    return obj["config"]


def new_config(ctx: typer.Context) -> Config:
    """Default settings for a configuration file about to be written (``biodiv init`` with no
    file yet), with this invocation's database."""
    return _with_chosen_db(ctx.find_root(), Config().use_db(os.environ.get("BIODIV_DB") or None))


def _with_chosen_db(root: typer.Context, cfg: Config) -> Config:
    obj = root.obj
    obj["real_db"] = cfg.db
    chosen = choose_database(cfg, obj.get("db"), bool(obj.get("demo")),
                             building_demo=root.invoked_subcommand == "demo")
    if chosen is not None:
        cfg.use_db(chosen)
        obj["chosen_db"] = chosen
    return cfg


def choose_database(cfg: Config, db: Path | None, demo: bool, building_demo: bool = False) -> Path | None:
    """The database named on the command line: ``--db PATH`` (relative to the current
    folder), ``--demo`` (``data/demo.duckdb`` beside the configuration, which must exist
    unless the command is ``biodiv demo``, which builds it), or ``None`` (the usual lookup:
    ``$BIODIV_DB``, else ``db_path`` of the configuration: :func:`biodiv.config.load_config`)."""
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


def size_text(n) -> str:
    """Bytes for people: 0 B, 12.3 kB, 4.5 MB (decimal units)."""
    if n is None or n == "":
        return ""
    n = int(n)
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def protect_output(ctx: typer.Context, out: Path | None, option: str = "--out") -> None:
    """Refuse an output aimed at the store (whichever --db/--demo/db_path names it, its
    working copy, lock, lake catalog or data folder) or at the configuration file, before
    anything is read or written (:func:`biodiv.files.refuse_protected_output`)."""
    if out is None:
        return
    from biodiv.files import refuse_protected_output
    from biodiv.store.database import Store

    cfg = get_config(ctx)
    files: dict[Path, str] = {}
    folders: dict[Path, str] = {}
    stores = [cfg.store(), Store(cfg.file_db)]
    real = ctx.find_root().obj.get("real_db")
    if real is not None:
        stores.append(Store(real))
    for store in stores:
        files.update(store.own_files())
        folders.update(store.own_folders())
    lake = cfg.lake_spec()
    if lake is not None:
        if lake.catalog_file is not None:
            files[lake.catalog_file] = "the DuckLake catalog"
        if lake.local_data_dir() is not None:
            folders[lake.local_data_dir()] = "the DuckLake's data folder"
    if cfg.source_file is not None:
        files[cfg.source_file] = "the configuration"
    refuse_protected_output(out, files, folders, option)
