"""The SINP sensitivity referential, as the INPN publishes it and GeoNature reads it (pure).

Why this format: the national referential (``RefSensibilite…``) and the regional ones the
DREAL/SINP platforms publish are all the same ``;``-separated table, one rule per row:
``CD_NOM`` (the TAXREF name the rule is written for), ``NOM_CITE``, ``CD_SENSIBILITE``
(0 precise … 4 not published), ``CD_DEP`` or ``CD_DEPT`` (a department, ``D3`` meaning 973
and ``D4`` 974), ``DUREE`` (years after the observation during which the rule holds; empty:
always), ``DATE_MIN``/``DATE_MAX`` (a period of the year), and the criteria
``STATUT_BIOLOGIQUE``, ``COMPORTEMENT``, ``METH_OBS``, ``STADE_VIE`` and the free ``AUTRE``.
GeoNature's ``geonature sensitivity add-referential`` reads exactly these columns.

A file is validated as a whole before anything is stored: header, separator, every row's
field count, every value's type and range. One bad row refuses the file in one line
(:class:`SensitivityError`), so a truncated or mangled referential never replaces a good one.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from biodiv.errors import BiodivError

DEPARTMENT_COLUMNS = ("CD_DEP", "CD_DEPT")
REQUIRED = ("CD_NOM", "NOM_CITE", "CD_SENSIBILITE", "DUREE", "DATE_MIN", "DATE_MAX")
CRITERIA = ("STATUT_BIOLOGIQUE", "COMPORTEMENT", "METH_OBS", "STADE_VIE", "AUTRE")
LEVELS = (0, 1, 2, 3, 4)
ENCODINGS = ("utf-8-sig", "cp1252")
# GeoNature's aliases of the two overseas departments the national file writes as letters
DEPARTMENT_ALIASES = {"D3": "973", "D4": "974"}
_DEPARTMENT = re.compile(r"^(\d{2,3}|2[AB])$")
_TERRITORY = re.compile(r"^[A-Z][A-Z0-9_-]{0,15}$")


class SensitivityError(BiodivError):
    """A sensitivity referential that cannot be used (one-line message)."""


@dataclass(frozen=True)
class Rule:
    """One row of a referential: the level ``level`` applies to ``cd_nom`` (and every taxon
    below it) in ``department`` (None: everywhere), for ``duration_years`` after the
    observation (None: always), during ``period`` ((month, day) start and end, inclusive,
    possibly across the new year; None: all year)."""

    line: int
    cd_nom: int
    nom_cite: str
    level: int
    department: str | None = None
    duration_years: int | None = None
    period: tuple[tuple[int, int], tuple[int, int]] | None = None
    statut_biologique: str = ""
    comportement: str = ""
    meth_obs: str = ""
    stade_vie: str = ""
    autre: str = ""
    source: str = ""                   # the referential it comes from


@dataclass
class Referential:
    source: str                        # the name it is stored under (file name without extension)
    file: str
    rules: list[Rule] = field(default_factory=list)
    department_column: str = "CD_DEP"

    @property
    def taxa(self) -> set[int]:
        return {r.cd_nom for r in self.rules}


def is_sensitivity_header(columns) -> bool:
    """Whether a header is a sensitivity referential's (what ``biodiv refs import`` dispatches on)."""
    cols = {str(c).strip().upper() for c in columns}
    return {"CD_NOM", "CD_SENSIBILITE"} <= cols and bool(cols & set(DEPARTMENT_COLUMNS))


def sniff(path: Path) -> bool:
    """Whether the file at ``path`` starts with a sensitivity referential's header."""
    try:
        with open(path, "rb") as f:
            first = f.readline(65536).decode("utf-8-sig", errors="replace")
    except OSError:
        return False
    return is_sensitivity_header(re.split(r"[;,\t]", first.strip()))


def department(value: str) -> str | None:
    """A rule's department code as biodiv compares it ("34", "2A", "973"); None for "all".

    ``D3``/``D4`` are 973/974 and a one-digit code is padded ("1" → "01"), as GeoNature does.
    Another territory code (letters) is kept as written: it matches no French department."""
    v = value.strip().upper()
    if not v:
        return None
    v = DEPARTMENT_ALIASES.get(v, v)
    if v.isdigit() and len(v) == 1:
        v = "0" + v
    if _DEPARTMENT.match(v) or _TERRITORY.match(v):
        return v
    raise ValueError(f"not a department or territory code: {value!r}")


