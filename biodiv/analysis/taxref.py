"""TAXREF, the French national taxonomic reference (INPN), and the link of every iNaturalist
taxon to its TAXREF codes (CD_NOM / CD_REF).

Why: French partners (SINP, GeoNature, the INPN lists) identify taxa by TAXREF code, not by
iNaturalist id; the GeoNature export and the official groups (GROUP2_INPN: Oiseaux,
Amphibiens, Angiospermes...) need that link.

The file is the official ``TAXREFvNN.txt`` (tab-separated UTF-8, one row per name, or the zip
that holds it). Columns are read by name, so v16, v17 and v18 (which add and reorder columns)
all work: CD_NOM, CD_REF and LB_NOM are required; NOM_VALIDE, NOM_VERN, LB_AUTEUR, RANG,
REGNE, CLASSE, ORDRE, FAMILLE, GROUP1_INPN, GROUP2_INPN and FR are read when present.

Matching is the same as for the status lists (:mod:`biodiv.analysis.refs`): by normalised
name (SQL macro ``name_key``), the accepted name (CD_NOM = CD_REF) first, then synonyms,
within the taxon's kingdom (TAXREF has homonyms across kingdoms). A name belonging to
several TAXREF taxa is recorded as ambiguous with its candidates, never guessed.
"""

from __future__ import annotations

import io
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from biodiv.analysis.reffiles import RefError, check_file, file_sha256

SOURCE = "taxref"
REQUIRED = ("CD_NOM", "CD_REF", "LB_NOM")
# table column -> TAXREF column, read when the file has it
OPTIONAL = {
    "lb_auteur": "LB_AUTEUR", "nom_valide": "NOM_VALIDE", "nom_vern": "NOM_VERN", "rang": "RANG",
    "regne": "REGNE", "classe": "CLASSE", "ordre": "ORDRE", "famille": "FAMILLE",
    "group1_inpn": "GROUP1_INPN", "group2_inpn": "GROUP2_INPN", "fr": "FR",
}


@dataclass
class TaxrefReport:
    n_names: int = 0                     # rows of the file (TAXREF names)
    n_taxa_ref: int = 0                  # distinct CD_REF
    n_taxa: int = 0                      # iNaturalist taxa with a name
    n_matched: int = 0
    n_via_synonym: int = 0
    ambiguous: list[tuple[int, str, list[int]]] = field(default_factory=list)  # taxon, name, CD_REFs
    missing_columns: list[str] = field(default_factory=list)


def _member(path: Path, stack: ExitStack):
    """A binary stream of the TAXREF table (the file, or the largest TAXREF*.txt of a zip)."""
    if zipfile.is_zipfile(path):
        zf = stack.enter_context(zipfile.ZipFile(path))
        txt = [i for i in zf.infolist() if i.filename.lower().endswith((".txt", ".csv")) and not i.is_dir()]
        if not txt:
            raise RefError(f"{path}: the zip holds no TAXREF .txt file")
        named = [i for i in txt if "taxref" in Path(i.filename).name.lower()] or txt
        return stack.enter_context(zf.open(max(named, key=lambda i: i.file_size).filename))
    return stack.enter_context(open(path, "rb"))


def _header(raw: bytes) -> tuple[list[str], str]:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            line = raw.decode(encoding).splitlines()[0] if raw.strip() else ""
            return [c.strip() for c in line.split("\t")], encoding
        except UnicodeDecodeError:
            continue
    raise RefError("cannot decode the TAXREF file (neither UTF-8 nor Windows-1252)")


def is_taxref(path: Path) -> bool:
    """Whether ``path`` looks like a TAXREF table (tab-separated, CD_NOM/CD_REF/LB_NOM, and no
    status columns, which would make it an INPN status list)."""
    try:
        with ExitStack() as stack:
            head = _member(Path(path), stack).read(65536)
    except (OSError, zipfile.BadZipFile):
        return False
    try:
        cols, _ = _header(head)
    except RefError:
        return False
    return set(REQUIRED) <= set(cols) and not ({"CODE_STATUT", "CD_TYPE_STATUT", "nomsScientifiques"} & set(cols))


