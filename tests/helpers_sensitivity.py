"""Test helpers of the sensitivity tests: a hand-made SINP sensitivity referential in the real
format (the national ``RefSensibilite`` columns) for real species of the Hérault, what it
means for one observation (the tests' oracle, written from the rules' wording, not from
biodiv's code), and the leak checks every public output must pass."""

from __future__ import annotations

from datetime import date
from pathlib import Path

# CD_NOM are the species' TAXREF codes (CD_REF of the INPN protected-species list); the genus
# Ophrys is matched by its name. One rule per kind the tests need: a department rule (34), a
# rule for another department (13, which must not apply in the Hérault), a period of the year
# (the eagle owl's breeding season), a duration of one year (a bat roost), a level 4.
REFERENTIAL = """CD_NOM;NOM_CITE;CD_SENSIBILITE;CD_DEP;DUREE;DATE_MIN;DATE_MAX;STATUT_BIOLOGIQUE;COMPORTEMENT;METH_OBS;STADE_VIE;AUTRE
2657;Aquila fasciata Vieillot, 1822;3;34;;;;3;;;;Aire de nidification
79273;Timon lepidus (Daudin, 1802);2;34;;;;;;;;
79273;Timon lepidus (Daudin, 1802);4;13;;;;;;;;Population relictuelle
194498;Ophrys L., 1753;1;34;;;;;;;;Genre entier
3493;Bubo bubo (Linnaeus, 1758);2;34;;01/02;31/07;3;;;;Période de reproduction
60295;Rhinolophus ferrumequinum (Schreber, 1774);3;34;1;;;;;;;Gîte
235;Pelobates cultripes (Cuvier, 1829);4;34;;;;;;;;
"""

SPECIES = ("Aquila fasciata", "Timon lepidus", "Ophrys scolopax", "Bubo bubo", "Rhinolophus ferrumequinum",
           "Pelobates cultripes")


def write_referential(directory: Path, text: str = REFERENTIAL, name: str = "RefSensibilite_test.csv") -> Path:
    path = Path(directory) / name
    path.write_bytes(text.encode("utf-8"))
    return path


def expected_level(name: str | None, observed_on: date | None, department: str | None, today: date) -> int:
    """The level the referential above gives one observation: a department rule applies in its
    department or where the department is unknown (the demo's fictional communes)."""
    def here(dep: str) -> bool:
        return department is None or department == dep

    name = name or ""
    level = 0
    if name.startswith("Aquila fasciata") and here("34"):
        level = max(level, 3)
    if name.startswith("Timon lepidus"):
        level = max(level, 2 if here("34") else 0, 4 if here("13") else 0)
    if name.startswith("Ophrys ") and here("34"):
        level = max(level, 1)
    if name.startswith("Bubo bubo") and here("34") and (
            observed_on is None or (2, 1) <= (observed_on.month, observed_on.day) <= (7, 31)):
        level = max(level, 2)
    if name.startswith("Rhinolophus ferrumequinum") and here("34"):
        if observed_on is None:
            level = max(level, 3)
        else:
            try:
                until = observed_on.replace(year=observed_on.year + 1)
            except ValueError:
                until = observed_on.replace(year=observed_on.year + 1, day=28)
            if until >= today:
                level = max(level, 3)
    if name.startswith("Pelobates cultripes") and here("34"):
        level = max(level, 4)
    return level


# Bad files: each must be refused in one line, with nothing changed.
BAD_REFERENTIALS = {
    "comma-separated": (REFERENTIAL.replace(";", ","), "';'-separated"),
    "no level column": ("\n".join(";".join(c for i, c in enumerate(line.split(";")) if i != 2)
                                  for line in REFERENTIAL.splitlines()), "CD_SENSIBILITE"),
    "level 5": (REFERENTIAL.replace("2657;Aquila fasciata Vieillot, 1822;3;", "2657;Aquila fasciata Vieillot, 1822;5;"),
                "CD_SENSIBILITE must be 0 to 4"),
    "truncated row": (REFERENTIAL.rstrip("\n").rsplit(";", 3)[0] + "\n", "field(s) where the header has"),
    "bad period": (REFERENTIAL.replace("01/02;31/07", "31/02;31/07"), "not a date"),
    "bad duration": (REFERENTIAL.replace(";34;1;;", ";34;un an;;"), "DUREE must be a number of years"),
    "bad CD_NOM": (REFERENTIAL.replace("235;Pelobates", "Pelo;Pelobates"), "CD_NOM must be a TAXREF code"),
    "header only": (REFERENTIAL.splitlines()[0] + "\n", "no rule in the file"),
}


def cell_centre_offsets(lons, lats) -> list[float]:
    """Distance (m) of each point from the centre of its 10 km Lambert-93 cell."""
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    xs, ys = t.transform(list(lons), list(lats))
    return [((x % 10_000 - 5_000) ** 2 + (y % 10_000 - 5_000) ** 2) ** 0.5 for x, y in zip(xs, ys)]
