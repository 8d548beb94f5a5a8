"""Harvest orchestration: observations of the territory's bounding box, page by page.

Why this shape:

* **never lose, never duplicate**: each page is upserted by id in one transaction
  together with its ``id_above`` cursor (``harvest_state``) and the run's request
  count, so a process killed at any instant resumes from the last committed page;
* **frugal**: ``order_by=id`` + ``id_above`` (page numbers stop at 10,000 results),
  200 records per request, ``updated_since`` for later runs, the end detected from
  ``total_results`` (an update that finds nothing costs one request), taxa already
  stored never fetched again, ancestors asked deepest-first so one ``/taxa`` answer
  brings its whole lineage;
* **budgeted**: requests are counted per UTC day in ``runs.stats`` and the harvest
  stops cleanly when the configured daily budget is spent;
* **never stall**: a record that fails the checks is quarantined with the rest of its page
  stored and asked again by id next run (:mod:`biodiv.inat.quarantine`); the query asked is
  the territory's box widened to the obscuring grid, and the cursor belongs to that query
  (:mod:`biodiv.inat.query`);
* the clip to the territory happens at attach time (``biodiv.attach.links``), never by
  dropping rows here.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from biodiv.inat import db
from biodiv.inat.client import (
    IDS_PER_PAGE,
    OBSERVATIONS_PER_PAGE,
    TAXA_PER_REQUEST,
    BudgetExhausted,
    InatClient,
    InatError,
    InatUnreachable,
    RequestCounter,
)
from biodiv.inat.fields import OBSERVATION_FIELDS, TAXA_FIELDS, project
from biodiv.inat.quarantine import check_page
from biodiv.inat.query import query_key, query_params
from biodiv.inat.parse import (
    observation_taxon,
    parse_observation,
    unreadable_values,
    parse_taxon,
    raw_json,
    taxa_in_record,
    taxon_status_rows,
    to_int,
)
from biodiv.inat.progress import HarvestProgress
from biodiv.pandas_guard import pandas_allowed, without_pandas
from biodiv.store.database import transaction

SCOPE_OBSERVATIONS = "observations"
SCOPE_RECONCILE = "reconcile"
LOCALE = "fr"
# A reconciliation listing far smaller than what is stored is more likely a wrong
# query (changed place_id/project_id, API glitch) than mass deletion: refuse it.
RECONCILE_MIN_SHARE = 0.5
# DuckDB settings of the writer while pages are stored (restored before attach).
# memory_limit bounds the buffer pool so that memory does not grow with the database
# (pages are written once, not read back); one thread because a 200-row statement
# gains nothing from a second one, which only adds scheduling CPU and a malloc arena.
HARVEST_SETTINGS = {"memory_limit": "64MB", "threads": 1}


def _apply_settings(con, settings: dict[str, Any]) -> dict[str, Any]:
    """``SET`` each setting; returns the previous values (to apply them back)."""
    previous = {k: con.execute(f"SELECT current_setting('{k}')").fetchone()[0] for k in settings}
    for key, value in settings.items():
        con.execute(f"SET {key} = '{value}'")
    return previous


def _references_stored(con) -> bool:
    """Whether ``biodiv.analysis.refs.match_statuses`` has anything to do (it is a no-op when no
    reference list was ever imported, and importing ``biodiv.analysis.refs`` loads pandas)."""
    return con.execute(
        "SELECT EXISTS (FROM ref_imports) OR EXISTS (FROM ref_names) OR EXISTS (FROM ref_statuses) "
        "OR EXISTS (FROM ref_matches)"
    ).fetchone()[0]


def _iso(dt) -> str | None:
    return dt.isoformat() if dt is not None else None


class HarvestRun:
    """Mutable state of one harvest run: counters, stats persisted with every page."""

    def __init__(self, cfg, con, run_id: int, counter: RequestCounter):
        self.cfg, self.con, self.run_id, self.counter = cfg, con, run_id, counter
        self.stats: dict[str, Any] = {
            "mode": None, "resumed": False, "new": 0, "updated": 0, "unchanged": 0, "restored": 0,
            "removed": 0, "pages": 0, "observations_seen": 0, "skipped": 0, "taxa_fetched": 0,
            "taxa_requests": 0, "reconcile_pages": 0, "unknown_in_reconcile": 0,
            "requests": 0, "requests_by_day": {}, "api": "v2", "taxa_api": "v2", "bytes_downloaded": 0, "json_bytes": 0,
            "bytes_written": 0, "quarantined": 0, "released": 0,
        }
        self.quarantined: set = set()     # ids (or markers of id-less records) kept aside by this run
        self.held_in_quarantine = False    # the store holds quarantined records: release the ids stored
        self.log: list[str] = []          # run-log lines (also kept in stats["log"])
        self.use_v1 = False               # v2 refused: the rest of this pass reads v1
        self.taxa_v1 = False              # the same for /taxa
        self.lock = threading.Lock()
        self.written_at_start = written_bytes()
        self.taxa_seen: set[int] = set()   # taxa already upserted by this run (once is enough)

    def count_request(self, n: int) -> None:
        # called from the prefetch thread too
        day = db.utcnow().date().isoformat()
        with self.lock:
            by_day = self.stats["requests_by_day"]
            by_day[day] = by_day.get(day, 0) + n
            self.stats["requests"] += n

    def note(self, line: str) -> None:
        with self.lock:
            self.log.append(line)
            self.stats["log"] = list(self.log)

    def snapshot(self) -> dict:
        with self.lock:
            self.stats["bytes_downloaded"] = self.counter.bytes_downloaded
            self.stats["json_bytes"] = self.counter.json_bytes
            self.stats["bytes_written"] = max(written_bytes() - self.written_at_start, 0)
            return json.loads(json.dumps(self.stats, default=str))

    def save(self) -> None:
        db.save_run_stats(self.con, self.run_id, self.snapshot())


def written_bytes() -> int:
    """Bytes this process caused to be written to storage (``write_bytes`` of
    /proc/self/io; 0 where it does not exist): the run's disk footprint is the difference."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fetch_observations(client: InatClient, run: "HarvestRun", params: dict[str, Any]) -> tuple[dict, bool]:
    """One page through API v2 with the field selection; v1 when v2 answers an error.

    Returns ``(answer, from_v2)``. A v2 error (4xx other than 429, or 5xx after the
    retries) is written in the run log and the rest of the pass reads v1, whose records
    are projected to the same selection before they are stored.
    """
    if not run.use_v1:
        try:
            return client.observations_v2(params, OBSERVATION_FIELDS), True
        except InatError as exc:
            if isinstance(exc, InatUnreachable) or exc.status == 429:
                raise
            run.use_v1 = True
            run.stats["api"] = "v1"
            run.note(f"API v2 refused the observation query ({exc}); reading API v1 instead for the rest of this run")
    return client.observations(params | {"locale": LOCALE}), False


