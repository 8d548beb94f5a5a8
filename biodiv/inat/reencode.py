"""Existing stores upgraded without a new harvest: whole v1 raw records -> the selection.

Why a Python step after migration 006 rather than SQL: the raw records are zlib blobs,
which DuckDB cannot decompress. Migration 006 adds the columns and records in
``meta.observation_raw_format`` whether rows of the old format exist ('v1-full'); this
step then re-encodes each of them to :func:`biodiv.inat.fields.project` (compressed with
the preset dictionary) and fills the new columns from the full record it had, in
batches of a few thousand rows, each its own transaction (an interrupted upgrade goes on
where it stopped: only legacy blobs are read again). It runs from ``biodiv migrate`` and
at the start of every harvest; once done it is a single ``meta`` lookup.
"""

from __future__ import annotations

import json
from typing import Callable

from biodiv.inat.fields import project
from biodiv.inat.parse import compress_text, decompress_text, is_legacy_blob, parse_observation, raw_json
from biodiv.store.database import transaction

FORMAT_KEY = "observation_raw_format"
LEGACY, CURRENT = "v1-full", "selection-1"
BATCH = 5_000
NEW_COLUMNS = ("user_name", "time_zone", "photo_attribution", "identified_by", "identified_at", "description")


def raw_format(con) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [FORMAT_KEY]).fetchone()
    return row[0] if row else None


def reencode_raw(con, on_batch: Callable[[int], None] | None = None) -> dict[str, int]:
    """Re-encode every legacy ``observation_raw`` blob; returns ``rows``, ``bytes_before``,
    ``bytes_after`` (0 rows when the store is already in the current format)."""
    stats = {"rows": 0, "bytes_before": 0, "bytes_after": 0}
    if raw_format(con) != LEGACY:
        return stats
    cursor = -1
    while True:
        batch = con.execute(
            "SELECT id, raw FROM observation_raw WHERE id > ? ORDER BY id LIMIT ?", [cursor, BATCH]
        ).fetchall()
        if not batch:
            break
        cursor = batch[-1][0]
        ids, blobs, rows = [], [], []
        for oid, blob in batch:
            if not is_legacy_blob(blob):
                continue
            canon = project(json.loads(decompress_text(blob)))
            row = parse_observation(canon)
            ids.append(oid)
            blobs.append(compress_text(raw_json(canon)))
            rows.append([row[c] for c in NEW_COLUMNS])
            stats["bytes_before"] += len(blob)
            stats["bytes_after"] += len(blobs[-1])
        if ids:
            with transaction(con):
                con.execute(
                    "UPDATE observation_raw SET raw = n.raw FROM (SELECT unnest(?::BIGINT[]) AS id, unnest(?) AS raw) n "
                    "WHERE observation_raw.id = n.id",
                    [ids, blobs],
                )
                cols = list(zip(*rows))
                con.execute(
                    f"""UPDATE observations SET {', '.join(f'{c} = n.{c}' for c in NEW_COLUMNS)}
                        FROM (SELECT unnest($1::BIGINT[]) AS id, unnest($2::VARCHAR[]) AS user_name,
                                     unnest($3::VARCHAR[]) AS time_zone, unnest($4::VARCHAR[]) AS photo_attribution,
                                     unnest($5::VARCHAR[]) AS identified_by,
                                     unnest($6::TIMESTAMPTZ[]) AS identified_at,
                                     unnest($7::VARCHAR[]) AS description) n
                        WHERE observations.id = n.id""",
                    [ids, *[list(c) for c in cols]],
                )
            stats["rows"] += len(ids)
            if on_batch:
                on_batch(stats["rows"])
    con.execute("UPDATE meta SET value = ? WHERE key = ?", [CURRENT, FORMAT_KEY])
    return stats
