"""Official status lists (protected and red-listed species) and their matching to taxa.

Why a stored reference list: the official lists (INPN/TAXREF) are keyed by TAXREF CD_REF
and scientific names, iNaturalist by its own ids. We keep the imported list itself
(``ref_statuses``, ``ref_names``, migration 003) and match it against ``taxa.name`` with
:func:`match_statuses`, which the harvester calls again after fetching new taxa, so that a
species seen for the first time next year is flagged without re-importing anything.

Matching is by normalised scientific name (SQL macro ``name_key``): the accepted TAXREF name
first, then synonyms. A name shared by several reference taxa is recorded as *ambiguous*
with its candidates and gets no status: never guessed.

Two formats are read (detected from the header):

* ``protection_list``: the national list of protected species, ``;``-separated, one row per
  CD_REF, ``nomsScientifiques`` = accepted name then synonyms (comma-separated),
  ``CD_TYPE_STATUTS`` = PN, PR, PD, POM (comma-separated);
* ``bdc_statuts``: INPN "Base de connaissance statuts" (``BDC_STATUTS_*.csv``, or the zip
  that holds it): one row per (name, status), with CD_NOM, CD_REF, LB_NOM, CD_TYPE_STATUT,
  LB_TYPE_STATUT, CODE_STATUT, LABEL_STATUT, LB_ADM_TR. Protections (PN/PR/PD/POM) and red
  lists (LRN/LRR/LRE/LRM, 'Liste rouge ...') are kept; other statuses are counted and skipped.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import duckdb
import pandas as pd

from biodiv.analysis.refcheck import RowAudit
from biodiv.analysis.reffiles import RefError, check_file, file_sha256  # noqa: F401  (re-exported: refs.RefError is public)
from biodiv.analysis.taxref import match_taxref

PROTECTION_SOURCE = "inpn_protection"
REDLIST_SOURCE = "inpn_redlist"

PROTECTION_CODES = {
    "PN": "Protection nationale",
    "PR": "Protection régionale",
    "PD": "Protection départementale",
    "POM": "Protection outre-mer",
}
REDLIST_TYPES = {"LRN", "LRR", "LRE", "LRM"}
THREATENED_CODES = {"CR", "EN", "VU", "CR*", "CR (PE)", "CR(PE)"}

# INPN "BDC statuts" archive (TAXREF v18). Overridable: sources.inpn_statuts_url in the
# config, $BIODIV_INPN_STATUTS_URL, or `biodiv refs fetch --url`.
DEFAULT_STATUTS_URL = "https://inpn.mnhn.fr/docs-web/docs/download/232324"
STATUTS_URL_ENV = "BIODIV_INPN_STATUTS_URL"


@dataclass(frozen=True)
class RefName:
    source: str
    ref_id: str
    name: str
    accepted: bool
    vernacular_fr: str | None = None
    ref_group: str | None = None


@dataclass(frozen=True)
class RefStatus:
    source: str
    ref_id: str
    kind: str
    code: str
    label: str | None
    scope: str


@dataclass
class RefList:
    """A parsed reference file."""

    format: str
    names: list[RefName] = field(default_factory=list)
    statuses: list[RefStatus] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)   # status codes not kept -> rows

    @property
    def sources(self) -> list[str]:
        return sorted({s.source for s in self.statuses})


# ---------------------------------------------------------------------------
# Parsing (pure)
# ---------------------------------------------------------------------------

PROTECTION_COLUMNS = {"CD_REF", "nomsScientifiques", "CD_TYPE_STATUTS"}
BDC_COLUMNS = {"CD_REF", "LB_NOM", "CODE_STATUT"}


def detect_format(columns: Iterable[str]) -> str:
    cols = {c.strip() for c in columns}
    if PROTECTION_COLUMNS <= cols:
        return "protection_list"
    if BDC_COLUMNS <= cols and ({"CD_TYPE_STATUT", "LB_TYPE_STATUT"} & cols):
        return "bdc_statuts"
    raise RefError(
        "unrecognised reference file: expected the INPN protected-species list "
        f"(columns {', '.join(sorted(PROTECTION_COLUMNS))}) or INPN BDC statuts "
        "(columns CD_REF, LB_NOM, CD_TYPE_STATUT, CODE_STATUT...); "
        f"found {', '.join(sorted(cols)[:8]) or 'no columns'}"
    )


def _clean(value: str | None) -> str:
    return re.sub(r"\s+", " ", (value or "").strip())


def parse_protection_list(rows: Iterable[dict]) -> RefList:
    """Rows of the national protected-species list (one row per CD_REF)."""
    out = RefList("protection_list")
    seen_names: set[tuple[str, str]] = set()
    seen_status: set[tuple[str, str]] = set()
    for row in rows:
        ref_id = _clean(row.get("CD_REF"))
        if not ref_id:
            continue
        names = [_clean(n) for n in (row.get("nomsScientifiques") or "").split(",")]
        names = [n for n in names if n]
        vernacular = _clean((row.get("nomsVernaculaires") or "").split(",")[0]) or None
        group = _clean(row.get("classification")) or None
        kept = 0
        for code in (c.strip() for c in (row.get("CD_TYPE_STATUTS") or "").split(",")):
            if not code:
                continue
            if code not in PROTECTION_CODES:
                out.skipped[code] += 1
                continue
            if (ref_id, code) in seen_status:
                continue
            seen_status.add((ref_id, code))
            scope = {"PN": "France", "POM": "Outre-mer"}.get(code, "")
            label = PROTECTION_CODES[code] + ("" if scope else " (territoire non précisé par la liste)")
            out.statuses.append(RefStatus(PROTECTION_SOURCE, ref_id, "protected", code, label, scope))
            kept += 1
        if not kept:
            continue  # no status of ours: its names would only add noise to matching
        for i, name in enumerate(names):
            if (ref_id, name) in seen_names:
                continue
            seen_names.add((ref_id, name))
            out.names.append(RefName(PROTECTION_SOURCE, ref_id, name, i == 0, vernacular, group))
    return out


def parse_bdc_statuts(rows: Iterable[dict], scopes: Iterable[str] | None = None) -> RefList:
    """Rows of INPN BDC statuts; ``scopes`` keeps only these LB_ADM_TR (e.g. Occitanie).

    Names are gathered from every row of a CD_REF (even rows whose status is skipped), so
    that a taxon cited under a synonym in one list is still known by its accepted name.
    """
    keep_scopes = {s.strip().lower() for s in scopes} if scopes else None
    out = RefList("bdc_statuts")
    names: dict[str, dict[str, bool]] = {}          # ref_id -> name -> accepted
    groups: dict[str, str] = {}
    seen_status: set[tuple[str, str, str, str]] = set()
    for row in rows:
        ref_id = _clean(row.get("CD_REF"))
        if not ref_id:
            continue
        name = _clean(row.get("LB_NOM"))
        if name:
            cd_nom = _clean(row.get("CD_NOM"))
            accepted = not cd_nom or cd_nom == ref_id
            known = names.setdefault(ref_id, {})
            known[name] = known.get(name, False) or accepted
        if _clean(row.get("GROUP2_INPN")):
            groups.setdefault(ref_id, _clean(row.get("GROUP2_INPN")))
        status = _bdc_status(row, ref_id, out.skipped)
        if status is None:
            continue
        if keep_scopes is not None and status.scope.lower() not in keep_scopes:
            out.skipped[f"{status.code} ({status.scope})"] += 1
            continue
        key = (status.source, ref_id, status.code, status.scope)
        if key not in seen_status:
            seen_status.add(key)
            out.statuses.append(status)
    sources_of: dict[str, set[str]] = {}
    for st in out.statuses:
        sources_of.setdefault(st.ref_id, set()).add(st.source)
    for ref_id, srcs in sources_of.items():
        for source in sorted(srcs):
            for name, accepted in names.get(ref_id, {}).items():
                out.names.append(RefName(source, ref_id, name, accepted, None, groups.get(ref_id)))
    return out


def _bdc_status(row: dict, ref_id: str, skipped: Counter) -> RefStatus | None:
    """The protection or red-list status of one BDC row, or None (counted in ``skipped``)."""
    type_code = _clean(row.get("CD_TYPE_STATUT")).upper()
    type_label = _clean(row.get("LB_TYPE_STATUT"))
    code = _clean(row.get("CODE_STATUT"))
    label_statut = _clean(row.get("LABEL_STATUT"))
    scope = _clean(row.get("LB_ADM_TR"))
    if type_code in PROTECTION_CODES or (not type_code and type_label.lower().startswith("protection")):
        status_code = type_code or _protection_code_from_label(type_label)
        if not status_code:
            skipped[type_label or "?"] += 1
            return None
        label = type_label or PROTECTION_CODES[status_code]
        if label_statut:
            label = f"{label}: {label_statut}"
        return RefStatus(PROTECTION_SOURCE, ref_id, "protected", status_code, label, scope)
    if type_code in REDLIST_TYPES or type_label.lower().startswith("liste rouge"):
        if not code:
            skipped[type_code or type_label] += 1
            return None
        status_code = code.upper()
        kind = "threatened" if status_code in THREATENED_CODES else "other"
        label = f"{type_label or type_code}: {label_statut or status_code}"
        return RefStatus(REDLIST_SOURCE, ref_id, kind, status_code, label, scope)
    skipped[type_code or type_label or "?"] += 1
    return None


def _protection_code_from_label(label: str) -> str:
    low = label.lower()
    for word, code in (("nationale", "PN"), ("régionale", "PR"), ("regionale", "PR"),
                       ("départementale", "PD"), ("departementale", "PD")):
        if word in low:
            return code
    return ""


# ---------------------------------------------------------------------------
# Reading files (I/O)
# ---------------------------------------------------------------------------

ENCODINGS = ("utf-8-sig", "cp1252")


def _pick_zip_member(zf: zipfile.ZipFile, where: str) -> str:
    csvs = [i for i in zf.infolist() if i.filename.lower().endswith((".csv", ".txt")) and not i.is_dir()]
    if not csvs:
        raise RefError(f"{where}: the zip holds no CSV file")
    statuts = [i for i in csvs if re.search(r"bdc_statuts_\d+", i.filename, re.I)]
    chosen = statuts or csvs
    return max(chosen, key=lambda i: i.file_size).filename


@contextmanager
def open_rows(path: Path, encoding: str) -> Iterator[tuple[list[str], Iterator[dict]]]:
    """Header and streamed rows of a reference CSV (or of the CSV inside a zip).

    Streamed, because the BDC statuts CSV is hundreds of MB: it is never held in memory.
    """
    path = check_file(path, "reference file")
    with ExitStack() as stack:
        try:
            if zipfile.is_zipfile(path):
                zf = stack.enter_context(zipfile.ZipFile(path))
                raw = stack.enter_context(zf.open(_pick_zip_member(zf, str(path))))
            else:
                raw = stack.enter_context(open(path, "rb"))
        except (zipfile.BadZipFile, OSError) as exc:
            raise RefError(f"{path}: cannot read ({exc})") from None
        text = stack.enter_context(io.TextIOWrapper(raw, encoding=encoding, newline=""))
        first = text.readline()
        if not first.strip():
            raise RefError(f"{path} is empty")
        delimiter = max((";", ",", "\t"), key=first.count)
        header = [h.strip() for h in next(csv.reader([first], delimiter=delimiter))]
        yield header, csv.DictReader(text, fieldnames=header, delimiter=delimiter)


def read_reference(path: Path, scopes: Iterable[str] | None = None) -> RefList:
    """Parse a reference file of either format (see module docstring); UTF-8 or Windows-1252."""
    for encoding in ENCODINGS:
        try:
            with open_rows(path, encoding) as (header, rows):
                fmt = detect_format(header)
                audit = RowAudit(rows, header)   # the file as a whole (biodiv/analysis/refcheck.py)
                if fmt == "protection_list":
                    ref = parse_protection_list(audit)
                else:
                    ref = parse_bdc_statuts(audit, scopes)
                audit.check(path, rows.line_num)
            break
        except UnicodeDecodeError:
            continue  # restart the stream with the next encoding
        except csv.Error as exc:
            raise RefError(f"{path}: malformed CSV ({exc})") from None
    else:
        raise RefError(f"{path}: cannot decode the file (neither UTF-8 nor Windows-1252)")
    if not ref.statuses:
        raise RefError(f"{path}: no protection or red-list status found in the file")
    return ref


# ---------------------------------------------------------------------------
# Storing and matching (SQL)
# ---------------------------------------------------------------------------

@dataclass
class MatchReport:
    n_taxa: int = 0                      # taxa with a name in the database
    n_matched: int = 0                   # (taxon, source) pairs matched to one reference taxon
    n_via_synonym: int = 0               # ... of which through a synonym
    n_taxa_with_status: int = 0          # taxa that now carry an official status
    ambiguous: list[tuple[int, str, str, list[str]]] = field(default_factory=list)
    # (taxon_id, taxon name, source, candidate CD_REFs)


def store_reference(con: duckdb.DuckDBPyConnection, ref: RefList, origin: str, sha256: str | None) -> None:
    """Replace the stored reference rows of the sources present in ``ref``."""
    sources = ref.sources
    names = pd.DataFrame(
        [(n.source, n.ref_id, n.name, n.accepted, n.vernacular_fr, n.ref_group)
         for n in ref.names if n.source in sources],
        columns=["source", "ref_id", "name", "accepted", "vernacular_fr", "ref_group"],
    )
    statuses = pd.DataFrame(
        [(s.source, s.ref_id, s.kind, s.code, s.label, s.scope) for s in ref.statuses],
        columns=["source", "ref_id", "kind", "code", "label", "scope"],
    )
    con.register("_ref_names_df", names)
    con.register("_ref_statuses_df", statuses)
    try:
        con.execute("DELETE FROM ref_names WHERE source IN (SELECT unnest($s))", {"s": sources})
        con.execute("DELETE FROM ref_statuses WHERE source IN (SELECT unnest($s))", {"s": sources})
        con.execute(
            "INSERT INTO ref_names SELECT source, ref_id, name, name_key(name), accepted, "
            "vernacular_fr, ref_group FROM _ref_names_df"
        )
        con.execute("INSERT INTO ref_statuses SELECT * FROM _ref_statuses_df")
        for source in sources:
            n_taxa = len({s.ref_id for s in ref.statuses if s.source == source})
            n_statuses = sum(1 for s in ref.statuses if s.source == source)
            con.execute(
                "INSERT OR REPLACE INTO ref_imports (source, file, format, sha256, n_taxa, n_statuses, imported_at) "
                "VALUES ($source, $file, $format, $sha, $n_taxa, $n_statuses, current_timestamp)",
                {"source": source, "file": origin, "format": ref.format, "sha": sha256,
                 "n_taxa": n_taxa, "n_statuses": n_statuses},
            )
    finally:
        con.unregister("_ref_names_df")
        con.unregister("_ref_statuses_df")


_MATCH_SQL = """
INSERT INTO ref_matches (taxon_id, source, status, via, ref_id, candidates, taxon_name)
WITH tk AS (
    SELECT id, name, name_key(name) AS k FROM taxa WHERE name IS NOT NULL AND name <> ''
), cand AS (
    SELECT tk.id AS taxon_id, tk.name, n.source, n.ref_id, n.accepted
    FROM tk JOIN ref_names n ON n.name_key = tk.k
), per AS (
    SELECT taxon_id, source, any_value(name) AS taxon_name,
           coalesce(list(DISTINCT ref_id ORDER BY ref_id) FILTER (WHERE accepted), []) AS acc,
           coalesce(list(DISTINCT ref_id ORDER BY ref_id) FILTER (WHERE NOT accepted), []) AS syn
    FROM cand GROUP BY taxon_id, source
)
SELECT taxon_id, source,
       CASE WHEN len(acc) = 1 OR (len(acc) = 0 AND len(syn) = 1) THEN 'matched' ELSE 'ambiguous' END,
       CASE WHEN len(acc) > 0 THEN 'accepted' ELSE 'synonym' END,
       CASE WHEN len(acc) = 1 THEN acc[1] WHEN len(acc) = 0 AND len(syn) = 1 THEN syn[1] END,
       CASE WHEN len(acc) > 1 THEN acc WHEN len(acc) = 0 AND len(syn) > 1 THEN syn END,
       taxon_name