def fetch_taxa(client: InatClient, run: "HarvestRun", batch: list[int]) -> list[dict]:
    """``/v2/taxa/{ids}`` with :data:`TAXA_FIELDS`; v1 (whole records, ~36 KB each) when v2
    answers an error, said in the run log, for the rest of the run."""
    if not run.taxa_v1:
        try:
            return [project(t, TAXA_FIELDS) for t in client.taxa_v2(batch, TAXA_FIELDS, locale=LOCALE)]
        except InatError as exc:
            if isinstance(exc, InatUnreachable) or exc.status == 429:
                raise
            run.taxa_v1 = True
            run.stats["taxa_api"] = "v1"
            run.note(f"API v2 refused the taxa query ({exc}); reading API v1 instead for the rest of this run")
    return client.taxa(batch, locale=LOCALE)


def harvest(cfg, con, full: bool = False, reconcile: bool = False, progress: bool = True,
            *, client: InatClient | None = None, attach: bool = True, probe=None,
            written_baseline: int | None = None) -> dict:
    """Bring the observations of the territory up to date; returns the run summary.

    First run (or ``full``): everything in the bbox. Later runs: what changed since the
    last successful run started, minus ``[inaturalist] overlap_days``. An interrupted
    run is resumed from its cursor. ``reconcile`` then lists the current ids to
    soft-delete observations gone from iNaturalist (and restore those that came back).
    Ends with ``biodiv.attach.links.attach(con)`` for new or moved observations.
    ``probe``: the first page already asked without a writer (:mod:`biodiv.inat.probe`),
    used instead of asking it again. ``written_baseline``: ``/proc/self/io`` write_bytes
    before the caller opened the store (so ``bytes_written`` includes its working copy).
    Runs :func:`without_pandas` (memory).
    """
    with without_pandas():
        return _harvest(cfg, con, full, reconcile, progress, client, attach, probe, written_baseline)


