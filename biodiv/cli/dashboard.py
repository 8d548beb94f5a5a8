"""``biodiv dashboard`` (start the Streamlit app) and ``biodiv demo`` (build the offline demo)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Optional

import typer

from biodiv.cli.context import demo_path
from biodiv.errors import BiodivError


def streamlit_command(host: str, port: int) -> list[str]:
    """The app through biodiv.dashboard.server.serve: Streamlit's own server (``st.App``) with the
    imports done before listening, the front end gzip-compressed and the default views
    computed in the background."""
    return [
        sys.executable, "-m", "biodiv.dashboard.server.serve",
        "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]


def dashboard(
    ctx: typer.Context,
    demo: bool = typer.Option(False, "--demo", help="Open the demo database (built by `biodiv demo`; same as `biodiv --demo dashboard`)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 to share on a network)."),
    port: int = typer.Option(8501, help="Port to listen on."),
    install_assets: bool = typer.Option(
        False, "--install-assets", help="Only fetch the Leaflet files (npm) into the per-user folder and exit."
    ),
    live: bool = typer.Option(False, "--live", help="Run `biodiv update` in the background while serving."),
    every: str = typer.Option("5m", "--every", help="With --live: time between updates (e.g. 5m, 90s; >= 1m)."),
) -> None:
    """Start the dashboard (Streamlit) on the database, read-only."""
    from biodiv.cli.context import console, err_console, get_config
    from biodiv.dashboard.server import assets

    cfg = get_config(ctx)
    if install_assets:
        written = assets.install_assets()
        console.print(f"Leaflet files in {assets.default_vendor_dir()} ({len(written)} written)",
                      soft_wrap=True)
        return
    env = dict(os.environ)
    if demo:
        path = demo_path(cfg)
        if not path.exists():
            raise BiodivError(f"no demo database at {path}: run `biodiv demo` first")
        env["BIODIV_DB"] = str(path)
    else:
        env["BIODIV_DB"] = str(cfg.db)
    if cfg.source_file is not None:
        env["BIODIV_CONFIG"] = str(cfg.source_file)
    if not assets.assets_installed():
        try:
            assets.install_assets()
        except BiodivError as exc:
            err_console.print(f"[yellow]warning:[/] maps need the Leaflet files and could not fetch them: {exc}")
    updater = None
    if live:
        from biodiv.dashboard.live import LiveUpdater, parse_interval, update_command

        if demo:
            raise BiodivError("--live updates the real database from iNaturalist: not with --demo")
        interval = parse_interval(every)
        updater = LiveUpdater(cfg.db, update_command(cfg.source_file, cfg.db), interval, env=dict(os.environ)).start()
        console.print(f"Live: `biodiv update` now and every {interval // 60} min {interval % 60} s".replace(" 0 s", ""))
    console.print(f"Dashboard on http://{host}:{port} — database {env['BIODIV_DB']} (Ctrl+C to stop)")
    try:
        code = run_until_stopped(streamlit_command(host, port), env=env, cwd=Path.cwd())
    finally:
        if updater is not None:
            updater.stop()
    if code:
        raise typer.Exit(code)


def run_until_stopped(cmd: list[str], env: dict[str, str], cwd: Path) -> int:
    """Run the server in the foreground; Ctrl+C or SIGTERM stops it (never left orphaned)."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd)
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def demo(
    ctx: typer.Context,
    path: Optional[Path] = typer.Option(None, help="Target file (default: data/demo.duckdb)."),
    observations: int = typer.Option(4000, "--observations", "-n", min=10, help="Number of observations."),
    seed: int = typer.Option(20260401, help="Random seed (same seed, same database)."),
    end: Optional[str] = typer.Option(None, help="Last observation date, YYYY-MM-DD (default: today)."),
) -> None:
    """Build a fictional demo database (own file, never the real one) for offline demonstrations."""
    from biodiv.cli.context import console, get_config
    from biodiv.demo import build_demo

    cfg = get_config(ctx)
    obj = ctx.find_root().obj
    # biodiv --db PATH demo builds it at PATH; the real database is the one the
    # configuration names, whatever --db/--demo chose for this command
    target = path or obj.get("chosen_db") or demo_path(cfg)
    try:
        end_date = date.fromisoformat(end) if end else None
    except ValueError:
        raise BiodivError(f"--end must be a date YYYY-MM-DD, got {end!r}") from None
    stats = build_demo(target, real_db=obj.get("real_db", cfg.db), n_observations=observations, seed=seed, end=end_date)
    default = target == demo_path(cfg)
    console.print(
        f"Demo database {target}: {stats['observations']} observations, {stats['taxa']} taxa, "
        f"{stats['areas']} areas ({stats['in_territory']} observations in the territory). "
        + ("Open it with `biodiv dashboard --demo`." if default
           else f"Open it with `biodiv --db {_quote(target)} dashboard`.")
    )


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)
    app.command("demo")(demo)
