"""A no-change update costs one request and writes a few hundred bytes, not the whole file.

Why: a writer works on a copy of the published file (biodiv.store.database: readers
never block, a failed run publishes nothing), so opening one costs a copy of the whole
store (57 MB at 3,000 real v1 records). Most scheduled updates find nothing new. So an
incremental ``harvest``/``update`` first asks iNaturalist the first page of the run on a
**read-only** connection; when the answer says nothing changed
(``total_results = 0``), the run is recorded in a small side file next to the store,
``<db>.runs.jsonl`` (one JSON line: the run as ``runs`` would hold it), and no writer is
opened. When something changed, the writer is opened and the harvest goes on with the
page already received (no request asked twice).

The side file is merged into ``runs`` by the next writer (:func:`merge_pending`, idempotent:
each line has a ``probe_id``), and lines already in the published file are dropped when
the next probe rewrites it. ``biodiv status`` and the daily budget count unmerged lines too.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from biodiv.inat import db
from biodiv.inat.client import InatClient, RequestCounter
from biodiv.inat.harvest import SCOPE_OBSERVATIONS, HarvestRun, fetch_observations, written_bytes
from biodiv.inat.query import query_key, query_params
from biodiv.store.runs import merged_ids, read_pending, write_pending

@dataclass
class Probe:
    """The first page of an incremental run, asked before any writer exists."""

    data: dict
    from_v2: bool
    began: Any          # datetime: the run's start (becomes last_success_at)
    since: Any          # datetime: updated_since asked
    counter: RequestCounter
    stats: dict = field(default_factory=dict)   # api, log (a v1 fallback)


def probe(cfg, store, attach: bool = True, needs_writer=None) -> Probe | dict | None:
    """Ask the first page of an incremental run without a writer.

    Returns None when a probe does not apply (no published store, a working copy or a run
    in progress to resume, no successful run yet, a store to re-encode, a missing
    territory outline, an attach pending, or ``needs_writer(reader)`` true); the no-change run's summary (a dict) when nothing changed; else
    the :class:`Probe` to hand to :func:`biodiv.inat.harvest.harvest`.
    """
    from biodiv.inat.reencode import LEGACY, raw_format

    written_before = written_bytes()
    if not store.exists() or store.wip_path.exists():
        return None
    started = time.monotonic()
    import duckdb

    # a plain in-memory instance: the probe reads no geometry, and loading spatial costs ~0.3 s
    con = store.reader(duckdb.connect(":memory:"))
    try:
        state = db.load_state(con, SCOPE_OBSERVATIONS)
        if state["in_progress"] or state["last_success_at"] is None or raw_format(con) == LEGACY:
            return None
        if con.execute("SELECT EXISTS (SELECT 1 FROM observations WHERE needs_attach AND removed_at IS NULL)"
                       ).fetchone()[0] and attach:
            return None       # an attach is pending: the writer has work anyway
        if needs_writer is not None and needs_writer(con):
            return None
        try:
            bbox = db.territory_bbox(con)
        except db.TerritoryMissing:
            return None
        if state["query"] != query_key(cfg, bbox):
            return None       # another territory's cursor: the writer reads the new query in full
        if db.quarantine_count(con) and db.quarantined_ids(con):
            return None       # quarantined records to ask again by id: the writer has work anyway
        today = db.utcnow().date()
        pending = read_pending(store.path)
        merged = merged_ids(con, pending)
        spent = db.requests_on(con, today) + sum(
            int((e.get("stats") or {}).get("requests_by_day", {}).get(today.isoformat(), 0))
            for e in pending if e["probe_id"] not in merged)
    finally:
        con.close()
    per_day = int(cfg.inaturalist.per_day)
    if spent >= per_day:
        return None          # the writer's run records the budget stop, as always
    began = db.utcnow()
    since = state["last_success_at"] - timedelta(days=float(cfg.inaturalist.overlap_days))
    counter = RequestCounter(limit=max(per_day - spent, 0))
    run = HarvestRun(cfg, None, None, counter)
    counter.on_sent = run.count_request
    client = InatClient(cfg, counter=counter)
    try:
        params = query_params(cfg, bbox) | {"order_by": "id", "order": "asc", "per_page": 200, "locale": "fr",
                                            "updated_since": since.isoformat(), "id_above": 0}
        data, from_v2 = fetch_observations(client, run, params)
    finally:
        client.close()
    results = data.get("results")
    if results or data.get("total_results") or not isinstance(results, list):
        return Probe(data, from_v2, began, since, counter, {"api": run.stats["api"], "log": list(run.log)})
    # nothing changed: one line in the side file, no writer
    stats = run.snapshot() | {"mode": "incremental", "no_change": True,
                              "duration_s": round(time.monotonic() - started, 3)}
    entry = {"probe_id": uuid.uuid4().hex, "kind": "harvest", "status": "ok", "message": None,
             "started_at": began.isoformat(), "finished_at": db.utcnow().isoformat(),
             "params": {"full": False, "reconcile": False, "api_url": cfg.inat_api_url, "bbox": list(bbox)},
             "stats": stats}
    keep = [e for e in pending if e["probe_id"] not in merged]
    stats["bytes_written"] = max(written_bytes() - written_before, 0)
    lines = [json.dumps(e, default=str) for e in keep]
    new_line = json.dumps(entry, default=str)
    stats["bytes_written"] += len(new_line) + 1 + (sum(len(x) + 1 for x in lines) if merged else 0)
    new_line = json.dumps(entry, default=str)
    write_pending(store.path, lines, new_line, rewrite=bool(merged))
    summary = dict(stats, status="ok", message=None, run_id=None, budget_per_day=per_day,
                   requests_today=spent + counter.sent)
    return summary