def month_day(value: str) -> tuple[int, int] | None:
    """A day of the year from ``DD/MM``, ``DD/MM/YYYY``, ``YYYY-MM-DD`` or ``MM-DD`` (the year is ignored)."""
    v = value.strip()
    if not v:
        return None
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?", v)
    if m:
        day, month = int(m.group(1)), int(m.group(2))
    else:
        m = re.fullmatch(r"(?:\d{4}-)?(\d{1,2})-(\d{1,2})(?:[ T].*)?", v)
        if not m:
            raise ValueError(f"not a date: {value!r}")
        month, day = int(m.group(1)), int(m.group(2))
    try:
        date(2000, month, day)      # 31/02 is no day (2000: 29/02 is one)
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None
    return month, day


def parse_row(row: dict, line: int, dep_col: str, source: str = "") -> Rule:
    """One rule from one CSV row (raises ValueError naming the bad value)."""
    def text(name: str) -> str:
        return (row.get(name) or "").strip()

    try:
        cd_nom = int(text("CD_NOM"))
    except ValueError:
        raise ValueError(f"CD_NOM must be a TAXREF code, got {text('CD_NOM')!r}") from None
    raw = text("CD_SENSIBILITE")
    if not raw.isdigit() or int(raw) not in LEVELS:
        raise ValueError(f"CD_SENSIBILITE must be 0 to 4, got {raw!r}")
    duration = text("DUREE")
    if duration and (not duration.isdigit() or int(duration) > 10_000):
        raise ValueError(f"DUREE must be a number of years, got {duration!r}")
    try:
        start, end = month_day(text("DATE_MIN")), month_day(text("DATE_MAX"))
    except ValueError as exc:
        raise ValueError(f"DATE_MIN/DATE_MAX: {exc}") from None
    period = None
    if start or end:
        period = (start or (1, 1), end or (12, 31))
    return Rule(
        line=line, cd_nom=cd_nom, nom_cite=text("NOM_CITE"), level=int(raw),
        department=department(text(dep_col)), duration_years=int(duration) if duration else None,
        period=period, statut_biologique=text("STATUT_BIOLOGIQUE"), comportement=text("COMPORTEMENT"),
        meth_obs=text("METH_OBS"), stade_vie=text("STADE_VIE"), autre=text("AUTRE"), source=source,
    )


def parse_text(text: str, name: str, source: str | None = None) -> Referential:
    """Every rule of a referential's text, or a one-line :class:`SensitivityError`."""
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise SensitivityError(f"{name} is empty")
    first = lines[0]
    if first.count(";") == 0:
        sep = "," if first.count(",") else ("tab" if "\t" in first else "none")
        raise SensitivityError(f"{name}: a sensitivity referential is ';'-separated (found separator: {sep})")
    header = [h.strip().upper() for h in next(csv.reader([first], delimiter=";"))]
    dep_cols = [c for c in DEPARTMENT_COLUMNS if c in header]
    missing = [c for c in REQUIRED if c not in header] + ([] if dep_cols else ["CD_DEP (or CD_DEPT)"])
    if missing:
        raise SensitivityError(f"{name}: not a SINP sensitivity referential, missing column(s) {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise SensitivityError(f"{name}: a column name appears twice in the header")
    ref = Referential(source=source or Path(name).stem, file=name, department_column=dep_cols[0])
    reader = csv.reader(io.StringIO(text), delimiter=";")
    next(reader)
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise SensitivityError(f"{name}, line {line}: {len(row)} field(s) where the header has "
                                       f"{len(header)} (truncated or wrongly separated file)")
            try:
                ref.rules.append(parse_row(dict(zip(header, row)), line, dep_cols[0], ref.source))
            except ValueError as exc:
                raise SensitivityError(f"{name}, line {line}: {exc}") from None
    except csv.Error as exc:
        raise SensitivityError(f"{name}: malformed CSV ({exc})") from None
    if not ref.rules:
        raise SensitivityError(f"{name}: no rule in the file")
    return ref


def read_referential(path: Path | str) -> Referential:
    """Parse the file at ``path`` (UTF-8, else Windows-1252): nothing is stored here."""
    path = Path(path)
    if not path.is_file():
        raise SensitivityError(f"sensitivity referential {path} does not exist")
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise SensitivityError(f"{path}: not a text file")
    for encoding in ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SensitivityError(f"{path}: cannot decode the file (neither UTF-8 nor Windows-1252)")
    return parse_text(text, str(path), path.stem)