FROM per
"""


def match_statuses(con: duckdb.DuckDBPyConnection) -> MatchReport:
    """Match every taxon to the stored reference lists and rewrite their official statuses.

    Idempotent; rows of other sources (``inaturalist``) are left alone. Call it on a
    read-write connection (e.g. inside ``Store.write()``), after new taxa are stored. When a
    TAXREF is stored, the taxa's TAXREF codes are relinked too (:mod:`biodiv.analysis.taxref`).
    """
    # only the sources whose list is stored are rewritten (never 'inaturalist')
    managed = [r[0] for r in con.execute(
        "SELECT DISTINCT source FROM ref_statuses UNION SELECT source FROM ref_imports "
        "WHERE source <> 'taxref'").fetchall()]
    con.execute("DELETE FROM ref_matches")
    con.execute(_MATCH_SQL)
    con.execute("DELETE FROM taxon_statuses WHERE source IN (SELECT unnest($s))", {"s": managed})
    con.execute(
        """
        INSERT INTO taxon_statuses (taxon_id, source, kind, code, label, scope, ref_id)
        SELECT m.taxon_id, s.source, s.kind, s.code, s.label, s.scope, s.ref_id
        FROM ref_matches m
        JOIN ref_statuses s ON s.source = m.source AND s.ref_id = m.ref_id
        WHERE m.status = 'matched'
        """
    )
    if con.execute("SELECT EXISTS (FROM taxref)").fetchone()[0]:
        match_taxref(con)   # TAXREF codes of the new taxa too
    report = MatchReport()
    report.n_taxa = con.execute("SELECT count(*) FROM taxa WHERE name IS NOT NULL").fetchone()[0]
    report.n_matched, report.n_via_synonym = con.execute(
        "SELECT count(*) FILTER (WHERE status = 'matched'), "
        "count(*) FILTER (WHERE status = 'matched' AND via = 'synonym') FROM ref_matches"
    ).fetchone()
    report.n_taxa_with_status = con.execute(
        "SELECT count(DISTINCT taxon_id) FROM taxon_statuses WHERE source IN (SELECT unnest($s))",
        {"s": managed},
    ).fetchone()[0]
    report.ambiguous = [
        (r[0], r[1], r[2], list(r[3]))
        for r in con.execute(
            "SELECT taxon_id, taxon_name, source, candidates FROM ref_matches "
            "WHERE status = 'ambiguous' ORDER BY taxon_name, source"
        ).fetchall()
    ]
    return report


def unmatched_reference(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Reference taxa whose names match no taxon of the database (accepted name shown)."""
    return con.execute(
        """
        SELECT n.source, n.ref_id, any_value(n.name) FILTER (WHERE n.accepted) AS accepted_name,
               string_agg(n.name, ', ') FILTER (WHERE NOT n.accepted) AS synonyms
        FROM ref_names n
        WHERE NOT EXISTS (SELECT 1 FROM ref_matches m
                          WHERE m.source = n.source AND m.status = 'matched' AND m.ref_id = n.ref_id)
        GROUP BY n.source, n.ref_id
        ORDER BY n.source, accepted_name
        """
    ).fetchdf()


