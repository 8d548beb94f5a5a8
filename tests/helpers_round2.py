"""Fixture of the second round of export checks (tests/test_exports_round2_*.py): the
analysis fixture (helpers_analysis) with its export rows, TAXREF built from the real INPN
protected-species list (with the real author of Epidalea calamita), and three more records:

    30  obscured (observer's geoprivacy), in the territory, its 0.2° cell [3.4, 3.6] x
        [43.4, 43.6] spans Alpha and Beta, so it has no commune link; notes holding a tab,
        line breaks and a backslash; created and updated in summer (Paris +02:00)
    31  no taxon (not identified yet), in Alpha
    32  removed upstream on 2026-01-15 (observation 8 of the base fixture was removed on
        2025-06-01)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers_analysis import EXPORT_EXTRA_SQL, build_fixture, taxref_from_protection_list

NOTES_30 = "Deux individus\tsous une pierre\nchemin C:\\bas\r\nfin"
AUTHOR = "(Laurenti, 1768)"

ROUND2_SQL = r"""
INSERT INTO observations (id, uuid, observed_on, observed_at, quality_grade, taxon_id, lon, lat, geom,
                          positional_accuracy, obscured, geoprivacy, taxon_geoprivacy, captive, place_guess,
                          user_id, user_login, license_code, uri, in_territory, removed_at,
                          created_at, updated_at) VALUES
 (30, 'a0000000-0000-4000-8000-000000000030', DATE '2024-07-14', TIMESTAMPTZ '2024-07-14 08:00:00+00', 'research',
  100, 3.47, 43.53, ST_Point(3.47, 43.53), 30, true, 'obscured', NULL, false, 'Alpha', 1, 'alice', 'cc-by',
  'https://www.inaturalist.org/observations/30', true, NULL,
  TIMESTAMPTZ '2024-07-14 09:00:00+00', TIMESTAMPTZ '2024-07-20 16:30:00+00'),
 (31, 'a0000000-0000-4000-8000-000000000031', DATE '2024-08-01', NULL, 'needs_id', NULL, 3.45, 43.52,
  ST_Point(3.45, 43.52), 10, false, NULL, NULL, false, 'Alpha', 2, 'bob', 'cc-by',
  'https://www.inaturalist.org/observations/31', true, NULL, NULL, NULL),
 (32, 'a0000000-0000-4000-8000-000000000032', DATE '2024-09-01', NULL, 'research', 105, 3.46, 43.56,
  ST_Point(3.46, 43.56), 10, false, NULL, NULL, false, 'Alpha', 2, 'bob', 'cc-by',
  'https://www.inaturalist.org/observations/32', true, TIMESTAMPTZ '2026-01-15 10:00:00+00', NULL, NULL);
INSERT INTO observation_areas VALUES (31, 1, 'certain'), (32, 1, 'certain');
UPDATE observations SET description = 'Deux individus' || chr(9) || 'sous une pierre' || chr(10)
       || 'chemin C:\bas' || chr(13) || chr(10) || 'fin' WHERE id = 30;
"""


def build_round2(directory: Path):
    """The store, TAXREF imported (needs the real list: skips without it)."""
    from biodiv.analysis.taxref import import_taxref
    from conftest import shared_data_dir

    if shared_data_dir() is None:
        pytest.skip("real public data absent: set BIODIV_SHARED_DATA to ../shared/data")
    store = build_fixture(directory / "biodiv.duckdb", extra_sql=EXPORT_EXTRA_SQL + ROUND2_SQL)
    taxref = directory / "TAXREFv18.txt"
    names = taxref_from_protection_list(shared_data_dir() / "conservation" / "liste-especes-protegees-france.csv",
                                        taxref)
    cd_nom = names["Epidalea calamita"][0][0]
    lines = taxref.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    at_nom, at_author = header.index("CD_NOM"), header.index("LB_AUTEUR")
    for i, line in enumerate(lines[1:], 1):
        cells = line.split("\t")
        if cells[at_nom] == str(cd_nom):
            cells[at_author] = AUTHOR
            lines[i] = "\t".join(cells)
    taxref.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with store.write() as con:
        import_taxref(con, taxref)
    return store, names
