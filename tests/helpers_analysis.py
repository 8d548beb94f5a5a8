"""Fixture database for the analysis tests, built with plain SQL so that it depends on no
other area's code. Every expected value in tests/test_analysis_*.py is computed by hand
from the table below.

Areas (squares in degrees; area_km2 given, not computed):
    1 commune 34001 Alpha   [3.40,3.50]x[43.50,43.60]  80 km²  territory
    2 commune 34002 Beta    [3.50,3.60]x[43.50,43.60]  40 km²  territory
    3 commune 34003 Gamma   [3.60,3.70]x[43.50,43.60]  20 km²  territory (no observation)
    4 commune 34999 Dehors  [3.70,3.80]x[43.50,43.60]  50 km²  outside
    5 n2000_zsc FR9101388 Gorges     [3.45,3.55]x[43.50,43.60] 40 km²
    6 n2000_zps FR9112004 Garrigues  [3.40,3.45]x[43.50,43.55] 10 km² (no observation)

Taxa: 100 Epidalea calamita (Amphibia), 101 Aquila fasciata (Aves), 102 Quercus ilex
(Plantae), 103 Quercus ilex ilex (subspecies of 102), 104 Quercus (genus), 105 Passer
domesticus (Aves), 107 Podarcis muralis (Reptilia).

Observations (user: 1 alice, 2 bob, 3 chloe):
    id date        grade     taxon user commune(rel)    N2000            notes
    1  2023-04-10  research  100   1    34001 certain   FR9101388 certain
    2  2023-05-02  research  101   2    34001 edge      -
    3  2024-04-15  needs_id  102   1    34002 certain   FR9101388 edge
    4  2024-04-15  research  103   1    34002 certain   -                same user+day as 3
    5  2024-06-20  casual    104   3    34002 certain   -                genus only
    6  2024-07-01  research  105   2    34001 certain   -                obscured
    7  2025-03-03  research  105   3    34999 certain   -                outside territory
    8  2025-04-04  research  107   2    34001 certain   -                removed (soft-deleted)
    9  2025-05-05  needs_id  101   1    34002 certain   -
Statuses: 100 PN (inpn_protection); 101 PN (inpn_protection) + EN France métropolitaine
(inpn_redlist).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from biodiv.store.database import Store

FIXTURE_SQL = r"""
INSERT INTO areas (id, type, code, name, geom, area_km2, xmin, ymin, xmax, ymax, in_territory, source) VALUES
 (1, 'commune', '34001', 'Alpha', ST_GeomFromText('POLYGON((3.40 43.50, 3.50 43.50, 3.50 43.60, 3.40 43.60, 3.40 43.50))'), 80, 3.40, 43.50, 3.50, 43.60, true, 'fixture'),
 (2, 'commune', '34002', 'Beta', ST_GeomFromText('POLYGON((3.50 43.50, 3.60 43.50, 3.60 43.60, 3.50 43.60, 3.50 43.50))'), 40, 3.50, 43.50, 3.60, 43.60, true, 'fixture'),
 (3, 'commune', '34003', 'Gamma', ST_GeomFromText('POLYGON((3.60 43.50, 3.70 43.50, 3.70 43.60, 3.60 43.60, 3.60 43.50))'), 20, 3.60, 43.50, 3.70, 43.60, true, 'fixture'),
 (4, 'commune', '34999', 'Dehors', ST_GeomFromText('POLYGON((3.70 43.50, 3.80 43.50, 3.80 43.60, 3.70 43.60, 3.70 43.50))'), 50, 3.70, 43.50, 3.80, 43.60, false, 'fixture'),
 (5, 'n2000_zsc', 'FR9101388', 'Gorges', ST_GeomFromText('POLYGON((3.45 43.50, 3.55 43.50, 3.55 43.60, 3.45 43.60, 3.45 43.50))'), 40, 3.45, 43.50, 3.55, 43.60, NULL, 'fixture'),
 (6, 'n2000_zps', 'FR9112004', 'Garrigues', ST_GeomFromText('POLYGON((3.40 43.50, 3.45 43.50, 3.45 43.55, 3.40 43.55, 3.40 43.50))'), 10, 3.40, 43.50, 3.45, 43.55, NULL, 'fixture');

INSERT INTO territory (id, name, epci_siren, insee_codes, geom, xmin, ymin, xmax, ymax, area_km2) VALUES
 (1, 'Territoire test', NULL, ['34001', '34002', '34003'],
  ST_GeomFromText('POLYGON((3.40 43.50, 3.70 43.50, 3.70 43.60, 3.40 43.60, 3.40 43.50))'),
  3.40, 43.50, 3.70, 43.60, 140);

