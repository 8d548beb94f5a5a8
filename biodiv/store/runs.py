"""The run history's side file: no-change runs recorded without opening a writer.

Why with the store: a run is the store's history (``runs`` table); a no-change update must
not copy the whole store to write one row (:mod:`biodiv.inat.probe`), so it appends one JSON
line to ``<db>.runs.jsonl`` beside the store, and the next writer folds the lines into
``runs`` (:func:`merge_pending`, idempotent: each line has a ``probe_id``). Readers of the
history (``biodiv status``, the dashboard, the daily request budget) read both through this
module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SUFFIX = ".runs.jsonl"


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
    return merged


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