def _harvest(cfg, con, full: bool, reconcile: bool, progress: bool, client: InatClient | None,
             attach: bool, probe=None, written_baseline: int | None = None) -> dict:
    from biodiv.store.runs import merge_pending

    started = time.monotonic()
    bbox = db.territory_bbox(con)
    merge_pending(con, cfg.store().path)     # no-change runs recorded without a writer
    today = db.utcnow().date()
    per_day = int(cfg.inaturalist.per_day)
    spent_today = db.requests_on(con, today)
    run_id = db.start_run(con, "harvest", {
        "full": full, "reconcile": reconcile, "api_url": cfg.inat_api_url, "bbox": list(bbox),
        "place_id": cfg.inaturalist.place_id, "project_id": cfg.inaturalist.project_id,
    })
    counter = RequestCounter(limit=max(per_day - spent_today, 0))
    run = HarvestRun(cfg, con, run_id, counter)
    if written_baseline is not None:
        run.written_at_start = written_baseline
    if probe is not None:
        # the probe's request belongs to this run
        for n in (probe.counter.sent,):
            run.count_request(n)
        counter.sent = probe.counter.sent
        counter.bytes_downloaded, counter.json_bytes = probe.counter.bytes_downloaded, probe.counter.json_bytes
        run.stats["api"] = probe.stats.get("api", "v2")
        run.use_v1 = run.stats["api"] == "v1"
        for line in probe.stats.get("log") or []:
            run.note(line)
    counter.on_sent = run.count_request
    run.held_in_quarantine = db.quarantine_count(con) > 0
    own_client = client is None
    if client is None:
        client = InatClient(cfg, counter=counter)
    else:
        client.counter = counter
    status, message = "ok", None
    try:
        from biodiv.inat.reencode import reencode_raw

        run.stats["reencoded"] = reencode_raw(con)["rows"]   # a store older than migration 006
        previous = _apply_settings(con, HARVEST_SETTINGS)
        try:
            with HarvestProgress(progress, counter.per_minute) as bar:
                try:
                    _harvest_observations(cfg, con, client, run, bbox, full, bar, probe)
                    retry_quarantined(con, client, run)
                    _resolve_taxa(con, client, run)
                    if reconcile:
                        _reconcile(cfg, con, client, run, bbox, bar)
                except BudgetExhausted:
                    status = "budget"
                    message = (f"daily iNaturalist budget of {per_day} requests reached; "
                               "the next run resumes where this one stopped")
                    bar.note(f"[yellow]{message}[/]")
            con.execute("CHECKPOINT")   # write the harvested pages while memory is still capped
        finally:
            _apply_settings(con, previous)
        if run.stats.get("taxa_fetched") and _references_stored(con):
            # official protection/red-list statuses for the newly stored taxa (biodiv.analysis.refs
            # imports pandas: allowed here, and only when there is something to match)
            with pandas_allowed():
                from biodiv.analysis.refs import match_statuses

                match_statuses(con)
        if attach:
            from biodiv.attach.links import attach as attach_observations

            run.stats["attach"] = attach_observations(con)
    except BaseException as exc:
        failed = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        run.stats["duration_s"] = round(time.monotonic() - started, 3)
        db.finish_run(con, run_id, failed, run.snapshot(), str(exc).splitlines()[0] if str(exc) else failed)
        raise
    finally:
        if own_client:
            client.close()
    run.stats["duration_s"] = round(time.monotonic() - started, 3)
    if run.quarantined and status == "ok":
        status = "partial"
        message = quarantine_message(len(run.quarantined))
    summary = run.snapshot()
    db.finish_run(con, run_id, status, summary, message)
    summary.update(status=status, message=message, run_id=run_id, budget_per_day=per_day,
                   requests_today=spent_today + counter.sent)
    return summary


# ---------------------------------------------------------------------------
# passes
# ---------------------------------------------------------------------------

