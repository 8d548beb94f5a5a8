"""Which sensitivity level an observation gets (pure: plain values in, a level out).

Why these rules, as GeoNature applies the SINP referential:

* a rule written for a taxon applies to it and to every taxon below it (a rule on the genus
  *Ophrys* covers every *Ophrys*): biodiv knows an iNaturalist taxon's TAXREF code
  (``CD_NOM`` → ``CD_REF``, after ``biodiv refs import TAXREFvNN.txt``) and its ancestors, so
  a rule matches through the TAXREF code of the taxon or of any ancestor, or, when TAXREF is
  not imported, through the name (``NOM_CITE`` without its author, normalised as the status
  lists are);
* the department of the rule must be the observation's (its commune's); an observation
  whose department is unknown matches, like every criterion biodiv cannot know;
* ``DUREE``: the rule holds for that many years after the observation;
* ``DATE_MIN``/``DATE_MAX``: the observation's day of the year falls in the period (a
  period may span the new year: 01/11 to 28/02);
* breeding status, behaviour, method and life stage are not in iNaturalist's records: they
  count as unknown, which GeoNature treats as matching;
* the level is the highest among the rules that apply.

Without any referential, a cautious default applies (``[sensitivity] default_level``, 2 unless
configured): protected and threatened taxa are blurred at least to the 10 km cell.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Iterable

from biodiv.sensitivity.referential import Rule

# level -> what a public output shows (French, for the pages and the exports)
DIFFUSION_FR = {
    0: "Non sensible - Diffusion précise",
    1: "Sensible - Diffusion à la Commune ou Znieff",
    2: "Sensible - Diffusion à la maille 10km",
    3: "Sensible - Diffusion au département",
    4: "Sensible - Aucune diffusion",
}
SHORT_FR = {0: "précise", 1: "commune", 2: "maille 10 km", 3: "département", 4: "non diffusée"}
DEFAULT_LEVEL = 2


def name_key(name: str | None) -> str:
    """Normalised scientific name (as the SQL macro ``name_key`` of migration 003) without
    the author: ``'Aquila fasciata Vieillot, 1822'`` → ``'aquila fasciata'``."""
    if not name:
        return ""
    words = []
    for i, w in enumerate(str(name).replace("×", " x ").split()):
        if i > 0 and (w[:1].isupper() or w[:1] in "(,[" or w[:1].isdigit()):
            # an author ("Vieillot", "(L.)") or a year ends the name; a subgenus "(Aquila)" too
            if w.startswith("(") and w.endswith(")") and i == 1:
                continue
            break
        words.append(w)
    text = unicodedata.normalize("NFKD", " ".join(words).lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"(^|\s)(subsp|ssp|var|subvar|nothosubsp|f)\.(\s|$)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class TaxonFacts:
    """What links an iNaturalist taxon to referential rules: the TAXREF codes (CD_REF) of the
    taxon and of its ancestors, and their normalised names."""

    taxon_id: int
    cd_refs: frozenset[int] = frozenset()
    names: frozenset[str] = frozenset()


class RuleIndex:
    """The rules of every imported referential, looked up by TAXREF code and by name."""

    def __init__(self, rules: Iterable[tuple[Rule, int | None]]):
        """``rules``: each rule with the CD_REF of its CD_NOM (None when TAXREF does not know it)."""
        self.by_ref: dict[int, list[Rule]] = {}
        self.by_name: dict[str, list[Rule]] = {}
        self.count = 0
        for rule, cd_ref in rules:
            self.count += 1
            if cd_ref is not None:
                self.by_ref.setdefault(int(cd_ref), []).append(rule)
            key = name_key(rule.nom_cite)
            if key:
                self.by_name.setdefault(key, []).append(rule)

    def for_taxon(self, taxon: TaxonFacts) -> list[Rule]:
        """Every rule written for the taxon or one of its ancestors (each once)."""
        found: dict[Rule, None] = {}
        for ref in taxon.cd_refs:
            found.update(dict.fromkeys(self.by_ref.get(ref, ())))
        for key in taxon.names:
            found.update(dict.fromkeys(self.by_name.get(key, ())))
        return list(found)


def department_of(commune_code: str | None) -> str | None:
    """Department of an INSEE commune code ("34114" → "34", "97411" → "974", "2A004" → "2A");
    None when the code is not an INSEE code (the demo's fictional communes)."""
    if not isinstance(commune_code, str) or not re.fullmatch(r"\d{5}|2[AB]\d{3}", commune_code):
        return None
    return commune_code[:3] if commune_code.startswith("97") else commune_code[:2]


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:                  # 29 February
        return d.replace(year=d.year + years, day=28)


def in_period(observed_on: date, period: tuple[tuple[int, int], tuple[int, int]]) -> bool:
    start, end = period
    day = (observed_on.month, observed_on.day)
    if start <= end:
        return start <= day <= end
    return day >= start or day <= end    # across the new year


def applies(rule: Rule, department: str | None, observed_on: date | None, today: date) -> bool:
    """Whether ``rule`` (already matched to the taxon) applies to one observation."""
    if rule.department is not None and department is not None and rule.department != department:
        return False
    if rule.duration_years is not None and observed_on is not None \
            and _add_years(observed_on, rule.duration_years) < today:
        return False
    if rule.period is not None and observed_on is not None and not in_period(observed_on, rule.period):
        return False
    return True      # breeding status, behaviour, method, life stage: unknown, so matching


def level_of(rules: Iterable[Rule], department: str | None, observed_on: date | None,
             today: date) -> tuple[int, Rule | None]:
    """The highest level among the rules that apply, and the rule that gives it (0, None: none)."""
    best: tuple[int, Rule | None] = (0, None)
    for r in rules:
        if r.level > best[0] and applies(r, department, observed_on, today):
            best = (r.level, r)
    return best


def max_level(rules: Iterable[Rule]) -> int:
    """The highest level any of these rules can give (the bound used while an observation's
    own level is not computed yet)."""
    return max((r.level for r in rules), default=0)


def default_level(protected: bool, threatened: bool, has_referential: bool, level: int = DEFAULT_LEVEL) -> int:
    """The cautious default: without any referential, a protected or threatened taxon gets
    ``level`` (0 when the default is switched off)."""
    if has_referential or not (protected or threatened):
        return 0
    return int(level)
