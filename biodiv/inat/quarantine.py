"""One odd record never stops the harvest: it is kept aside, the rest of its page is stored.

Why: a page used to be refused whole when one record failed :func:`biodiv.inat.fields.check_record`
(a missing selected field, a wrong type, an unknown geoprivacy); the cursor stayed before it
and every later run asked the same page and failed again, forever. iNaturalist leaves out a
selected field it no longer knows without an error, so one change on its side would have
stopped every copy of biodiv. Now:

* the records that fail are **quarantined** (table ``quarantine``, migration 010: the reason
  naming the field, the record as received reduced to the selection), the others are stored
  and the cursor moves past the whole page; the run ends ``partial`` with the count, and the
  next run asks iNaturalist for the quarantined ids again, by id
  (:func:`biodiv.inat.harvest.retry_quarantined`);
* but a selected field missing from **every** record of a page of two or more is not an odd
  record: it is the API that changed. That stops the run with one line naming the field,
  before anything of the page is stored (quarantining whole pages would empty the harvest
  silently).

Pure: no I/O here, the caller stores what :func:`check_page` sorted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from biodiv.inat.client import InatError
from biodiv.inat.fields import OBSERVATION_FIELDS, REQUIRED, RecordProblem, check_record, project
from biodiv.inat.parse import raw_json, to_int

# A page with fewer records than this cannot tell an API change from one odd record.
API_CHANGE_MIN_RECORDS = 2


class ApiChanged(InatError):
    """A selected field is missing from every record of a page: iNaturalist's API changed."""


@dataclass
class CheckedPage:
    """A page sorted by the checks: ``results`` to store, ``rejected`` to quarantine."""

    results: list[dict]
    total: int | None
    rejected: list[dict] = field(default_factory=list)   # {id, reason, raw, api}

    def ids(self) -> list[int]:
        """Every usable id of the page, stored or rejected: the cursor moves past them all."""
        out = [to_int(r.get("id")) for r in self.results]
        out += [e["id"] for e in self.rejected]
        return [i for i in out if i is not None]


def check_page(data: dict, from_v2: bool, cursor: int, *, listing: bool = True) -> CheckedPage:
    """Sort one answer's records into those to store and those to quarantine.

    Raises :class:`InatError` (nothing of the page stored, the cursor stays) when the answer
    has no results list, when it is empty while ``total_results`` says more remain
    (``listing``: a cursor page), and :class:`ApiChanged` when a selected field is missing
    from every record of a page of at least :data:`API_CHANGE_MIN_RECORDS`."""
    results = data.get("results")
    total = to_int(data.get("total_results"))
    if results is None or not isinstance(results, list):
        raise InatError(f"iNaturalist answered a page without a results list after id {cursor}; "
                        "nothing of it was stored, the next run starts again there")
    if listing and not results and total:
        raise InatError(f"iNaturalist answered an empty page while total_results = {total} after id {cursor}; "
                        "nothing was skipped: the next run asks again from there")
    good: list[dict] = []
    rejected: list[dict] = []
    for record in results:
        try:
            check_record(record, require_all=from_v2)
        except RecordProblem as exc:
            rejected.append(_entry(record, str(exc), from_v2))
        else:
            good.append(record)
    if rejected and len(results) >= API_CHANGE_MIN_RECORDS:
        gone = missing_everywhere(results, from_v2)
        if gone:
            raise ApiChanged(
                f"iNaturalist no longer sends the selected field '{gone[0]}' (missing from all "
                f"{len(results)} records of the page after id {cursor}): its API changed and biodiv "
                "needs an update; nothing of that page was stored"
            )
    return CheckedPage(good, total, rejected)


def missing_everywhere(results: list[Any], from_v2: bool) -> list[str]:
    """The selected top-level fields absent from every record (v1 records may omit the
    optional ones: only :data:`REQUIRED` counts for them)."""
    records = [r for r in results if isinstance(r, dict)]
    if not records or len(records) < len(results):
        return []
    wanted = list(OBSERVATION_FIELDS) if from_v2 else list(REQUIRED)
    return [key for key in wanted if all(key not in r for r in records)]


def _entry(record: Any, reason: str, from_v2: bool) -> dict:
    """A quarantine row: the id when there is a usable one, the reason, the record as JSON."""
    oid = to_int(record.get("id")) if isinstance(record, dict) else None
    if isinstance(record, dict) and not isinstance(record.get("id"), int):
        oid = None            # an id of the wrong type is not one to ask for again
    try:
        raw = raw_json(project(record)).decode("utf-8")
    except (TypeError, ValueError, AttributeError):
        raw = repr(record)[:10_000]
    return {"id": oid, "reason": reason, "raw": raw, "api": "v2" if from_v2 else "v1"}