def _harvest_observations(cfg, con, client: InatClient, run: HarvestRun, bbox, full: bool, bar: HarvestProgress,
                          probe=None) -> None:
    state = db.load_state(con, SCOPE_OBSERVATIONS)
    query = query_key(cfg, bbox)
    if state["query"] != query and (state["in_progress"] or state["last_success_at"] is not None):
        # the cursor and the last success belong to another query (another territory, place or
        # project, or a store from before migration 010): the new query is read in full
        run.note("the observation query changed (territory, place_id or project_id): "
                 "this run reads the new query in full")
        run.stats["query_changed"] = True
        state = dict(state, in_progress=False, last_success_at=None)
    first_page = None
    if state["in_progress"] and not (full and state["mode"] != "full"):
        mode, cursor = state["mode"] or "full", int(state["id_above"] or 0)
        since, began = state["updated_since"], state["started_at"] or db.utcnow()
        run.stats["resumed"] = True
    else:
        began = db.utcnow()
        cursor = 0
        if full or state["last_success_at"] is None:
            mode, since = "full", None
        else:
            mode = "incremental"
            since = state["last_success_at"] - timedelta(days=float(cfg.inaturalist.overlap_days))
            if probe is not None and probe.since == since:
                began, first_page = probe.began, (probe.data, probe.from_v2)
        db.save_state(con, SCOPE_OBSERVATIONS, mode=mode, id_above=0, updated_since=since,
                      run_id=run.run_id, started_at=began, in_progress=True, query=query)
    run.stats["mode"] = mode
    params = query_params(cfg, bbox) | {
        "order_by": "id", "order": "asc", "per_page": OBSERVATIONS_PER_PAGE, "locale": LOCALE,
    }
    if since is not None:
        params["updated_since"] = _iso(since)

    # only a reconciliation marks rows removed: without any, no page can restore one
    may_restore = con.execute(
        "SELECT count(*) > 0 FROM observations WHERE removed_at IS NOT NULL").fetchone()[0]
    # The next page is asked for while the current one is being stored: with the
    # id_above cursor its start is known as soon as the current page is decoded.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inat-prefetch")
    try:
        if first_page is not None:
            pending = Future()
            pending.set_result(first_page)
        else:
            pending = pool.submit(fetch_observations, client, run, params | {"id_above": cursor})
        first = True
        while True:
            data, from_v2 = pending.result()
            page = check_page(data, from_v2, cursor)
            received = data["results"]
            if first:
                bar.start("observations" + (" (resumed)" if run.stats["resumed"] else ""), page.total or len(received))
                first = False
            last = _last_page(received, page.total, OBSERVATIONS_PER_PAGE)
            page_ids = page.ids()
            if not last and page_ids and max(page_ids) > cursor:
                pending = pool.submit(fetch_observations, client, run, params | {"id_above": max(page_ids)})
            cursor = _store_page(con, run, page.results, cursor, may_restore, rejected=page.rejected)
            bar.page(len(received))
            if last:
                break
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    db.save_state(con, SCOPE_OBSERVATIONS, in_progress=False, id_above=None, updated_since=None,
                  last_success_at=began)


def _last_page(results: list, total: int | None, per_page: int) -> bool:
    if not results:
        return True
    if total is not None:
        return len(results) >= total
    return len(results) < per_page


def _note_unreadable(run: "HarvestRun", oid: int, record: dict) -> None:
    """Count the values stored as NULL because they could not be read (impossible date,
    accuracy "huge"), and say it in the run log the first time each field meets one."""
    bad = unreadable_values(record)
    if not bad:
        return
    counts = run.stats.setdefault("unreadable", {})
    for field, value in bad.items():
        if field not in counts:
            run.note(f"observation {oid}: {field} {value!r} cannot be read and is stored empty "
                     f"(later ones are counted in this run's stats, 'unreadable')")
        counts[field] = counts.get(field, 0) + 1


