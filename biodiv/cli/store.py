"""``biodiv store``: the storage backend (one DuckDB file or a DuckLake, docs/ducklake.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

store_app = typer.Typer(help="The storage backend: move between one file and a DuckLake, snapshots, compaction.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")


def _lake_store(cfg):
    from biodiv.errors import BiodivError

    store = cfg.store()
    if store.lake is None:
        raise BiodivError('this command needs a DuckLake: set [store] backend = "ducklake" (docs/ducklake.md)')
    return store


def _lake_path(cfg, spec):
    """The path of the [store] DuckLake (its SQLite catalog, or its locator file)."""
    return spec.catalog_file or cfg.file_db.with_suffix(".lake")


@store_app.command("migrate")
def migrate(
    ctx: typer.Context,
    to: str = typer.Option(..., "--to", help="ducklake: copy the database file into the [store] DuckLake; "
                                             "file: copy the DuckLake into one database file."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="--to file: the new file (default: the --db/--demo file, else db_path)."),
) -> None:
    """Copy the whole store from one backend to the other (the source is only read).

    The global ``--db PATH``/``--demo`` choose the single file: the source of ``--to ducklake``,
    the new file of ``--to file``."""
    from biodiv.cli.context import console, get_config
    from biodiv.config import StoreConfig
    from biodiv.errors import BiodivError
    from biodiv.store.database import Store
    from biodiv.store.lake_copy import file_to_lake, lake_to_file

    cfg = get_config(ctx)
    # the global --db PATH / --demo name the single-file side: the source of --to ducklake,
    # the new file of --to file (unless -o)
    chosen = ctx.find_root().obj.get("chosen_db")
    file_side = Path(chosen) if chosen is not None else cfg.file_db
    if to == "ducklake":
        spec = cfg.lake_spec()
        if spec is None:
            cfg.store_ = StoreConfig(backend="ducklake", catalog=cfg.store_.catalog, data_path=cfg.store_.data_path)
            spec = cfg.lake_spec()
        target = Store(_lake_path(cfg, spec), lake=spec)
        counts = file_to_lake(file_side, target)
        console.print(f"copied {file_side} into the DuckLake {target.lake.spec.display} "
                      f"(data in {target.lake.spec.data_path}): {counts.get('observations', 0):,} observations, "
                      f"{counts.get('areas', 0):,} areas", highlight=False, soft_wrap=True)
        console.print('to use it, set [store] backend = "ducklake" in the config', highlight=False)
    elif to == "file":
        spec = cfg.lake_spec()
        if spec is None:
            raise BiodivError('this command needs a DuckLake: set [store] backend = "ducklake" (docs/ducklake.md)')
        target = output or file_side
        if output is not None and Path(output).absolute() != Path(file_side).absolute():
            from biodiv.cli.context import protect_output

            protect_output(ctx, output, "--output")   # never the lake's catalog, its data or the config
        counts = lake_to_file(spec, Path(target))
        console.print(f"copied the DuckLake {spec.display} into {target}: "
                      f"{counts.get('observations', 0):,} observations, {counts.get('areas', 0):,} areas",
                      highlight=False, soft_wrap=True)
    else:
        raise BiodivError(f"--to must be ducklake or file, not {to!r}")


@store_app.command("maintenance")
def maintenance(
    ctx: typer.Context,
    expire_older_than: Optional[str] = typer.Option(
        None, "--expire-older-than",
        help="Also expire snapshots older than this interval (e.g. '30 days') and delete the files "
             "no snapshot uses (time travel before that point is then gone)."),
) -> None:
    """DuckLake: merge the small data files that commits add (also done after a write once they pile up)."""
    from biodiv.cli.context import console, get_config
    from biodiv.store.lake import compact

    store = _lake_store(get_config(ctx))
    with store.write() as con:
        stats = compact(con._con, expire_older_than)
    console.print(f"data files: {stats['files_before']} -> {stats['files_after']} "
                  f"({stats['bytes_after'] / 1e6:.1f} MB); snapshots expired: {stats['snapshots_expired']}")


@store_app.command("snapshots")
def snapshots(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """DuckLake: the snapshots (count, last ones and what each changed) and the live data files."""
    from biodiv.cli.context import console, get_config
    from biodiv.store.lake import snapshot_summary

    store = _lake_store(get_config(ctx))
    with store.read() as con:
        summary = snapshot_summary(con)
    if as_json:
        console.print_json(json.dumps(summary, default=str))
        return
    console.print(f"[bold]DuckLake[/] {store.lake.spec.display}: {summary['snapshots']} snapshots, last "
                  f"#{summary['last_snapshot']} at {summary['last_snapshot_at']}; {summary['data_files']} data "
                  f"files ({summary['data_bytes'] / 1e6:.1f} MB) in {summary['data_path']}",
                  highlight=False, soft_wrap=True)
    for snap in summary["recent"]:
        changes = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in snap["changes"].items())
        console.print(f"  #{snap['id']} {snap['at']}  {changes}", highlight=False, soft_wrap=True)
