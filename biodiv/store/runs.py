"""The run history: the ``runs`` table and the two side files that wait for a writer.

Why side files at all: a writer works on a copy of the whole store (biodiv.store.database),
so recording a run that changed nothing must not open one. Two kinds of runs are therefore
written beside the store and folded into ``runs`` by the next writer
(:func:`merge_pending`, idempotent):

* ``<db>.runs.jsonl``: no-change updates (:mod:`biodiv.inat.probe`), one JSON line each,
  keyed by ``probe_id``;
* ``<db>.live.json``: the last round of ``dashboard --live`` (:mod:`biodiv.dashboard.live`),
  whose failure (no network) never reached a writer; a failed round is folded in as a
  failed ``update`` run, keyed by its attempt time.

Every reader of the history (``biodiv status``, the dashboard's refresh line, the daily
request budget) goes through this module, so the history has one owner, with the store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SUFFIX = ".runs.jsonl"
LIVE_SUFFIX = ".live.json"


def pending_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + SUFFIX)


def read_pending(db_path: Path) -> list[dict]:
    """Unmerged no-change runs of the store at ``db_path`` (unreadable lines skipped)."""
    path = pending_path(db_path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("probe_id"):
            out.append(entry)
    return out


def pending_requests_on(db_path: Path, day) -> int:
    key = day.isoformat()
    return sum(int((e.get("stats") or {}).get("requests_by_day", {}).get(key, 0)) for e in read_pending(db_path))


def merge_pending(con, db_path: Path) -> int:
    """Insert the side file's runs into ``runs`` (those not there yet); returns how many."""
    merged = 0
    for entry in read_pending(db_path):
        exists = con.execute(
            "SELECT count(*) FROM runs WHERE json_extract_string(params, '$.probe_id') = ?", [entry["probe_id"]]
        ).fetchone()[0]
        if exists:
            continue
        con.execute(
            "INSERT INTO runs (kind, started_at, finished_at, status, params, stats, message) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [entry.get("kind", "harvest"), entry["started_at"], entry["finished_at"], entry.get("status", "ok"),
             json.dumps(dict(entry.get("params") or {}, probe_id=entry["probe_id"])),
             json.dumps(entry.get("stats") or {}), entry.get("message")],
        )
        merged += 1
    return merged + _merge_live_failure(con, db_path)


def live_status_path(db_path: Path) -> Path:
    return Path(db_path).with_name(Path(db_path).name + LIVE_SUFFIX)


def read_live_status(db_path: Path) -> dict | None:
    """The last live round's outcome (attempt_at, ok_at, status, message), or None."""
    try:
        out = json.loads(live_status_path(db_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return out if isinstance(out, dict) else None


def write_live_status(db_path: Path, status: dict) -> None:
    path = live_status_path(db_path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(status), encoding="utf-8")
    tmp.replace(path)


def _merge_live_failure(con, db_path: Path) -> int:
    """Record the last live round in ``runs`` when it failed (once per attempt)."""
    live = read_live_status(db_path) or {}
    attempt = live.get("attempt_at")
    if live.get("status") != "failed" or not isinstance(attempt, str):
        return 0
    exists = con.execute(
        "SELECT count(*) FROM runs WHERE json_extract_string(params, '$.live_attempt_at') = ?", [attempt]
    ).fetchone()[0]
    if exists:
        return 0
    con.execute(
        "INSERT INTO runs (kind, started_at, finished_at, status, params, stats, message) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ["update", attempt, attempt, "failed",
         json.dumps({"live_attempt_at": attempt, "kinds": list(live.get("kinds") or [])}), "{}",
         str(live.get("message") or "")[:500]],
    )
    return 1


def merged_ids(con, entries: list[dict]) -> set[str]:
    ids = [e["probe_id"] for e in entries]
    if not ids:
        return set()
    return {r[0] for r in con.execute(
        "SELECT json_extract_string(params, '$.probe_id') FROM runs "
        "WHERE json_extract_string(params, '$.probe_id') IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()}


def write_pending(db_path: Path, kept: list[str], new_line: str, rewrite: bool) -> None:
    path = pending_path(db_path)
    if rewrite:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(x + "\n" for x in kept + [new_line]), encoding="utf-8")
        os.replace(tmp, path)
    else:
        with open(path, "a", encoding="utf-8") as f:
            f.write(new_line + "\n")