def read_taxref(path: Path) -> tuple[pa.Table, list[str]]:
    """The TAXREF rows (columns renamed to the table's, all text) and the optional columns the
    file lacks. Nothing is written: a bad file changes nothing."""
    path = check_file(path, "TAXREF file")
    with ExitStack() as stack:
        try:
            stream = _member(path, stack)
            head = stream.read(65536)
        except (OSError, zipfile.BadZipFile) as exc:
            raise RefError(f"{path}: cannot read ({exc})") from None
        cols, encoding = _header(head)
        missing = [c for c in REQUIRED if c not in cols]
        if missing:
            raise RefError(
                f"{path}: not a TAXREF table (tab-separated, columns {', '.join(REQUIRED)}...): "
                f"no column {', '.join(missing)}; found {', '.join(cols[:8]) or 'nothing'}"
            )
        wanted = [*REQUIRED, *(c for c in OPTIONAL.values() if c in cols)]
        body = io.BufferedReader(_Prefixed(head, stream))
        try:
            table = pacsv.read_csv(
                body,
                read_options=pacsv.ReadOptions(encoding="utf8" if encoding == "utf-8-sig" else encoding,
                                               block_size=1 << 22),
                parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    include_columns=wanted, column_types={c: pa.string() for c in wanted},
                    strings_can_be_null=True),
            )
        except (pa.ArrowInvalid, OSError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RefError(f"{path}: malformed TAXREF table ({first})") from None
    rename = {v: k for k, v in OPTIONAL.items()}
    table = table.rename_columns([rename.get(c, c.lower()) for c in table.column_names])
    if table.num_rows == 0:
        raise RefError(f"{path}: the TAXREF table has no row")
    return table, [c for c in OPTIONAL.values() if c not in cols]


class _Prefixed(io.RawIOBase):
    """The bytes already read for the header, then the rest of the stream."""

    def __init__(self, prefix: bytes, stream):
        self._prefix, self._stream = prefix, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._prefix:
            n = min(len(buf), len(self._prefix))
            buf[:n], self._prefix = self._prefix[:n], self._prefix[n:]
            return n
        data = self._stream.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def store_taxref(con: duckdb.DuckDBPyConnection, table: pa.Table, origin: str, sha256: str | None) -> None:
    """Replace the stored TAXREF (inside the caller's transaction)."""
    present = set(table.column_names)
    select = ", ".join(f"nullif(trim({c}), '')" if c in present else "NULL" for c in OPTIONAL)
    con.register("_taxref_in", table)
    try:
        bad = con.execute(
            "SELECT cd_nom, cd_ref FROM _taxref_in WHERE try_cast(trim(cd_nom) AS INTEGER) IS NULL "
            "OR try_cast(trim(cd_ref) AS INTEGER) IS NULL LIMIT 1").fetchone()
        if bad:
            raise RefError(f"{origin}: CD_NOM/CD_REF must be integers; found {bad[0]!r}/{bad[1]!r}")
        dup = con.execute(
            "SELECT trim(cd_nom) FROM _taxref_in GROUP BY 1 HAVING count(*) > 1 LIMIT 1").fetchone()
        if dup:
            raise RefError(f"{origin}: CD_NOM {dup[0]} appears twice: not a TAXREF table")
        con.execute("DELETE FROM taxref")
        con.execute(
            f"""INSERT INTO taxref (cd_nom, cd_ref, lb_nom, {', '.join(OPTIONAL)}, name_key)
            SELECT CAST(trim(cd_nom) AS INTEGER), CAST(trim(cd_ref) AS INTEGER), trim(lb_nom), {select},
                   name_key(trim(lb_nom))
            FROM _taxref_in WHERE coalesce(trim(lb_nom), '') <> ''"""
        )
    finally:
        con.unregister("_taxref_in")
    n_ref = con.execute("SELECT count(DISTINCT cd_ref) FROM taxref").fetchone()[0]
    con.execute(
        "INSERT OR REPLACE INTO ref_imports (source, file, format, sha256, n_taxa, n_statuses, imported_at) "
        "VALUES ($s, $f, 'taxref', $sha, $n, 0, current_timestamp)",
        {"s": SOURCE, "f": origin, "sha": sha256, "n": n_ref},
    )


_MATCH_SQL = """
INSERT INTO taxon_taxref (taxon_id, status, via, cd_nom, cd_ref, candidates, taxon_name)
WITH tk AS (
    SELECT id, name, name_key(name) AS k, kingdom_name FROM taxa WHERE name IS NOT NULL AND name <> ''
), cand AS (
    SELECT tk.id AS taxon_id, tk.name, r.cd_nom, r.cd_ref, r.cd_nom = r.cd_ref AS accepted
    FROM tk JOIN taxref r ON r.name_key = tk.k
    WHERE tk.kingdom_name IS NULL OR r.regne IS NULL OR r.regne = tk.kingdom_name
), per AS (
    SELECT taxon_id, any_value(name) AS taxon_name,
           coalesce(list(DISTINCT cd_ref ORDER BY cd_ref) FILTER (WHERE accepted), []) AS acc,
           coalesce(list(DISTINCT cd_ref ORDER BY cd_ref) FILTER (WHERE NOT accepted), []) AS syn,
           min(cd_nom) FILTER (WHERE NOT accepted) AS syn_nom
    FROM cand GROUP BY taxon_id
)
SELECT taxon_id,
       CASE WHEN len(acc) = 1 OR (len(acc) = 0 AND len(syn) = 1) THEN 'matched' ELSE 'ambiguous' END,
       CASE WHEN len(acc) > 0 THEN 'accepted' ELSE 'synonym' END,
       CASE WHEN len(acc) = 1 THEN acc[1] WHEN len(acc) = 0 AND len(syn) = 1 THEN syn_nom END,
       CASE WHEN len(acc) = 1 THEN acc[1] WHEN len(acc) = 0 AND len(syn) = 1 THEN syn[1] END,
       CASE WHEN len(acc) > 1 THEN acc WHEN len(acc) = 0 AND len(syn) > 1 THEN syn END,
       taxon_name
FROM per
"""


def match_taxref(con: duckdb.DuckDBPyConnection) -> TaxrefReport:
    """Link every taxon to the stored TAXREF (idempotent; the harvester calls it through
    :func:`biodiv.analysis.refs.match_statuses` after storing new taxa)."""
    con.execute("DELETE FROM taxon_taxref")
    con.execute(_MATCH_SQL)
    report = TaxrefReport()
    report.n_names, report.n_taxa_ref = con.execute(
        "SELECT count(*), count(DISTINCT cd_ref) FROM taxref").fetchone()
    report.n_taxa = con.execute("SELECT count(*) FROM taxa WHERE name IS NOT NULL AND name <> ''").fetchone()[0]
    report.n_matched, report.n_via_synonym = con.execute(
        "SELECT count(*) FILTER (WHERE status = 'matched'), "
        "count(*) FILTER (WHERE status = 'matched' AND via = 'synonym') FROM taxon_taxref").fetchone()
    report.ambiguous = [
        (r[0], r[1], list(r[2])) for r in con.execute(
            "SELECT taxon_id, taxon_name, candidates FROM taxon_taxref WHERE status = 'ambiguous' "
            "ORDER BY taxon_name").fetchall()
    ]
    return report


def import_taxref(con: duckdb.DuckDBPyConnection, path: Path, origin: str | None = None) -> TaxrefReport:
    """Read ``path`` (before anything is written), store it and link every taxon, in one
    transaction: a bad file, or an error midway, leaves the previous TAXREF in place."""
    table, missing = read_taxref(Path(path))
    sha = file_sha256(Path(path))
    con.execute("BEGIN TRANSACTION")
    try:
        store_taxref(con, table, origin or str(path), sha)
        report = match_taxref(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    report.missing_columns = missing
    return report


def unlinked_taxa(con: duckdb.DuckDBPyConnection):
    """Taxa observed in the store without a TAXREF link (with the reason), most observed first."""
    return con.execute(
        """
        SELECT t.id AS taxon_id, t.name, t.rank, t.kingdom_name,
               coalesce(m.status, 'no match') AS status,
               array_to_string(m.candidates, ',') AS candidates,
               count(o.id) AS n_observations
        FROM taxa t
        LEFT JOIN taxon_taxref m ON m.taxon_id = t.id
        LEFT JOIN observations o ON o.taxon_id = t.id AND o.removed_at IS NULL
        WHERE m.status IS NULL OR m.status <> 'matched'
        GROUP BY ALL
        ORDER BY n_observations DESC, t.name
        """
    ).fetchdf()