def _store_page(con, run: HarvestRun, results: list[dict], cursor: int | None, may_restore: bool = True,
                rejected: list[dict] = ()) -> int | None:
    """Upsert one page, its taxa, its quarantined records and the cursor in one transaction;
    return the new cursor. ``cursor=None``: records asked by id (no cursor to move)."""
    rows, texts, taxa, statuses = [], [], [], []
    for record in results:
        record = project(record)       # the canonical record, whichever API answered
        row = parse_observation(record)
        if row["id"] is None:
            run.stats["skipped"] += 1
            continue
        _note_unreadable(run, row["id"], record)
        rows.append(row)
        texts.append(raw_json(record))
        taxon = observation_taxon(record)
        if taxon is not None and to_int(taxon.get("id")) not in run.taxa_seen:
            run.taxa_seen.add(to_int(taxon.get("id")))
            taxa.append(parse_taxon(taxon))
            statuses.extend(taxon_status_rows(taxon))
    ids = [r["id"] for r in rows]
    every = ids + [e["id"] for e in rejected if e["id"] is not None]
    new_cursor = cursor
    if cursor is not None and every:
        new_cursor = max(every)
        if new_cursor <= cursor:
            raise InatError(
                f"iNaturalist ignored the id_above={cursor} cursor (page ends at id {new_cursor}); stopping"
            )
    now = db.utcnow()
    with transaction(con):
        counts = db.upsert_observations(con, rows, texts, now, may_restore)
        db.upsert_taxa(con, taxa, now)
        db.store_inat_statuses(con, [t["id"] for t in taxa], statuses, replace=False)
        if run.held_in_quarantine:
            run.stats["released"] += db.release_quarantined(con, ids)
        if rejected:
            db.quarantine(con, list(rejected), run.run_id, now)
            run.quarantined.update(e["id"] if e["id"] is not None else ("none", i, now)
                                   for i, e in enumerate(rejected))
            run.stats["quarantined"] = len(run.quarantined)
            run.held_in_quarantine = True
            for e in rejected[:5]:
                run.note(f"quarantined: {e['reason']}")
        if cursor is not None:
            db.save_state(con, SCOPE_OBSERVATIONS, id_above=new_cursor)
        for key, value in counts.items():
            run.stats[key] += value
        run.stats["pages"] += 1
        run.stats["observations_seen"] += len(rows)
        run.save()
    return new_cursor


def quarantine_message(count: int) -> str:
    return (f"{count} observation record{'s' if count > 1 else ''} from iNaturalist failed the checks and "
            f"{'were' if count > 1 else 'was'} kept aside (quarantine); everything else is stored. "
            "`biodiv status` lists them; the next run asks for them again")


def retry_quarantined(con, client: InatClient, run: HarvestRun) -> None:
    """Ask iNaturalist again, by id (``id=…``, 200 per request), for the records earlier runs
    quarantined: those that now pass are stored and released, those that still fail stay
    (one more attempt counted, this run ends partial), those no longer returned (deleted,
    made private) are released, said in the run log."""
    if not run.held_in_quarantine:
        return
    with transaction(con):
        idless = db.release_idless(con, before_run=run.run_id)
    if idless:
        run.note(f"{idless} quarantined record(s) without a usable id cannot be asked again: "
                 "released (their reason is in the earlier runs' log)")
    ids = db.quarantined_ids(con, before_run=run.run_id)
    if not ids:
        return
    run.stats["quarantine_retried"] = len(ids)
    for start in range(0, len(ids), OBSERVATIONS_PER_PAGE):
        batch = ids[start:start + OBSERVATIONS_PER_PAGE]
        data, from_v2 = fetch_observations(client, run, {
            "id": ",".join(str(i) for i in batch), "order_by": "id", "order": "asc",
            "per_page": OBSERVATIONS_PER_PAGE, "locale": LOCALE})
        page = check_page(data, from_v2, 0, listing=False)
        _store_page(con, run, page.results, None, True, rejected=page.rejected)
        returned = set(page.ids())
        gone = [i for i in batch if i not in returned]
        if gone:
            with transaction(con):
                released = db.release_quarantined(con, gone)
                run.stats["released"] += released
                run.save()
            run.note(f"{released} quarantined observation(s) no longer returned by iNaturalist "
                     "(deleted or made private): released from the quarantine")


def _resolve_taxa(con, client: InatClient, run: HarvestRun) -> None:
    """Fetch the observed species' statuses and the missing ancestors (30 per request), fill lineage names.

    A ``/taxa/{id}`` answer embeds the taxon's ``ancestors``: asking for the deepest
    missing ancestor of each lineage first usually brings every higher rank with it,
    so those are skipped when their turn comes.
    """
    asked: set[int] = set()
    # observed species first: their answer carries every status (with places) and their
    # whole lineage, so most missing ancestors arrive with them
    species = db.taxa_without_statuses(con)
    for start in range(0, len(species), TAXA_PER_REQUEST):
        batch = species[start:start + TAXA_PER_REQUEST]
        _fetch_taxa(con, client, run, batch)
        asked.update(batch)
    while True:
        lineages = db.unresolved_lineages(con)
        wanted = {a for lineage in lineages for a in lineage[:-1]}
        missing = wanted - db.known_taxon_ids(con, wanted) - asked
        if not missing:
            break
        depth: dict[int, int] = {}
        for lineage in lineages:
            for level, aid in enumerate(lineage[:-1]):
                if aid in missing:
                    depth[aid] = max(depth.get(aid, 0), level)
        order = sorted(missing, key=lambda i: (-depth[i], i))
        arrived: set[int] = set()
        batch: list[int] = []
        for pos, tid in enumerate(order):
            if tid not in arrived:
                batch.append(tid)
            if len(batch) == TAXA_PER_REQUEST or (pos == len(order) - 1 and batch):
                arrived |= _fetch_taxa(con, client, run, batch)
                asked.update(batch)
                batch = []
    with transaction(con):
        db.resolve_lineages(con)


