"""Commands on the store itself: ``attach``, ``status``, ``migrate``."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from biodiv.cli.context import size_text



def register(app: typer.Typer) -> None:
    from biodiv.cli.context import console, get_config

    @app.command()
    def attach(
        ctx: typer.Context,
        all_: bool = typer.Option(False, "--all", help="Recompute every observation, not only new or changed ones."),
    ) -> None:
        """Link observations to the areas they fall in (certain / edge), flag those outside."""
        from biodiv import pipeline

        stats = pipeline.attach(get_config(ctx), all_observations=all_)   # and the sensitivity levels
        console.print(
            f"attached {stats['observations']:,} observations: {stats['links']:,} links "
            f"({stats['certain']:,} certain, {stats['edge']:,} edge), {stats['outside']:,} outside the territory, "
            f"{stats['obscured']:,} obscured, {stats['no_coordinates']:,} without coordinates "
            f"in {stats['seconds']:.2f} s"
            + (f" ({stats['areas_indexed']} area indexes built in {stats['seconds_index']:.2f} s, kept for next time)"
               if stats["areas_indexed"] else "")
        )

    @app.command()
    def status(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
    ) -> None:
        """What is in the database: territory, areas, observations, last runs, file size."""
        from biodiv.store.status import collect_status

        cfg = get_config(ctx)
        store = cfg.store()
        with store.read() as con:
            st = collect_status(con, store.path)
        if as_json:
            console.print_json(json.dumps(st, default=str))
            return
        _print_status(console, st, cfg.sensitivity.default_level)

    @app.command()
    def migrate(ctx: typer.Context) -> None:
        """Upgrade the database schema to this version of biodiv (and re-encode old raw records)."""
        from biodiv.inat.reencode import reencode_raw
        from biodiv.sensitivity.levels import refresh as refresh_sensitivity

        cfg = get_config(ctx)
        with cfg.store().write() as con:
            version = con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
            done = reencode_raw(con)
            refresh_sensitivity(con)   # migration 011: the sensitivity levels of the existing observations
        console.print(f"schema version {version}")
        if done["rows"]:
            console.print(
                f"re-encoded {done['rows']:,} raw records to the field selection: "
                f"{done['bytes_before'] / 1e6:.1f} MB -> {done['bytes_after'] / 1e6:.1f} MB"
            )


def _print_status(console, st: dict, default_level: int = 2) -> None:
    size = st["size_bytes"] or 0
    console.print(f"[bold]database[/] {st['database']} ({size / 1e6:.1f} MB, schema v{st['schema_version']})"
                  + ("  [yellow]DEMO DATA (fictional)[/]" if st["demo"] else ""))
    if st.get("lake"):
        lk = st["lake"]
        console.print(f"[bold]DuckLake[/] {lk['snapshots']} snapshots (last #{lk['last_snapshot']} at "
                      f"{lk['last_snapshot_at']}), {lk['data_files']} data files ({lk['data_bytes'] / 1e6:.1f} MB) "
                      f"in {lk['data_path']}", highlight=False, soft_wrap=True)
    t = st["territory"]
    if t is None:
        console.print("[yellow]no territory: run `biodiv init`[/]")
    else:
        km2 = f", {t['area_km2']:.0f} km²" if t["area_km2"] else " (outline not loaded yet: `biodiv areas fetch`)"
        siren = f" (EPCI {t['epci_siren']})" if t["epci_siren"] else ""
        console.print(f"[bold]territory[/] {t['name']}{siren}: {t['communes']} communes{km2}")
    table = Table("area type", "count", "km²", "in territory", "source", "date", title="areas")
    for a in st["areas"]:
        table.add_row(a["type"], str(a["count"]), f"{a['km2'] or 0:,.1f}", str(a["in_territory"]),
                      a["source"] or "", a["date"] or "")
    console.print(table if st["areas"] else "[yellow]no areas: run `biodiv areas fetch` or `biodiv areas import`[/]")
    o = st["observations"]
    console.print(
        f"[bold]observations[/] {o['total']:,} ({o['removed']:,} removed kept apart): "
        f"{o['attached']:,} attached, {o['pending_attach']:,} pending, {o['in_territory']:,} in the territory, "
        f"{o['outside']:,} outside, {o['obscured']:,} obscured, {o['no_coordinates']:,} without coordinates; "
        f"{st['taxa']:,} taxa; observed {o['first_observed'] or '–'} … {o['last_observed'] or '–'}"
    )
    _print_sensitivity(console, st.get("sensitivity"), default_level)
    q = st.get("quarantine") or {}
    if q.get("count"):
        console.print(f"[yellow]quarantine[/] {q['count']:,} record(s) from iNaturalist failed the checks and are "
                      "kept aside (asked again by every harvest); latest: " + "; ".join(
                          r["reason"] for r in q["records"][:3]), highlight=False, soft_wrap=True)
    runs = Table("run", "started", "status", "requests", "downloaded", "written", "summary", title="last runs")
    hidden = ("requests", "bytes_downloaded", "bytes_written", "json_bytes", "requests_by_day", "log")
    for r in st["runs"]:
        stats = r["stats"] or {}
        summary = ", ".join(f"{k}={v}" for k, v in stats.items() if not k.startswith("seconds_") and k not in hidden)
        runs.add_row(r["kind"], r["started_at"][:19], r["status"], str(stats.get("requests", "")),
                     size_text(stats.get("bytes_downloaded")), size_text(stats.get("bytes_written")),
                     (r["message"] or summary)[:80])
    console.print(runs if st["runs"] else "no runs yet")
    f = st.get("footprint_30_days")
    if f:
        console.print(
            f"[bold]footprint, last 30 days[/] {f['runs']:,} runs: {f['requests']:,} iNaturalist requests, "
            f"{size_text(f['bytes_downloaded'])} downloaded, {size_text(f['bytes_written'])} written to disk"
        )


def _print_sensitivity(console, sens: dict | None, default_level: int) -> None:
    """One line: the SINP sensitivity referentials (or the cautious default) and what public
    outputs blur or withhold (docs/sensibilite.md)."""
    if sens is None:
        return
    if sens["referentials"]:
        what = "referential(s) " + ", ".join(f"{r['source']} ({r['rules']:,} rules)" for r in sens["referentials"])
        counts = ", ".join(f"level {k}: {v:,}" for k, v in sens["levels"].items()) or "none"
        tail = f"observations in the territory blurred or withheld in public outputs: {counts} (4 = not published)"
    elif sens["computed_at"] is None:
        what, tail = "[yellow]no referential imported, levels not computed yet[/]", "run `biodiv attach`"
    elif default_level:
        what = "[yellow]no referential imported[/] (biodiv refs import RefSensibilite….csv)"
        tail = (f"by default, protected and threatened species are blurred to level {default_level} in public "
                f"outputs: {sens['cautious']:,} observations in the territory")
    else:
        what = "[yellow]no referential imported and the cautious default is off[/]"
        tail = "[sensitivity] default_level = 0: public outputs place observations as iNaturalist does"
    console.print(f"[bold]sensitivity[/] {what}; {tail}", highlight=False, soft_wrap=True)
