"""Sensitive species on a harvested store: the CCVH territory and the real Hérault communes
(department 34), observations of real species harvested from the iNaturalist stand-in (real
record shape), TAXREF built from the real protected-species list, the referential imported
through the CLI. Every public output checked against the precise points; the department
rules of another department (13) must not apply here."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta, timezone

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from biodiv.analysis.exports import ExportFilter, export
from biodiv.dashboard import data
from biodiv.sensitivity import public
from biodiv.store.database import Store

from helpers_analysis import taxref_from_protection_list
from helpers_hardening import COMMUNES_GEOJSON, EPCI_FILE, run_quiet, write_config
from helpers_harvest import LIFE, ObservationSet, StandInInat, Taxonomy, _taxon_record, make_observation
from helpers_sensitivity import expected_level, write_referential

# (genus lineage below Life: (id, name, rank, level, iconic)) -> species
LINEAGES = {
    "Aquila fasciata": [(1, "Animalia", "kingdom", 70), (9_100_001, "Chordata", "phylum", 60),
                        (9_100_002, "Aves", "class", 50), (9_100_003, "Accipitriformes", "order", 40),
                        (9_100_004, "Accipitridae", "family", 30), (9_100_005, "Aquila", "genus", 20)],
    "Bubo bubo": [(1, "Animalia", "kingdom", 70), (9_100_001, "Chordata", "phylum", 60), (9_100_002, "Aves", "class", 50),
                  (9_100_010, "Strigiformes", "order", 40), (9_100_011, "Strigidae", "family", 30),
                  (9_100_012, "Bubo", "genus", 20)],
    "Timon lepidus": [(1, "Animalia", "kingdom", 70), (9_100_001, "Chordata", "phylum", 60),
                      (9_100_020, "Reptilia", "class", 50), (9_100_021, "Squamata", "order", 40),
                      (9_100_022, "Lacertidae", "family", 30), (9_100_023, "Timon", "genus", 20)],
    "Podarcis muralis": [(1, "Animalia", "kingdom", 70), (9_100_001, "Chordata", "phylum", 60),
                         (9_100_020, "Reptilia", "class", 50), (9_100_021, "Squamata", "order", 40),
                         (9_100_022, "Lacertidae", "family", 30), (9_100_026, "Podarcis", "genus", 20)],
    "Rhinolophus ferrumequinum": [(1, "Animalia", "kingdom", 70), (9_100_001, "Chordata", "phylum", 60),
                                  (9_100_030, "Mammalia", "class", 50), (9_100_031, "Chiroptera", "order", 40),
                                  (9_100_032, "Rhinolophidae", "family", 30), (9_100_033, "Rhinolophus", "genus", 20)],
    "Pelobates cultripes": [(1, "Animalia", "kingdom", 70), (9_100_001, "Chordata", "phylum", 60),
                            (9_100_040, "Amphibia", "class", 50), (9_100_041, "Anura", "order", 40),
                            (9_100_042, "Pelobatidae", "family", 30), (9_100_043, "Pelobates", "genus", 20)],
    "Ophrys scolopax": [(47126, "Plantae", "kingdom", 70), (9_100_050, "Tracheophyta", "phylum", 60),
                        (9_100_051, "Liliopsida", "class", 50), (9_100_052, "Asparagales", "order", 40),
                        (9_100_053, "Orchidaceae", "family", 30), (9_100_054, "Ophrys", "genus", 20)],
}
ICONIC = {"Aves": "Aves", "Reptilia": "Reptilia", "Mammalia": "Mammalia", "Amphibia": "Amphibia",
          "Plantae": "Plantae"}
NOW = datetime.now(timezone.utc).replace(microsecond=0)
NOTE = "Nid vu par Jean Dupont, au pied de la falaise derrière le mas"


def _add_species(tax: Taxonomy) -> dict[str, dict]:
    out = {}
    for i, (name, lineage) in enumerate(LINEAGES.items()):
        iconic = next((ICONIC[n] for _, n, _, _ in lineage if n in ICONIC), "Animalia")
        ids = [LIFE]
        for tid, tname, rank, level in lineage:
            ids.append(tid)
            if tid not in tax.records:
                tax.records[tid] = _taxon_record(tid, tname, rank, level, list(ids), None, iconic)
        sid = 9_200_000 + i
        tax.records[sid] = _taxon_record(sid, name, "species", 10, ids + [sid], None, iconic)
        out[name] = tax.records[sid]
    return out


def _places(shared) -> list[tuple[float, float]]:
    communes = gpd.read_file(shared / COMMUNES_GEOJSON)
    ccvh = set(pd.read_csv(shared / "admin/ccvh_communes.csv", dtype=str)["insee_code"])
    inside = communes[communes["code"].isin(ccvh)].sort_values("code")
    return [(round(p.x, 5), round(p.y, 5)) for p in inside.geometry.representative_point()]


# (species, days before now of the observation, obscured by iNaturalist)
SPECIAL = [
    ("Aquila fasciata", 200, False), ("Aquila fasciata", 420, False), ("Aquila fasciata", 90, True),
    ("Timon lepidus", 100, False), ("Timon lepidus", 700, False),
    ("Ophrys scolopax", 60, False), ("Ophrys scolopax", 400, False),
    ("Bubo bubo", None, False), ("Bubo bubo", None, False),        # one in the breeding season, one out of it
    ("Rhinolophus ferrumequinum", 30, False), ("Rhinolophus ferrumequinum", 800, False),
    ("Pelobates cultripes", 50, False), ("Podarcis muralis", 40, False),
]


@pytest.fixture(scope="module")
def harvested(tmp_path_factory, shared_data):
    d = tmp_path_factory.mktemp("sens_harvested")
    cfg_file = write_config(d)
    tax = Taxonomy(20)
    species = _add_species(tax)
    obs = ObservationSet(150, tax)
    places = _places(shared_data)
    season = datetime(NOW.year - 1, 4, 14, 10, tzinfo=timezone.utc)
    off = datetime(NOW.year - 1, 10, 14, 10, tzinfo=timezone.utc)
    bubo = iter([season, off])
    for k, (name, days, obscured) in enumerate(SPECIAL):
        when = next(bubo) if days is None else NOW - timedelta(days=days)
        lon, lat = places[(3 * k) % len(places)]
        rec = make_observation(20_000_000 + k, species[name], lon, lat, when + timedelta(days=2), obscured=obscured,
                               accuracy=15, user_id=11 + k)
        rec["description"] = NOTE
        obs.put(rec)
    steps = (["init", "--epci-file", str(shared_data / EPCI_FILE)],
             ["areas", "import", str(shared_data / COMMUNES_GEOJSON), "--type", "commune"],
             ["harvest", "--no-progress"])
    with StandInInat(obs, tax) as api, pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIODIV_INAT_API_URL", api.url)
        for args in steps:
            assert run_quiet(["-c", str(cfg_file), *args]) == 0, args
    taxref = d / "TAXREFv18.txt"
    taxref_from_protection_list(shared_data / "conservation/liste-especes-protegees-france.csv", taxref)
    assert run_quiet(["-c", str(cfg_file), "refs", "import", str(taxref)]) == 0
    assert run_quiet(["-c", str(cfg_file), "refs", "import", str(write_referential(d))]) == 0
    return {"dir": d, "db": d / "biodiv.duckdb", "config": cfg_file}


@pytest.fixture(scope="module")
def truth(harvested):
    con = duckdb.connect(str(harvested["db"]), read_only=True)
    try:
        df = con.execute(
            """SELECT o.id, o.scientific_name AS name, o.species_id, o.observed_on, o.lon, o.lat, o.obscured,
                      o.positional_accuracy, o.commune_code, o.in_territory
               FROM v_observations o WHERE o.id >= 20000000""").df()
    finally:
        con.close()
    today = date.today()
    df["expected"] = [expected_level(n, pd.Timestamp(d).date(), "34" if isinstance(c, str) else None, today)
                      for n, d, c in zip(df["name"], df["observed_on"], df["commune_code"])]
    return df


@pytest.fixture
def con(harvested):
    c = duckdb.connect(str(harvested["db"]), read_only=True)
    yield c
    c.close()


def test_levels_follow_the_referential_in_the_herault(truth, con):
    assert len(truth) == len(SPECIAL) and truth["in_territory"].all()
    # an obscured record is linked to no commune (none holds its whole 0.2° cell)
    assert truth.loc[~truth["obscured"], "commune_code"].str.startswith("34").all()
    got = dict(con.execute(f"SELECT observation_id, level FROM ({public.levels_sql(2)})").fetchall())
    assert [got[i] for i in truth["id"]] == list(truth["expected"])
    by_name = truth.groupby("name")["expected"].apply(set).to_dict()
    assert by_name["Aquila fasciata"] == {3} and by_name["Timon lepidus"] == {2}   # the rule of 13 does not apply
    assert by_name["Ophrys scolopax"] == {1} and by_name["Bubo bubo"] == {0, 2}
    assert by_name["Rhinolophus ferrumequinum"] == {0, 3} and by_name["Pelobates cultripes"] == {4}
    assert by_name["Podarcis muralis"] == {0}
    # matched through TAXREF (CD_NOM -> CD_REF) for the species, by name for the genus Ophrys
    rules = dict(con.execute("""SELECT r.nom_cite, count(t.cd_nom) FROM sensitivity_rules r
                                LEFT JOIN taxref t ON t.cd_nom = r.cd_nom GROUP BY 1""").fetchall())
    assert rules["Aquila fasciata Vieillot, 1822"] == 1 and rules["Ophrys L., 1753"] == 0


def _secret(truth: pd.DataFrame) -> np.ndarray:
    s = truth[(truth["expected"] >= 1) & ~truth["obscured"]]
    return s[["lon", "lat"]].to_numpy(float)


def _found(points, secret: np.ndarray) -> int:
    pub = np.array([(float(x), float(y)) for x, y in points if x is not None and not pd.isna(x)], dtype=float)
    if not len(pub) or not len(secret):
        return 0
    return int((np.abs(secret[:, None, :] - pub[None, :, :]) < 2e-5).all(axis=2).any(axis=1).sum())


def test_public_pages_and_the_narrowing_attack(truth, con):
    secret = _secret(truth)
    assert len(secret) >= 6
    f = data.Filters(public=True, quality=())
    pts = data.map_points(con, f, 100_000)
    assert _found(zip(pts["lon"], pts["lat"]), secret) == 0
    priv = data.map_points(con, data.Filters(quality=()), 100_000)
    assert _found(zip(priv["lon"], priv["lat"]), secret) == len(secret)
    communes = data.area_list(con, "commune")
    for name in ("Aquila fasciata", "Timon lepidus", "Ophrys scolopax", "Bubo bubo"):
        rows = truth[truth["name"] == name]
        fs = f.with_(species=(int(rows["species_id"].iloc[0]),))
        counts = {int(a): data.key_figures(con, fs.with_(communes=(int(a),)))["observations"]
                  for a in communes["area_id"]}
        total = data.key_figures(con, fs)["observations"]
        assert total == int((rows["expected"] < 4).sum())
        if name == "Ophrys scolopax":            # level 1: in its commune, as precise
            assert sum(counts.values()) == len(rows)
        else:                                   # levels 2-3: no CCVH commune holds a whole 10 km cell
            assert sum(counts.values()) == int((rows["expected"] == 0).sum())
        fine = data.grid_counts(con, fs, 1000)["observations"].sum()
        assert fine == int(((rows["expected"] == 0) & ~rows["obscured"]).sum())
    pelobates = data.species_options(con, public=True)
    assert "Pelobates cultripes" not in set(pelobates["sci_name"])


@pytest.mark.parametrize("fmt", ["csv", "gpkg", "geojson", "dwca"])
def test_public_exports_and_the_observers_notes(harvested, truth, fmt):
    secret = _secret(truth)
    store = Store(harvested["db"])
    d = harvested["dir"]
    with store.read() as c:
        export(c, fmt, d / f"pub.{fmt}", ExportFilter(quality="any"), public_mode=True)
        export(c, fmt, d / f"priv.{fmt}", ExportFilter(quality="any"), public_mode=False)
    for path, want in ((d / f"pub.{fmt}", 0), (d / f"priv.{fmt}", len(secret))):
        if fmt == "dwca":
            with zipfile.ZipFile(path) as zf:
                occ = pd.read_csv(io.BytesIO(zf.read("occurrence.txt")), sep="\t", dtype=str, keep_default_na=False)
            pts = [(float(x), float(y)) for x, y in zip(occ["decimalLongitude"], occ["decimalLatitude"]) if x]
            notes = set(occ["occurrenceRemarks"]) - {""}
            # issue 22 item 9: the observer's free text only in the private archive
            assert (NOTE in notes) == (want > 0)
        elif fmt == "csv":
            df = pd.read_csv(path)
            pts = list(zip(df["longitude"], df["latitude"]))
        else:
            gdf = gpd.read_file(path, layer="observations") if fmt == "gpkg" else gpd.read_file(path)
            pts = [(g.x, g.y) for g in gdf.geometry if g is not None and not g.is_empty]
        assert _found(pts, secret) == want, path.name


def test_free_text_on_request_never_for_a_sensitive_record(harvested):
    store = Store(harvested["db"])
    out = harvested["dir"] / "notes.zip"
    with store.read() as c:
        export(c, "dwca", out, ExportFilter(quality="any"), public_mode=True, free_text=True)
    with zipfile.ZipFile(out) as zf:
        occ = pd.read_csv(io.BytesIO(zf.read("occurrence.txt")), sep="\t", dtype=str, keep_default_na=False)
    with_note = occ[occ["occurrenceRemarks"] == NOTE]
    assert len(with_note) and with_note["occurrenceID"].str.startswith("https://www.inaturalist.org/").all()
    sensitive = occ["occurrenceID"].str.startswith("urn:biodiv:sensible:")
    assert sensitive.sum() >= 6 and (occ.loc[sensitive, "occurrenceRemarks"] == "").all()


def test_geonature_export_carries_the_sensitivity(harvested, truth):
    store = Store(harvested["db"])
    out = harvested["dir"] / "synthese.csv"
    with store.read() as c:
        res = export(c, "geonature", out, ExportFilter(quality="any"), public_mode=True)
        export(c, "geonature", harvested["dir"] / "synthese_private.csv", ExportFilter(quality="any"))
    df = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False)
    private = pd.read_csv(harvested["dir"] / "synthese_private.csv", sep=";", dtype=str, keep_default_na=False)
    ours = df[df["nom_cite"].isin(truth["name"])]
    timon = ours[ours["nom_cite"] == "Timon lepidus"]
    assert (timon["niveau_sensibilite"] == "Sensible - Diffusion à la maille 10km").all()
    assert timon["geometrie_wkt_4326"].str.startswith("POLYGON").all() and (timon["floutage_dee"] == "Oui").all()
    assert (timon["niveau_precision_diffusion"] == "Maille").all()
    ophrys = ours[ours["nom_cite"] == "Ophrys scolopax"]
    assert len(ophrys) == 2 and (ophrys["niveau_sensibilite"] == "Sensible - Diffusion à la Commune ou Znieff").all()
    assert ophrys["geometrie_wkt_4326"].str.startswith(("POLYGON", "MULTIPOLYGON")).all()
    assert (ophrys["niveau_precision_diffusion"] == "Commune").all()
    assert not ours["nom_cite"].isin(["Aquila fasciata", "Pelobates cultripes"]).any()   # 3: no geometry; 4
    assert any("SINP level 3" in n for n in res.notes)
    blurred = ours[ours["niveau_sensibilite"] != "Non sensible - Diffusion précise"]
    assert len(blurred) and not blurred["comment_occurrence"].str.contains("inaturalist.org", regex=False).any()
    # the private export keeps each record's precise point and says its level
    aquila = private[private["nom_cite"] == "Aquila fasciata"]
    assert len(aquila) == 3 and (aquila["niveau_sensibilite"] == "Sensible - Diffusion au département").all()
    # (an obscured one as iNaturalist's 0.2° cell, issue 27: never the department)
    point = aquila["geometrie_wkt_4326"].str.startswith("POINT") & (aquila["floutage_dee"] == "Non")
    cell = aquila["geometrie_wkt_4326"].str.startswith("POLYGON") & (aquila["floutage_dee"] == "Oui") \
        & (aquila["niveau_precision_diffusion"] == "Précise")
    assert (point | cell).all()


def test_status_says_what_is_blurred(harvested, capsys, monkeypatch):
    from helpers_hardening import cli

    code, out, err = cli(["status"], harvested["config"], monkeypatch, capsys)
    assert code == 0
    line = next(li for li in out.splitlines() if li.startswith("sensitivity"))
    assert "RefSensibilite_test (7 rules)" in line and "level 4: 1" in line