def apply_reference(
    con: duckdb.DuckDBPyConnection, ref: RefList, origin: str, sha256: str | None = None
) -> MatchReport:
    """Store a parsed list and re-match every taxon, in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        store_reference(con, ref, origin, sha256)
        report = match_statuses(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return report


# A SINP sensitivity referential (RefSensibilite…csv) is imported by `biodiv refs import` too,
# recognised by its header; biodiv.sensitivity reads and stores it. Status lists and TAXREF
# feed the sensitivity levels (the cautious default, the matching), recomputed after them.
def is_sensitivity_referential(path: Path | str) -> bool:
    from biodiv.sensitivity.referential import sniff

    return sniff(Path(path))


def refresh_sensitivity(con: duckdb.DuckDBPyConnection):
    from biodiv.sensitivity.levels import refresh

    return refresh(con)


def import_reference(
    con: duckdb.DuckDBPyConnection, path: Path, scopes: Iterable[str] | None = None,
    origin: str | None = None,
) -> tuple[RefList, MatchReport]:
    """Parse ``path``, store it (replacing the same sources), and match all taxa.

    Parsing happens before anything is written: a bad file changes nothing.
    """
    ref = read_reference(Path(path), scopes)
    report = apply_reference(con, ref, origin or str(path), file_sha256(Path(path)))
    return ref, report


# ---------------------------------------------------------------------------
# Download (HTTP, the only network code of this module)
# ---------------------------------------------------------------------------

def statuts_url(cfg=None, explicit: str | None = None) -> str:
    """The INPN statuses URL: --url, $BIODIV_INPN_STATUTS_URL, config, built-in default."""
    if explicit:
        return explicit
    env = os.environ.get(STATUTS_URL_ENV)
    if env:
        return env
    configured = getattr(getattr(cfg, "sources", None), "inpn_statuts_url", None)
    return configured or DEFAULT_STATUTS_URL


def fetch_reference(url: str, dest_dir: Path, timeout: float = 120.0) -> tuple[Path, bool]:
    """Download ``url`` into ``dest_dir``; returns (file, downloaded).

    Frugal: a previous download's ETag / Last-Modified is sent back, and a ``304 Not
    Modified`` reuses the cached file. The file is written under a temporary name and
    renamed when complete, so an interrupted download never leaves a truncated list.
    """
    import requests

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / "inpn_statuts.download"
    meta = dest_dir / "inpn_statuts.download.etag"
    headers = {"User-Agent": "biodiv (https://github.com/; status lists)"}
    if target.exists() and meta.exists():
        etag, _, modified = meta.read_text(encoding="utf-8").partition("\n")
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
    try:
        resp = requests.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise RefError(f"cannot reach {url}: {type(exc).__name__}") from None
    with resp:
        if resp.status_code == 304 and target.exists():
            return target, False
        if resp.status_code != 200:
            raise RefError(f"{url} answered HTTP {resp.status_code}: status lists not downloaded")
        tmp = target.with_name(target.name + ".part")
        try:
            with open(tmp, "wb") as f:
                for chunk in resp.iter_content(1 << 20):
                    f.write(chunk)
        except (requests.RequestException, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise RefError(f"download from {url} interrupted: {type(exc).__name__}") from None
        if tmp.stat().st_size == 0:
            tmp.unlink()
            raise RefError(f"{url} sent an empty file")
        os.replace(tmp, target)
        meta.write_text(
            f"{resp.headers.get('ETag', '')}\n{resp.headers.get('Last-Modified', '')}", encoding="utf-8"
        )
    return target, True