INSERT INTO taxa (id, name, common_name_fr, rank, rank_level, iconic_taxon_name, ancestor_ids,
                  kingdom_name, phylum_name, class_name, order_name, family_name, genus_name,
                  species_id, conservation_status, threatened) VALUES
 (100, 'Epidalea calamita', 'Crapaud calamite', 'species', 10, 'Amphibia', [1, 2, 100], 'Animalia', 'Chordata', 'Amphibia', 'Anura', 'Bufonidae', 'Epidalea', 100, NULL, false),
 (101, 'Aquila fasciata', 'Aigle de Bonelli', 'species', 10, 'Aves', [1, 2, 101], 'Animalia', 'Chordata', 'Aves', 'Accipitriformes', 'Accipitridae', 'Aquila', 101, NULL, false),
 (102, 'Quercus ilex', 'Chêne vert', 'species', 10, 'Plantae', [3, 104, 102], 'Plantae', 'Tracheophyta', 'Magnoliopsida', 'Fagales', 'Fagaceae', 'Quercus', 102, NULL, false),
 (103, 'Quercus ilex ilex', NULL, 'subspecies', 5, 'Plantae', [3, 104, 102, 103], 'Plantae', 'Tracheophyta', 'Magnoliopsida', 'Fagales', 'Fagaceae', 'Quercus', 102, NULL, false),
 (104, 'Quercus', 'Chênes', 'genus', 20, 'Plantae', [3, 104], 'Plantae', 'Tracheophyta', 'Magnoliopsida', 'Fagales', 'Fagaceae', 'Quercus', NULL, NULL, false),
 (105, 'Passer domesticus', 'Moineau domestique', 'species', 10, 'Aves', [1, 2, 105], 'Animalia', 'Chordata', 'Aves', 'Passeriformes', 'Passeridae', 'Passer', 105, NULL, false),
 (107, 'Podarcis muralis', 'Lézard des murailles', 'species', 10, 'Reptilia', [1, 2, 107], 'Animalia', 'Chordata', 'Reptilia', 'Squamata', 'Lacertidae', 'Podarcis', 107, NULL, false);

INSERT INTO observations (id, uuid, observed_on, quality_grade, taxon_id, lon, lat, geom,
                          positional_accuracy, obscured, user_id, user_login, license_code, uri,
                          in_territory, removed_at, geoprivacy) VALUES
 (1, 'u1', DATE '2023-04-10', 'research', 100, 3.46, 43.55, ST_Point(3.46, 43.55), 10, false, 1, 'alice', 'cc-by', 'https://www.inaturalist.org/observations/1', true, NULL, NULL),
 (2, 'u2', DATE '2023-05-02', 'research', 101, 3.499, 43.58, ST_Point(3.499, 43.58), 500, false, 2, 'bob', 'cc-by-nc', 'https://www.inaturalist.org/observations/2', true, NULL, NULL),
 (3, 'u3', DATE '2024-04-15', 'needs_id', 102, 3.54, 43.52, ST_Point(3.54, 43.52), 2000, false, 1, 'alice', 'cc0', 'https://www.inaturalist.org/observations/3', true, NULL, NULL),
 (4, 'u4', DATE '2024-04-15', 'research', 103, 3.58, 43.52, ST_Point(3.58, 43.52), 5, false, 1, 'alice', 'cc0', 'https://www.inaturalist.org/observations/4', true, NULL, NULL),
 (5, 'u5', DATE '2024-06-20', 'casual', 104, 3.57, 43.57, ST_Point(3.57, 43.57), 20, false, 3, 'chloe', NULL, 'https://www.inaturalist.org/observations/5', true, NULL, NULL),
 (6, 'u6', DATE '2024-07-01', 'research', 105, 3.41234567, 43.51234567, ST_Point(3.41234567, 43.51234567), NULL, true, 2, 'bob', 'cc-by', 'https://www.inaturalist.org/observations/6', true, NULL, 'obscured'),
 (7, 'u7', DATE '2025-03-03', 'research', 105, 3.75, 43.55, ST_Point(3.75, 43.55), 15, false, 3, 'chloe', 'cc-by', 'https://www.inaturalist.org/observations/7', false, NULL, NULL),
 (8, 'u8', DATE '2025-04-04', 'research', 107, 3.44, 43.58, ST_Point(3.44, 43.58), 8, false, 2, 'bob', 'cc-by', 'https://www.inaturalist.org/observations/8', true, TIMESTAMPTZ '2025-06-01 00:00:00+00', NULL),
 (9, 'u9', DATE '2025-05-05', 'needs_id', 101, 3.59, 43.59, ST_Point(3.59, 43.59), 30, false, 1, 'alice', 'cc-by', 'https://www.inaturalist.org/observations/9', true, NULL, NULL);

