"""``biodiv query list|run``, ``biodiv sql``, ``biodiv export`` and ``biodiv refs
import|fetch``: thin wrappers over :mod:`biodiv.analysis.queries`, :mod:`biodiv.analysis.exports` and
:mod:`biodiv.analysis.refs`. Every read goes through a read-only, file-access-locked connection."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from datetime import date
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

query_app = typer.Typer(
    help="Named SQL queries (files in queries/), shared with the dashboard.",
    no_args_is_help=True,
)
refs_app = typer.Typer(
    help="Official references: protected species (PN/PR/PD), red lists (INPN) and TAXREF codes.",
    no_args_is_help=True,
)


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


class ExportFormat(str, Enum):
    gpkg = "gpkg"
    geojson = "geojson"
    csv = "csv"
    parquet = "parquet"
    dwca = "dwca"
    geonature = "geonature"


class Profile(str, Enum):
    gbif = "gbif"


class Quality(str, Enum):
    any = "any"
    verifiable = "verifiable"
    research = "research"
    needs_id = "needs_id"
    casual = "casual"


def _consoles():
    from biodiv.cli.context import console, err_console

    return console, err_console


def _limits(ctx: typer.Context, max_rows: Optional[int] = None):
    """The ``[sql]`` limits of the configuration (``--max-rows`` overrides max_rows)."""
    from dataclasses import replace

    from biodiv.analysis.readonly import Limits
    from biodiv.cli.context import get_config

    from biodiv.config import size_bytes

    s = get_config(ctx).sql
    limits = Limits(timeout_seconds=s.timeout_seconds, max_rows=s.max_rows,
                    memory_limit=s.memory_limit, temp_limit=s.temp_limit,
                    max_result_bytes=size_bytes(s.max_result_size))
    return limits if max_rows is None else replace(limits, max_rows=max_rows)


def _protect(ctx: typer.Context, out: Optional[Path], option: str = "--out") -> None:
    from biodiv.cli.context import protect_output

    protect_output(ctx, out, option)


def _reader(ctx: typer.Context):
    """A read-only, memory-bounded connection that cannot touch files (closed by the caller)."""
    from biodiv.analysis.readonly import open_reader
    from biodiv.cli.context import get_config

    return open_reader(get_config(ctx).store(), _limits(ctx))


def _truncation_note(limit) -> None:
    """Say on stderr that only the first rows are shown, and how to get more."""
    if limit:
        _consoles()[1].print(
            f"[yellow]note:[/] only the first {limit:,} rows are shown; raise the limit with "
            "--max-rows or sql.max_rows in biodiv.toml, or write whole tables with `biodiv export`",
            highlight=False, soft_wrap=True,
        )


def _bounded(ctx: typer.Context, read, max_rows, fmt: "OutputFormat", out: Optional[Path], title=None) -> None:
    """``read(con, limits)`` on a reader, its result formatted, all in one bounded child
    (biodiv/cli/sqlrun.py); then the truncation note."""
    from biodiv.cli.sqlrun import bounded_read

    limits = _limits(ctx, max_rows)

    def run(arm):
        con = _reader(ctx)
        try:
            arm()   # the memory cap counts from here: the reader's instance and spatial are loaded
            return read(con, limits)
        finally:
            con.close()

    _, truncated = bounded_read(run, limits, fmt.value, out, title, _consoles()[0])
    _truncation_note(truncated)


# ---------------------------------------------------------------------------
# biodiv query list | run
# ---------------------------------------------------------------------------

@query_app.command("list")
def query_list(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show parameters and columns too."),
) -> None:
    """List the named queries, one line each (--verbose: parameters and columns)."""
    from biodiv.analysis.queries import describe, list_queries

    console, _ = _consoles()
    for q in list_queries():
        if verbose:
            console.print(describe(q), highlight=False)
            console.print()
        else:
            params = " ".join(
                f"{p.name}=<{p.type.lower()}>" if p.required else f"[{p.name}]" for p in q.params
            )
            console.print(f"[bold]{q.name}[/]  {q.title}  [dim]{params}[/]", highlight=False)


def _parse_params(raw: list[str]) -> dict[str, str]:
    from biodiv.analysis.queries import QueryError

    params = {}
    for item in raw:
        if "=" not in item:
            raise QueryError(f"--param expects name=value, got {item!r}")
        name, value = item.split("=", 1)
        if name.strip() in params:
            raise QueryError(f"--param {name.strip()} is given twice ({params[name.strip()]!r} and {value!r}): give it once")
        params[name.strip()] = value
    return params


@query_app.command("run")
def query_run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Query name (see `biodiv query list`)."),
    param: List[str] = typer.Option([], "--param", "-p", help="Parameter as name=value (repeatable)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
    max_rows: Optional[int] = typer.Option(None, "--max-rows", min=1, help="Rows output at most (default: sql.max_rows, 10,000)."),
) -> None:
    """Run a named query on a read-only connection, e.g. --param area=34114 --format csv."""
    from biodiv.analysis.queries import load_query, run_query

    _protect(ctx, out)
    query = load_query(name)
    params = _parse_params(param)
    _bounded(ctx, lambda con, limits: run_query(con, query, params, limits), max_rows, fmt, out, query.title)


# ---------------------------------------------------------------------------
# biodiv sql
# ---------------------------------------------------------------------------

def sql(
    ctx: typer.Context,
    statement: Optional[str] = typer.Argument(None, help="SQL to run (or use --file, or - for stdin)."),
    file: Optional[Path] = typer.Option(None, "--file", help="Read the SQL from this file."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
    max_rows: Optional[int] = typer.Option(None, "--max-rows", min=1, help="Rows output at most (default: sql.max_rows, 10,000)."),
) -> None:
    """Run one read-only SQL statement (views: v_observations, v_species, v_taxon_status...).

    Only reads are accepted (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE); a query is
    stopped after sql.timeout_seconds (60 s) and at most sql.max_rows rows are output."""
    from biodiv.analysis.queries import QueryError, run_sql
    from biodiv.analysis.readonly import check_read_only

    if file is not None:
        try:
            statement = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise QueryError(f"cannot read {file}: {exc.strerror}") from None
    elif statement == "-":
        statement = sys.stdin.read()
    if not statement or not statement.strip():
        raise QueryError("no SQL given: biodiv sql \"SELECT count(*) FROM observations\"")
    check_read_only(statement)  # refused SQL never opens the database
    _protect(ctx, out)
    _bounded(ctx, lambda con, limits: run_sql(con, statement, limits), max_rows, fmt, out)


# ---------------------------------------------------------------------------
# biodiv export
# ---------------------------------------------------------------------------

def _date(value: Optional[str], option: str) -> Optional[date]:
    from biodiv.analysis.exports import ExportError

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ExportError(f"{option} expects a date YYYY-MM-DD, got {value!r}") from None


def export(
    ctx: typer.Context,
    fmt: ExportFormat = typer.Option(..., "--format", "-f", help="gpkg (QGIS), geojson, csv, parquet (GeoParquet), dwca (Darwin Core archive) or geonature (GeoNature/SINP synthesis CSV)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file."),
    area: Optional[str] = typer.Option(None, "--area", help="Only this area: INSEE commune code or Natura 2000 site code."),
    since: Optional[str] = typer.Option(None, "--since", help="Observed on or after this date (YYYY-MM-DD)."),
    until: Optional[str] = typer.Option(None, "--until", help="Observed on or before this date (YYYY-MM-DD)."),
    group: Optional[str] = typer.Option(None, "--group", help="Taxonomic group or taxon name: Aves, Plantae, Fagaceae..."),
    quality: Quality = typer.Option(Quality.verifiable, "--quality", help="Quality grades kept (verifiable = research + needs_id, the default everywhere; any = every grade)."),
    certain_only: bool = typer.Option(False, "--certain-only", help="Only observations surely inside the area (or their commune)."),
    include_outside: bool = typer.Option(False, "--include-outside", help="Also observations attached outside the territory."),
    public: Optional[bool] = typer.Option(None, "--public/--private", help="Drop observer logins and blur sensitive species to their SINP level (default: dashboard.public_mode)."),
    free_text: bool = typer.Option(False, "--free-text", help="--public only: keep the observers' notes and place names (left out of public exports by default)."),
    spreadsheet: bool = typer.Option(False, "--spreadsheet", help="CSV only: for a French spreadsheet (; separator, UTF-8 with BOM, decimal comma)."),
    profile: Optional[Profile] = typer.Option(None, "--profile", help="dwca only: gbif = research-grade records under CC0, CC-BY or CC-BY-NC (what is left out is counted)."),
    removed_since: Optional[str] = typer.Option(None, "--removed-since", help="geonature only: list the observations removed upstream on or after this date (YYYY-MM-DD; default: all) beside the export."),
) -> None:
    """Export observations (GeoPackage adds communes, natura2000 and territory layers)."""
    from biodiv.cli.context import get_config
    from biodiv.analysis.exports import ExportFilter
    from biodiv.analysis.exports import export as do_export

    from biodiv.analysis.exports import ExportError

    if spreadsheet and fmt != ExportFormat.csv:
        raise ExportError("--spreadsheet applies to --format csv only")
    cfg = get_config(ctx)
    _protect(ctx, out)
    if fmt == ExportFormat.geonature:
        from biodiv.analysis.exports import deletions_path, unmatched_path

        _protect(ctx, unmatched_path(out), "--out (its list of unmatched taxa)")
        _protect(ctx, deletions_path(out), "--out (its list of deleted observations)")
    filters = ExportFilter(
        area=area, since=_date(since, "--since"), until=_date(until, "--until"), group=group,
        quality=quality.value, certain_only=certain_only, include_outside=include_outside,
    )
    public_mode = cfg.dashboard.public_mode if public is None else public
    con = _reader(ctx)
    try:
        result = do_export(con, fmt.value, out, filters, public_mode=public_mode,
                           csv_dialect="spreadsheet" if spreadsheet else "standard",
                           dataset=cfg.exports.model_dump(), profile=profile.value if profile else None,
                           sensitivity_default=cfg.sensitivity.default_level, free_text=free_text,
                           removed_since=_date(removed_since, "--removed-since"))
    finally:
        con.close()
    console, err = _consoles()
    layers = ", ".join(f"{k}: {v}" for k, v in result.counts.items())
    console.print(f"{out} written ({fmt.value}; {layers}; {filters.describe()})", highlight=False)
    for note in result.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)


# ---------------------------------------------------------------------------
# biodiv refs import | fetch
# ---------------------------------------------------------------------------

@contextmanager
def _pipe_safe():
    """Output printed after a commit: a reader that went away (the import piped into head)
    neither undoes nor hides the import. A closed pipe ends the output quietly (stdout
    pointed at /dev/null so that the exit flush does not fail again)."""
    console, _ = _consoles()
    try:
        yield
        sys.stdout.flush()
    except (BrokenPipeError, SystemExit) as exc:
        # rich turns a broken pipe into SystemExit(1) (Console.on_broken_pipe)
        if isinstance(exc, SystemExit) and exc.code != 1:
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        console.quiet = True


def _report(ref, report, unmatched_out: Optional[Path], unmatched_df) -> None:
    console, err = _consoles()
    by_source: dict[str, int] = {}
    for s in ref.statuses:
        by_source[s.source] = by_source.get(s.source, 0) + 1
    console.print(
        f"{ref.format}: {len(ref.statuses)} status(es) for "
        f"{len({(s.source, s.ref_id) for s in ref.statuses})} reference taxa, {len(ref.names)} names "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(by_source.items()))})",
        highlight=False,
    )
    if ref.skipped:
        top = ", ".join(f"{k} ({v})" for k, v in ref.skipped.most_common(8))
        console.print(f"skipped statuses: {top}", style="dim", highlight=False)
    console.print(
        f"matched {report.n_matched} taxon/list pair(s) ({report.n_via_synonym} through a synonym); "
        f"{report.n_taxa_with_status} of {report.n_taxa} taxa now carry an official status",
        highlight=False,
    )
    _print_ambiguous(
        err, "status", "ref_matches",
        [(f"{name} (taxon {taxon_id}, {source})", candidates) for taxon_id, name, source, candidates in report.ambiguous],
    )
    if unmatched_out is not None:
        _write_unmatched(console, unmatched_df, unmatched_out, "reference taxa without a matching taxon")


def _reference_change(ctx: typer.Context, ref, origin, force: bool):
    """What the list would change (reference taxa gained and lost, taxa with a status now),
    read before any writer opens; a large loss is refused unless ``force``
    (:mod:`biodiv.analysis.refcheck`)."""
    from biodiv.analysis.refcheck import compare_with_stored, refuse_large_loss
    from biodiv.cli.context import get_config

    with get_config(ctx).store().read() as con:
        change = compare_with_stored(con, ((s.source, s.ref_id) for s in ref.statuses))
        with_status = con.execute(
            "SELECT count(DISTINCT taxon_id) FROM taxon_statuses WHERE source <> 'inaturalist'").fetchone()[0]
    refuse_large_loss(change, origin, force)
    return change, with_status


def _print_change(change, with_status_before: int, report) -> None:
    console, _ = _consoles()
    console.print(f"changes: {change.describe()}; taxa with an official status: {with_status_before} -> "
                  f"{report.n_taxa_with_status}", highlight=False)


def _print_ambiguous(err, left_without: str, table: str, rows: list[tuple[str, list]]) -> None:
    """The names matching several reference taxa (left unlinked), 30 at most on screen."""
    if not rows:
        return
    err.print(f"[yellow]{len(rows)} ambiguous name(s), left without {left_without}:[/]")
    for label, candidates in rows[:30]:
        err.print(f"  {label}: CD_REF {', '.join(map(str, candidates))}", highlight=False)
    if len(rows) > 30:
        err.print(f"  ... and {len(rows) - 30} more (table {table}, status 'ambiguous')")


def _write_unmatched(console, df, out: Path, what: str) -> None:
    df.to_csv(out, index=False)
    console.print(f"{len(df)} {what} listed in {out}")


@refs_app.command("import")
def refs_import(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="INPN protected-species list (;-separated CSV), BDC statuts CSV/zip, TAXREFvNN.txt (or its zip), or a SINP sensitivity referential (RefSensibilite…csv)."),
    scope: List[str] = typer.Option([], "--scope", help="BDC statuts only: keep these LB_ADM_TR (e.g. 'France métropolitaine', Occitanie, Hérault); repeatable."),
    unmatched: Optional[Path] = typer.Option(None, "--unmatched", help="Write reference taxa matching no taxon to this CSV (TAXREF: the taxa without a TAXREF link)."),
    force: bool = typer.Option(False, "--force", help="Import even if the list drops more than 10 % of the stored reference taxa of a source."),
) -> None:
    """Import an official status list (flags the matching taxa protected, threatened) or TAXREF
    (links every taxon to its CD_NOM / CD_REF)."""
    from biodiv.cli.context import get_config
    from biodiv.analysis.refs import (apply_reference, file_sha256, is_sensitivity_referential, read_reference,
                                      refresh_sensitivity)
    from biodiv.analysis.taxref import is_taxref

    _protect(ctx, unmatched, "--unmatched")
    if is_sensitivity_referential(file):
        _import_sensitivity(ctx, file)
        return
    if is_taxref(file):
        _import_taxref(ctx, file, unmatched)
        return
    from biodiv.analysis.refs import unmatched_reference

    ref = read_reference(file, scope or None)  # parse and check first: a bad file changes nothing
    change = _reference_change(ctx, ref, file, force)
    with get_config(ctx).store().write() as con:
        report = apply_reference(con, ref, str(file), file_sha256(file))
        refresh_sensitivity(con)   # statuses feed the cautious default
        missing = unmatched_reference(con) if unmatched is not None else None
    with _pipe_safe():            # committed: now say so
        _report(ref, report, unmatched, missing)
        _print_change(*change, report)


def _import_sensitivity(ctx: typer.Context, file: Path) -> None:
    """A SINP sensitivity referential (biodiv.sensitivity): validated whole, then stored."""
    from biodiv.cli.context import get_config
    from biodiv.analysis.refs import file_sha256
    from biodiv.sensitivity.levels import store_referential
    from biodiv.sensitivity.referential import read_referential

    ref = read_referential(file)   # parse first: a bad file changes nothing
    cfg = get_config(ctx)
    with cfg.store().write() as con:
        r = store_referential(con, ref, file_sha256(file))
    with _pipe_safe():
        _report_sensitivity(r)


def _report_sensitivity(r) -> None:
    console, err = _consoles()
    by_level = ", ".join(f"level {k}: {v}" for k, v in r.levels.items()) or "none"
    console.print(f"sensitivity referential {r.source}: {r.n_rules} rules for {r.n_taxa} taxa; "
                  f"{r.n_store_taxa} taxa of the store under a rule; observations blurred or withheld: {by_level}",
                  highlight=False)
    if r.taxref_loaded:
        console.print(f"TAXREF: {r.n_taxref} of {r.n_taxa} taxa matched (CD_NOM -> CD_REF, rules on a genus or "
                      f"family cover its species); {len(r.not_in_taxref)} not in TAXREF"
                      + (": " + ", ".join(f"{c} {n}" for c, n in r.not_in_taxref[:10]) if r.not_in_taxref else "")
                      + (" ..." if len(r.not_in_taxref) > 10 else ""), highlight=False)
    else:
        err.print("[yellow]note:[/] TAXREF is not imported: rules matched by name only "
                  "(biodiv refs import TAXREFvNN.txt matches them by CD_NOM -> CD_REF)", highlight=False)


def _import_taxref(ctx: typer.Context, file: Path, unmatched_out: Optional[Path]) -> None:
    from biodiv.cli.context import get_config
    from biodiv.analysis.taxref import import_taxref, unlinked_taxa

    from biodiv.analysis.refs import refresh_sensitivity

    cfg = get_config(ctx)
    with cfg.store().write() as con:
        report = import_taxref(con, file)
        refresh_sensitivity(con)   # rules now match by CD_NOM -> CD_REF
        missing = unlinked_taxa(con) if unmatched_out is not None else None
    with _pipe_safe():            # committed: now say so
        _report_taxref(report, unmatched_out, missing)


def _report_taxref(report, unmatched_out: Optional[Path], missing) -> None:
    console, err = _consoles()
    console.print(
        f"TAXREF: {report.n_names} names of {report.n_taxa_ref} taxa; linked {report.n_matched} of "
        f"{report.n_taxa} taxa ({report.n_via_synonym} through a synonym)", highlight=False)
    if report.missing_columns:
        console.print(f"columns not in this version: {', '.join(report.missing_columns)}", style="dim")
    _print_ambiguous(
        err, "TAXREF code", "taxon_taxref",
        [(f"{name} (taxon {taxon_id})", candidates) for taxon_id, name, candidates in report.ambiguous],
    )
    if unmatched_out is not None:
        _write_unmatched(console, missing, unmatched_out, "taxa without a TAXREF link")


@refs_app.command("fetch")
def refs_fetch(
    ctx: typer.Context,
    url: Optional[str] = typer.Option(None, "--url", help="Download URL (default: sources.inpn_statuts_url, $BIODIV_INPN_STATUTS_URL, or the INPN BDC statuts zip)."),
    scope: List[str] = typer.Option([], "--scope", help="Keep only these LB_ADM_TR scopes (repeatable)."),
    unmatched: Optional[Path] = typer.Option(None, "--unmatched", help="Write reference taxa matching no taxon to this CSV."),
    force: bool = typer.Option(False, "--force", help="Import even if the list drops more than 10 % of the stored reference taxa of a source."),
) -> None:
    """Download the current INPN status lists (BDC statuts), then import them."""
    from biodiv.cli.context import get_config
    from biodiv.analysis.refs import (apply_reference, fetch_reference, file_sha256, read_reference,
                                      refresh_sensitivity, statuts_url)

    cfg = get_config(ctx)
    _protect(ctx, unmatched, "--unmatched")
    source_url = statuts_url(cfg, url)
    console, _ = _consoles()
    path, downloaded = fetch_reference(source_url, cfg.cache / "refs", timeout=cfg.sources.timeout)
    with _pipe_safe():            # a closed pipe does not stop the import
        console.print(f"{'downloaded' if downloaded else 'unchanged since last download'}: {source_url}", highlight=False)
    ref = read_reference(path, scope or None)
    from biodiv.analysis.refs import unmatched_reference

    change = _reference_change(ctx, ref, source_url, force)
    with cfg.store().write() as con:
        report = apply_reference(con, ref, source_url, file_sha256(path))
        refresh_sensitivity(con)
        missing = unmatched_reference(con) if unmatched is not None else None
    with _pipe_safe():            # committed: now say so
        _report(ref, report, unmatched, missing)
        _print_change(*change, report)


def register(app: typer.Typer) -> None:
    app.add_typer(query_app, name="query")
    app.add_typer(refs_app, name="refs")
    app.command("sql")(sql)
    app.command("export")(export)