def _fetch_taxa(con, client: InatClient, run: HarvestRun, batch: list[int]) -> set[int]:
    """One ``/taxa/{ids}`` request stored in one transaction; returns the ids received."""
    records = fetch_taxa(client, run, batch)
    taxa, statuses = [], []
    for record in records:
        for t in taxa_in_record(record):
            taxa.append(parse_taxon(t))
            if t is record:
                statuses.extend(taxon_status_rows(t))
    now = db.utcnow()
    returned = {t["id"] for t in taxa if t["id"] is not None}
    with transaction(con):
        db.upsert_taxa(con, taxa, now)
        db.store_inat_statuses(con, [to_int(r.get("id")) for r in records if to_int(r.get("id"))],
                               statuses, replace=True)
        db.insert_placeholder_taxa(con, set(batch) - returned, now)
        db.mark_statuses_read(con, batch, now)   # complete lists now (or no such taxon): never asked again
        run.stats["taxa_fetched"] += len(returned)
        run.stats["taxa_requests"] += 1
        run.save()
    return returned


def _reconcile(cfg, con, client: InatClient, run: HarvestRun, bbox, bar: HarvestProgress) -> None:
    """List current ids (``only_id``) and soft-delete the stored ones that are gone."""
    state = db.load_state(con, SCOPE_RECONCILE)
    query = query_key(cfg, bbox)
    if state["in_progress"] and state["query"] == query:
        cursor, began = int(state["id_above"] or 0), state["started_at"] or db.utcnow()
    else:
        cursor, began = 0, db.utcnow()
        db.save_state(con, SCOPE_RECONCILE, mode="reconcile", id_above=0, run_id=run.run_id, query=query,
                      started_at=began, in_progress=True)
    params = query_params(cfg, bbox) | {"order_by": "id", "order": "asc", "only_id": "true",
                                        "per_page": IDS_PER_PAGE}
    first = True
    while True:
        data = client.observations(params | {"id_above": cursor})
        ids = sorted(i for i in (_id_of(r) for r in data.get("results") or []) if i is not None)
        total = to_int(data.get("total_results"))
        if first:
            first = False
            bar.start("reconciliation", total or len(ids))
            if cursor == 0:
                stored = con.execute("SELECT count(*) FROM observations WHERE removed_at IS NULL").fetchone()[0]
                listed = total if total is not None else len(ids)
                if stored and listed < RECONCILE_MIN_SHARE * stored:
                    db.save_state(con, SCOPE_RECONCILE, in_progress=False, id_above=None)
                    raise InatError(
                        f"reconciliation: iNaturalist lists {listed} observations but {stored} are stored; "
                        "not marking them removed (check [inaturalist] place_id/project_id)"
                    )
        last = _last_page(ids, total, IDS_PER_PAGE)
        with transaction(con):
            counts = db.mark_absent_removed(con, ids, cursor, None if last else max(ids), began)
            cursor = max(ids) if ids else cursor
            db.save_state(con, SCOPE_RECONCILE, id_above=cursor)
            run.stats["removed"] += counts["removed"]
            run.stats["restored"] += counts["restored"]
            run.stats["unknown_in_reconcile"] += counts["unknown"]
            run.stats["reconcile_pages"] += 1
            run.save()
        bar.page(len(ids))
        if last:
            break
    db.save_state(con, SCOPE_RECONCILE, in_progress=False, id_above=None, last_success_at=began)


def _id_of(record) -> int | None:
    if isinstance(record, dict):
        return to_int(record.get("id"))
    return to_int(record)
