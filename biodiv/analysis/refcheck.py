"""A reference file is checked as a whole before it replaces the stored list.

Why: a parser that keeps what it can read publishes a damaged file as if it were a new
edition. Seen: the protected-species list cut in half (taxa with a status 14 → 13), the
same file saved with ``,`` instead of ``;`` (14 → 3, the vernacular names counted as
"skipped statuses"), a file with a damaged block, all imported with exit 0. Two checks:

1. **The file itself** (:class:`RowAudit`, while it is parsed): every row has the header's
   number of fields, a numeric CD_REF, no control characters and no text decoded twice
   (UTF-8 read as Windows-1252); and the rows account for the file's lines (a stray quote
   swallows thousands of lines into one field). A bad row (more than :data:`BAD_ROW_SHARE`
   of them: none, since official files are generated) refuses the file, naming the first.
2. **What it would change** (:func:`compare_with_stored`, on a reader, before any writer
   opens): the reference taxa gained and lost per source, against the list stored now. A
   loss above :data:`LOSS_THRESHOLD` of a source's taxa is refused unless ``--force``:
   an official list loses a few taxa between editions, not a tenth of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import duckdb

from biodiv.analysis.reffiles import RefError

BAD_ROW_SHARE = 0.0            # an official file is generated: one damaged row means a damaged file
SWALLOWED_LINE_SHARE = 0.01    # lines inside quoted fields, beyond this share of the file's lines
LOSS_THRESHOLD = 0.10          # reference taxa lost by a source, beyond this share: --force needed

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# UTF-8 read as Windows-1252: "é" becomes "Ã©", "è" "Ã¨", "à" "Ã\xa0"...
_DOUBLE_DECODED = re.compile(r"Ã[\u00a0-\u00bf\u0152-\u0192\u2013-\u203a]|â€")


class RowAudit:
    """Iterate over a reference file's rows (a ``csv.DictReader``) and note every bad one.

    ``check`` raises :class:`RefError` once the rows are read."""

    def __init__(self, rows: Iterator[dict], header: list[str], key: str = "CD_REF"):
        self._rows = rows
        self.width = len(header)
        self.key = key
        self.n_rows = 0
        self.bad: dict[str, int] = {}
        self.first_bad: dict[str, int] = {}

    def __iter__(self) -> Iterator[dict]:
        for row in self._rows:
            self.n_rows += 1
            problem = self._problem(row)
            if problem is not None:
                self.bad[problem] = self.bad.get(problem, 0) + 1
                self.first_bad.setdefault(problem, self.n_rows + 1)   # file line, header = 1
            yield row

    def _problem(self, row: dict) -> str | None:
        if None in row:
            return f"more fields than the header's {self.width} (wrong separator?)"
        if any(v is None for v in row.values()):
            return f"fewer fields than the header's {self.width} (wrong separator or cut row?)"
        key = str(row.get(self.key) or "").strip()
        if key and not key.isdigit():           # an empty one is skipped by the parsers
            return f"a {self.key} that is not a number"
        text = "\t".join(row.values())          # one search per row: the BDC file has ~1M rows
        if _CONTROL.search(text):
            return "control characters (damaged bytes)"
        if _DOUBLE_DECODED.search(text):
            return "text in two encodings (UTF-8 read as Windows-1252)"
        return None

    def check(self, path: Path | str, lines_read: int | None = None) -> None:
        """Refuse the file when too many rows are bad, or when its lines are not its rows.

        ``lines_read``: the lines the CSV reader consumed for the rows (``line_num``)."""
        n_bad = sum(self.bad.values())
        if n_bad and n_bad > BAD_ROW_SHARE * max(self.n_rows, 1):
            worst = max(self.bad, key=self.bad.get)
            raise RefError(
                f"{path}: {n_bad} of {self.n_rows} rows are damaged ({self.bad[worst]} with {worst}, first at "
                f"line {self.first_bad[worst]}): nothing was imported; check the file (separator ';', "
                "whole download) and import it again"
            )
        if lines_read is not None and self.n_rows:
            swallowed = lines_read - self.n_rows
            if swallowed > max(1, SWALLOWED_LINE_SHARE * lines_read):
                raise RefError(
                    f"{path}: its {lines_read} lines hold only {self.n_rows} rows (a quote left open swallows "
                    f"{swallowed} lines): nothing was imported; check the file and import it again"
                )


@dataclass
class ReferenceChange:
    """What importing a list would change, per source: reference taxa before, gained, lost."""

    before: dict[str, int] = field(default_factory=dict)
    gained: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{s}: {self.before.get(s, 0)} -> {self.before.get(s, 0) + self.gained.get(s, 0) - self.lost.get(s, 0)} "
                 f"reference taxa (+{self.gained.get(s, 0)}, -{self.lost.get(s, 0)})"
                 for s in sorted(set(self.before) | set(self.gained))]
        return "; ".join(parts)

    def too_large_losses(self, threshold: float = LOSS_THRESHOLD) -> list[str]:
        return [s for s, n in self.lost.items() if n and n > threshold * self.before.get(s, 0)]


def compare_with_stored(con: duckdb.DuckDBPyConnection, new_taxa: Iterable[tuple[str, str]]) -> ReferenceChange:
    """The reference taxa ``(source, ref_id)`` of a new list against the stored list of the
    same sources (read only; ``con`` may be a reader)."""
    new: dict[str, set[str]] = {}
    for source, ref_id in new_taxa:
        new.setdefault(source, set()).add(str(ref_id))
    change = ReferenceChange()
    for source, ids in new.items():
        stored = {r[0] for r in con.execute(
            "SELECT DISTINCT ref_id FROM ref_statuses WHERE source = $s", {"s": source}).fetchall()}
        change.before[source] = len(stored)
        change.gained[source] = len(ids - stored)
        change.lost[source] = len(stored - ids)
    return change


def refuse_large_loss(change: ReferenceChange, path: Path | str, force: bool,
                      threshold: float = LOSS_THRESHOLD) -> None:
    """Refuse, unless ``force``, a list that would drop more than ``threshold`` of a source's
    stored reference taxa (one line saying how many and how to go on)."""
    sources = change.too_large_losses(threshold)
    if not sources or force:
        return
    detail = ", ".join(f"{s} loses {change.lost[s]} of {change.before[s]} reference taxa" for s in sources)
    raise RefError(
        f"{path}: importing it would drop more than {threshold:.0%} of the stored list ({detail}): nothing was "
        "changed; check the file is complete, or run again with --force if this edition really is shorter"
    )
