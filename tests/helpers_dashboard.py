"""A small real DuckDB database with hand-picked observations whose figures are known,
for the dashboard tests (data layer, AppTest pages, browser).

Layout (lon/lat squares of 0.1°): communes Alpha (T0001), Beta (T0002), Gamma (T0003) in
the territory, Delta (T0004) outside; one ZSC over Alpha/Beta, one ZPS in Gamma.

Known figures of the default view (territory, removed excluded, quality "verifiable" =
research + needs_id, as the named queries): 9 observations, 5 species, 4 observers, 6 research
grade (67 %), 3 communes of 3 covered, 1 obscured, 8 drawable, one species new this year
(Machaon), 4 observations of protected or threatened taxa.

Every quality grade (the filter emptied): one casual observation more (12, Quercus ilex in
Gamma, by gus): 10 observations, 5 species, 5 observers, 6 research grade (60 %), 9 drawable.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from biodiv.store.database import Store

THIS_YEAR = date.today().year

EXPECTED = {
    "observations": 9,
    "species": 5,
    "observers": 4,
    "research_share_pct": "67 %",
    "communes_covered": 3,
    "communes_total": 3,
    "obscured": 1,
    "drawable": 8,
}
# the same with every quality grade (observation 12, casual, counts too)
EXPECTED_ALL_QUALITIES = {"observations": 10, "species": 5, "observers": 5, "research_share_pct": "60 %",
                          "drawable": 9}

COMMUNES = [
    ("T0001", "Alpha", (3.0, 43.0, 3.1, 43.1), True),
    ("T0002", "Beta", (3.1, 43.0, 3.2, 43.1), True),
    ("T0003", "Gamma", (3.0, 43.1, 3.1, 43.2), True),
    ("T0004", "Delta", (3.1, 43.1, 3.2, 43.2), False),
]
SITES = [
    ("n2000_zsc", "FR9990001", "Site ZSC d'essai", (3.05, 43.02, 3.15, 43.08)),
    ("n2000_zps", "FR9990002", "Site ZPS d'essai", (3.02, 43.12, 3.08, 43.18)),
]
# id, name, French name, rank, rank_level, iconic, species_id, threatened, conservation_status
TAXA = [
    (1, "Merops apiaster", "Guêpier d'Europe", "species", 10, "Aves", 1, False, None),
    (2, "Quercus ilex", "Chêne vert", "species", 10, "Plantae", 2, False, None),
    (3, "Timon lepidus", "Lézard ocellé", "species", 10, "Reptilia", 3, True, "VU"),
    (4, "Papilio machaon", "Machaon", "species", 10, "Insecta", 4, False, None),
    (5, "Quercus", "Chênes", "genus", 20, "Plantae", None, False, None),
    (6, "Erithacus rubecula", "Rougegorge familier", "species", 10, "Aves", 6, False, None),
    (7, "Erithacus rubecula witherbyi", None, "subspecies", 5, "Aves", 6, False, None),
]
STATUSES = [
    (1, "inpn_protection", "protected", "PN", "Protection nationale", "France"),
    (4, "inpn_redlist", "threatened", "EN", "En danger", "France"),
]
PHOTO = "https://static.inaturalist.org/photos/11/square.jpg"
# id, observed_on, taxon, grade, lon, lat, user_id, login, obscured, removed, in_territory,
# links [(area code, relation)], photo, uri
OBSERVATIONS = [
    (1, date(2023, 5, 10), 1, "research", 3.02, 43.02, 10, "alice", False, False, True, [("T0001", "certain")]),
    (2, date(2023, 6, 15), 2, "research", 3.05, 43.05, 11, "bob", False, False, True,
     [("T0001", "certain"), ("FR9990001", "certain")]),
    (3, date(2024, 4, 1), 2, "needs_id", 3.15, 43.05, 10, "alice", False, False, True,
     [("T0002", "certain"), ("FR9990001", "edge")]),
    (4, date(2024, 7, 20), 3, "research", 3.18, 43.02, 12, "carol", False, False, True, [("T0002", "edge")]),
    (5, date(2024, 7, 21), 5, "needs_id", 3.03, 43.15, 11, "bob", False, False, True,
     [("T0003", "certain"), ("FR9990002", "certain")]),
    (6, date(2025, 3, 3), 7, "research", 3.07, 43.17, 12, "carol", False, False, True,
     [("T0003", "certain"), ("FR9990002", "certain")]),
    (7, date(THIS_YEAR, 1, 1), 4, "needs_id", 3.09, 43.09, 13, "dave", False, False, True, [("T0001", "certain")]),
    (8, date(2025, 5, 5), 1, "research", 3.11, 43.11, 10, "alice", True, False, True, []),
    (9, date(2025, 6, 6), 2, "research", 3.04, 43.04, 14, "erin", False, True, True, [("T0001", "certain")]),
    (10, date(2025, 6, 7), 2, "research", 3.15, 43.15, 15, "frank", False, False, False, [("T0004", "certain")]),
    (11, date(2025, 8, 8), 6, "research", 3.12, 43.08, 11, "bob", False, False, True,
     [("T0002", "certain"), ("FR9990001", "certain")]),
    (12, date(2024, 9, 9), 2, "casual", 3.06, 43.13, 17, "gus", False, False, True, [("T0003", "certain")]),
]


def _box(b: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = b
    return f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


def build_fixture_db(path: Path, demo: bool = False, with_observations: bool = True) -> Path:
    """Write the fixture database at ``path`` (published through the real Store)."""
    with Store(path).write(create=True) as con:
        for code, name, b, member in COMMUNES:
            con.execute(
                """INSERT INTO areas (type, code, name, geom, area_km2, xmin, ymin, xmax, ymax, in_territory)
                   VALUES ('commune', ?, ?, ST_GeomFromText(?), 90.0, ?, ?, ?, ?, ?)""",
                [code, name, _box(b), *b, member],
            )
        for kind, code, name, b in SITES:
            con.execute(
                """INSERT INTO areas (type, code, name, geom, area_km2, xmin, ymin, xmax, ymax)
                   VALUES (?, ?, ?, ST_GeomFromText(?), 40.0, ?, ?, ?, ?)""",
                [kind, code, name, _box(b), *b],
            )
        con.execute(
            """INSERT INTO territory (id, name, insee_codes, xmin, ymin, xmax, ymax, area_km2)
               VALUES (1, 'Territoire d''essai', ['T0001','T0002','T0003'], 3.0, 43.0, 3.2, 43.2, 270.0)"""
        )
        for t in TAXA:
            con.execute(
                """INSERT INTO taxa (id, name, common_name_fr, rank, rank_level, iconic_taxon_name, species_id,
                                     threatened, conservation_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                list(t),
            )
        for s in STATUSES:
            con.execute("INSERT INTO taxon_statuses (taxon_id, source, kind, code, label, scope) VALUES (?, ?, ?, ?, ?, ?)",
                        list(s))
        if with_observations:
            ids = dict(con.execute("SELECT code, id FROM areas").fetchall())
            for (oid, day, taxon, grade, lon, lat, uid, login, obscured, removed, inside, links) in OBSERVATIONS:
                con.execute(
                    """INSERT INTO observations (id, observed_on, quality_grade, taxon_id, lon, lat, geom, obscured,
                                                 user_id, user_login, removed_at, in_territory, photo_url, uri,
                                                 harvested_at, needs_attach)
                       VALUES (?, ?, ?, ?, ?, ?, ST_Point(?, ?), ?, ?, ?, CASE WHEN ? THEN now() END, ?, ?, ?,
                               TIMESTAMPTZ '2026-01-02 10:00:00+00', false)""",
                    [oid, day, grade, taxon, lon, lat, lon, lat, obscured, uid, login, removed, inside,
                     PHOTO if oid == 11 else None,
                     f"https://www.inaturalist.org/observations/{oid}" if oid == 11 else None],
                )
                for code, rel in links:
                    con.execute("INSERT INTO observation_areas VALUES (?, ?, ?)", [oid, ids[code], rel])
        if demo:
            con.execute("INSERT INTO meta VALUES ('demo', 'true')")
    return path