INSERT INTO observation_areas VALUES
 (1, 1, 'certain'), (1, 5, 'certain'),
 (2, 1, 'edge'),
 (3, 2, 'certain'), (3, 5, 'edge'),
 (4, 2, 'certain'),
 (5, 2, 'certain'),
 (6, 1, 'certain'),
 (7, 4, 'certain'),
 (8, 1, 'certain'),
 (9, 2, 'certain');

INSERT INTO taxon_statuses (taxon_id, source, kind, code, label, scope, ref_id) VALUES
 (100, 'inpn_protection', 'protected', 'PN', 'Protection nationale', 'France', '459628'),
 (101, 'inpn_protection', 'protected', 'PN', 'Protection nationale', 'France', '2657'),
 (101, 'inpn_redlist', 'threatened', 'EN', 'En danger', 'France métropolitaine', '2657');
"""


def build_fixture(path: Path, with_statuses: bool = True, extra_sql: str = "") -> Store:
    """A new store at ``path`` holding the fixture above (published on return)."""
    sql = FIXTURE_SQL
    if not with_statuses:
        sql = sql[: sql.index("INSERT INTO taxon_statuses")]
    store = Store(path)
    with store.write(create=True) as con:
        con.execute(sql + extra_sql)
    return store


def copy_store(template: Path, directory: Path) -> Store:
    """A private copy of a template database, so a test may write to it freely."""
    path = directory / "biodiv.duckdb"
    shutil.copyfile(template, path)
    return Store(path)


# ---------------------------------------------------------------------------
# Reference files in their official formats, and a stand-in INPN download server
# ---------------------------------------------------------------------------

import io
import threading
import zipfile
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Same header and conventions as the INPN/TAXREF national protected-species list.
PROTECTION_CSV = (
    "CD_REF;classification;nomsScientifiques;nomsVernaculaires;CD_TYPE_STATUTS;espèceMinistérielle;espèceCNPN\n"
    "459628;faune non-oiseau;Epidalea calamita,Bufo calamita,Bufo cruciatus;Crapaud calamite (Le);PN;;\n"
    "2657;oiseau;Aquila fasciata,Hieraaetus fasciatus;Aigle de Bonelli;PN;O;\n"
    "2651;oiseau;Hieraaetus pennatus,Aquila pennata,Falco pennatus;Aigle botté;PN;;\n"
    "310;faune non-oiseau;Rana dalmatina,Rana agilis,Rana alpina;Grenouille agile (La);PN;;\n"
    "351;faune non-oiseau;Rana temporaria,Rana alpina,Rana rufa;Grenouille rousse (La);PN,PD;;\n"
    "81000;flore;Quercus ilex subsp. ilex;;PR;;\n"
    "99999;flore;Plantus imaginarius;;Protection Pitchou;;\n"
)

# INPN "BDC statuts" columns (subset of the real ones, same names), comma-separated.
BDC_HEADER = ("CD_NOM,CD_REF,CD_SUP,CD_TYPE_STATUT,LB_TYPE_STATUT,REGROUPEMENT_TYPE,CODE_STATUT,"
              "LABEL_STATUT,RQ_STATUT,CD_SIG,CD_DOC,LB_NOM,LB_AUTEUR,LB_ADM_TR,NIVEAU_ADMIN,"
              "CD_ISO3166_1,CD_ISO3166_2,GROUP2_INPN")
BDC_ROWS = [
    "2657,2657,,LRN,Liste rouge nationale,Liste rouge,EN,En danger,,TERFXFR,1,Aquila fasciata,\"Vieillot, 1822\",France métropolitaine,État,FXX,,Oiseaux",
    "2657,2657,,PN,Protection nationale,Protection,PN,Article 3,,TERFXFR,2,Aquila fasciata,\"Vieillot, 1822\",France métropolitaine,État,FXX,,Oiseaux",
    "4525,4525,,LRN,Liste rouge nationale,Liste rouge,LC,Préoccupation mineure,,TERFXFR,1,Passer domesticus,\"(Linnaeus, 1758)\",France métropolitaine,État,FXX,,Oiseaux",
    "4525,4525,,LRR,Liste rouge régionale,Liste rouge,VU,Vulnérable,,INSEER76,3,Passer domesticus,\"(Linnaeus, 1758)\",Occitanie,Région,FXX,FR-OCC,Oiseaux",
    "459628,459628,,DH,Directive Habitat,Directives européennes,CDH4,Annexe IV,,TERFXFR,4,Epidalea calamita,\"(Laurenti, 1768)\",France métropolitaine,État,FXX,,Amphibiens",
    "77781,459628,,LRN,Liste rouge nationale,Liste rouge,LC,Préoccupation mineure,,TERFXFR,1,Bufo calamita,\"Laurenti, 1768\",France métropolitaine,État,FXX,,Amphibiens",
    "81000,81000,,PD,Protection départementale,Protection,PD34,Article 1,,INSEED34,5,Quercus ilex subsp. ilex,L.,Hérault,Département,FXX,FR-34,Angiospermes",
]


def bdc_csv(encoding: str = "utf-8") -> bytes:
    return ("\n".join([BDC_HEADER, *BDC_ROWS]) + "\n").encode(encoding)


def bdc_zip() -> bytes:
    """The BDC statuts archive layout: the statuses CSV beside other files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("BDC-Statuts-v18/BDC_STATUTS_TYPES_18.csv", "CD_TYPE_STATUT,LB_TYPE_STATUT\nPN,Protection nationale\n")
        zf.writestr("BDC-Statuts-v18/BDC_STATUTS_18.csv", bdc_csv("cp1252"))
        zf.writestr("BDC-Statuts-v18/LISEZMOI.txt", "notice")
    return buf.getvalue()


class InpnStandIn:
    """Serves one file at /docs-web/docs/download/<id> with ETag / 304 support."""

    def __init__(self, body: bytes, status: int = 200):
        self.body, self.status, self.etag = body, status, '"v18"'
        self.requests: list[dict] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                stand_in.requests.append({"path": self.path, "headers": dict(self.headers)})
                if stand_in.status != 200:
                    self.send_response(stand_in.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.headers.get("If-None-Match") == stand_in.etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("ETag", stand_in.etag)
                self.send_header("Content-Length", str(len(stand_in.body)))
                self.end_headers()
                self.wfile.write(stand_in.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/docs-web/docs/download/232324"

    @contextmanager
    def running(self):
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


# ---------------------------------------------------------------------------
# Running the real CLI in-process
# ---------------------------------------------------------------------------

_registered = False


def cli_invoke(args: list[str], store, tmp_path, monkeypatch, input: str | None = None):
    """``biodiv <args>`` through typer's CliRunner, on ``store`` (BIODIV_DB), cwd tmp_path.

    Exceptions are kept in ``result.exception`` (the real entry point turns a BiodivError
    into one red line and exit code 1; tests/test_analysis_sql.py checks that path too).
    """
    global _registered
    from typer.testing import CliRunner

    from biodiv.cli.root import _register, app

    if not _registered:
        names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
        if "sql" not in names:
            _register()
        _registered = True
    monkeypatch.setenv("BIODIV_DB", str(store.path))
    monkeypatch.setenv("BIODIV_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(app, args, input=input, catch_exceptions=True)


# ---------------------------------------------------------------------------
# Extra rows for the export tests (tests/test_analysis_export_*.py): the privacy, time-zone
# and country cases. Kept out of FIXTURE_SQL so the other tests' figures do not move.
#   20 private geoprivacy: no coordinates, not attached (in_territory NULL)
#   21 no location and no geoprivacy (not private), not attached
#   22 Alpha, 2018-09-05 00:30 in Paris (22:30 UTC the day before): the midnight case
#   23 Saint-Denis (La Réunion, 97411), 2024-01-11 00:30 at +04:00, outside the territory
#   24 abroad (Barcelona), no commune, outside the territory, time zone Europe/Madrid
#   21 also has a time but neither zone nor commune: shown in UTC
#   22 has an observer name, an identifier and an identification date (migration 006)
#   25 Beta, 2025-01-01 00:15 in Paris (winter offset +01:00), obscured by taxon geoprivacy,
#      captive, with an openly licensed photo
#   26 Beta, private by taxon geoprivacy (no coordinates), in the territory
# ---------------------------------------------------------------------------

EXPORT_EXTRA_SQL = r"""
INSERT INTO areas (id, type, code, name, geom, area_km2, xmin, ymin, xmax, ymax, in_territory, source) VALUES
 (7, 'commune', '97411', 'Saint-Denis', ST_GeomFromText('POLYGON((55.40 -20.95, 55.50 -20.95, 55.50 -20.85, 55.40 -20.85, 55.40 -20.95))'), 142, 55.40, -20.95, 55.50, -20.85, false, 'fixture');
INSERT INTO observations (id, uuid, observed_on, observed_at, quality_grade, taxon_id, lon, lat, geom,
                          positional_accuracy, obscured, geoprivacy, taxon_geoprivacy, captive, place_guess,
                          user_id, user_login, license_code, photo_url, photo_license, uri, in_territory,
                          removed_at, updated_at) VALUES
 (20, 'a0000000-0000-4000-8000-000000000020', DATE '2024-03-01', NULL, 'casual', 105, NULL, NULL, NULL, NULL, false, 'private', NULL, false, NULL, 2, 'bob', 'cc-by', NULL, NULL, 'https://www.inaturalist.org/observations/20', NULL, NULL, NULL),
 (21, 'a0000000-0000-4000-8000-000000000021', DATE '2024-03-02', NULL, 'casual', 105, NULL, NULL, NULL, NULL, false, NULL, NULL, false, NULL, 2, 'bob', 'cc-by', NULL, NULL, 'https://www.inaturalist.org/observations/21', NULL, NULL, NULL),
 (22, 'a0000000-0000-4000-8000-000000000022', DATE '2018-09-05', TIMESTAMPTZ '2018-09-04 22:30:00+00', 'research', 100, 3.4212345678, 43.5712345678, ST_Point(3.4212345678, 43.5712345678), 12, false, NULL, NULL, false, 'Alpha, Hérault, France', 1, 'alice', 'cc-by', NULL, NULL, 'https://www.inaturalist.org/observations/22', true, NULL, TIMESTAMPTZ '2018-09-06 10:00:00+00'),
 (23, 'a0000000-0000-4000-8000-000000000023', DATE '2024-01-11', TIMESTAMPTZ '2024-01-10 20:30:00+00', 'research', 105, 55.45, -20.90, ST_Point(55.45, -20.90), 25, false, NULL, NULL, false, 'Saint-Denis, La Réunion', 3, 'chloe', 'cc0', NULL, NULL, 'https://www.inaturalist.org/observations/23', false, NULL, NULL),
 (24, 'a0000000-0000-4000-8000-000000000024', DATE '2024-05-01', TIMESTAMPTZ '2024-05-01 10:00:00+00', 'research', 105, 2.17, 41.38, ST_Point(2.17, 41.38), 30, false, NULL, NULL, false, 'Barcelona, ES', 3, 'chloe', 'cc-by', NULL, NULL, 'https://www.inaturalist.org/observations/24', false, NULL, NULL),
 (25, 'a0000000-0000-4000-8000-000000000025', DATE '2025-01-01', TIMESTAMPTZ '2024-12-31 23:15:00+00', 'casual', 101, 3.55, 43.55, ST_Point(3.55, 43.55), 100, true, NULL, 'obscured', true, 'Beta', 1, 'alice', 'cc-by-nc', 'https://inaturalist-open-data.s3.amazonaws.com/photos/72181173/square.jpeg', 'cc-by-nc', 'https://www.inaturalist.org/observations/25', true, NULL, NULL),
 (26, 'a0000000-0000-4000-8000-000000000026', DATE '2025-02-01', NULL, 'research', 101, NULL, NULL, NULL, NULL, false, NULL, 'private', false, NULL, 1, 'alice', 'cc-by', NULL, NULL, 'https://www.inaturalist.org/observations/26', true, NULL, NULL);
INSERT INTO observation_areas VALUES (22, 1, 'certain'), (23, 7, 'certain'), (25, 2, 'certain'), (26, 2, 'edge');
-- the fields of migration 006
UPDATE observations SET user_name = 'Alice Martin', time_zone = 'Europe/Paris', identified_by = 'Bob Durand',
       identified_at = TIMESTAMPTZ '2018-09-05 08:00:00+00' WHERE id = 22;
UPDATE observations SET time_zone = 'Europe/Madrid' WHERE id = 24;
UPDATE observations SET observed_at = TIMESTAMPTZ '2024-03-02 08:00:00+00' WHERE id = 21;
UPDATE observations SET photo_attribution = '(c) Alice Martin, some rights reserved (CC BY-NC)' WHERE id = 25;
"""


# ---------------------------------------------------------------------------
# A TAXREF table (TAXREFvNN.txt layout) built from the real protected-species list
# ---------------------------------------------------------------------------

# Column layouts of the official files: v16 and v18 differ in order and in columns (v18 adds
# GROUP3_INPN, CD_BA, NOMENCLATURAL_COMMENT); the importer reads them by name.
TAXREF_V16 = ("REGNE PHYLUM CLASSE ORDRE FAMILLE SOUS_FAMILLE TRIBU GROUP1_INPN GROUP2_INPN CD_NOM "
              "CD_TAXSUP CD_SUP CD_REF RANG LB_NOM LB_AUTEUR NOM_COMPLET NOM_COMPLET_HTML NOM_VALIDE "
              "NOM_VERN NOM_VERN_ENG HABITAT FR GF MAR GUA SM SB SPM MAY EPA REU SA TA TAAF PF NC WF CLI URL").split()
TAXREF_V18 = ("REGNE PHYLUM CLASSE ORDRE FAMILLE SOUS_FAMILLE TRIBU GROUP1_INPN GROUP2_INPN GROUP3_INPN "
              "CD_NOM CD_TAXSUP CD_SUP CD_REF CD_BA RANG LB_NOM LB_AUTEUR NOMENCLATURAL_COMMENT NOM_COMPLET "
              "NOM_COMPLET_HTML NOM_VALIDE NOM_VERN NOM_VERN_ENG HABITAT FR GF MAR GUA SM SB SPM MAY EPA "
              "REU SA TA TAAF PF NC WF CLI URL").split()
_GROUPS = {  # classification of the list -> (REGNE, GROUP1_INPN, GROUP2_INPN)
    "oiseau": ("Animalia", "Chordés", "Oiseaux"),
    "flore": ("Plantae", "Trachéophytes", "Angiospermes"),
    "faune non-oiseau": ("Animalia", "Chordés", "Autres"),
}
_AMPHIBIAN_GENERA = {"Epidalea", "Bufo", "Bufotes", "Rana", "Salamandra", "Pelophylax", "Hyla", "Triturus"}


def taxref_from_protection_list(src: Path, out: Path, layout: list[str] = TAXREF_V18) -> dict:
    """Write ``out`` in TAXREF's format from the real list: per CD_REF, the first scientific
    name is the accepted name (CD_NOM = CD_REF), the others synonyms (CD_NOM numbered from
    90,000,000). Returns {name: [(cd_nom, cd_ref)]} for the tests' expectations."""
    import csv as _csv

    names: dict[str, list[tuple[int, int]]] = {}
    rows = []
    next_synonym = 90_000_000
    seen: set[int] = set()
    with open(src, encoding="utf-8", newline="") as fh:
        for row in _csv.DictReader(fh, delimiter=";"):
            cd_ref = int(row["CD_REF"])
            if cd_ref in seen:
                continue
            seen.add(cd_ref)
            sci = [n.strip() for n in row["nomsScientifiques"].split(",") if n.strip()]
            regne, g1, g2 = _GROUPS.get(row["classification"], ("Animalia", "", ""))
            if sci and sci[0].split()[0] in _AMPHIBIAN_GENERA:
                g2 = "Amphibiens"
            vern = row["nomsVernaculaires"].split(",")[0].strip()
            for i, name in enumerate(dict.fromkeys(sci)):
                cd_nom = cd_ref if i == 0 else next_synonym
                next_synonym += i > 0
                names.setdefault(name, []).append((cd_nom, cd_ref))
                rank = "SSES" if len(name.split()) > 2 else "ES"
                values = {
                    "REGNE": regne, "GROUP1_INPN": g1, "GROUP2_INPN": g2, "CD_NOM": str(cd_nom),
                    "CD_REF": str(cd_ref), "RANG": rank, "LB_NOM": name, "LB_AUTEUR": "",
                    "NOM_COMPLET": name, "NOM_VALIDE": sci[0], "NOM_VERN": vern if i == 0 else "",
                    "FR": "P", "URL": f"https://inpn.mnhn.fr/espece/cd_nom/{cd_nom}",
                }
                rows.append("\t".join(values.get(c, "") for c in layout))
    out.write_text("\t".join(layout) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return names
