"""Sensitive species on the demo store (fictional communes: no department, so every department
rule applies, as GeoNature treats an unknown criterion): the referential imported through
``biodiv refs import``, then every public output checked against the precise points, and the
narrowing attack (filter commune by commune, site by site, cell by cell) run on the pages' data."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from datetime import date

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from biodiv.analysis.exports import ExportFilter, export
from biodiv.dashboard import data
from biodiv.demo import build_demo
from biodiv.sensitivity import public
from biodiv.store.database import Store

from helpers_sensitivity import cell_centre_offsets, expected_level, write_referential


def biodiv_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "biodiv", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("sens_demo")
    db = d / "demo.duckdb"
    build_demo(db)
    before = biodiv_cli("--db", str(db), "status")
    ref = write_referential(d)
    done = biodiv_cli("--db", str(db), "refs", "import", str(ref))
    assert done.returncode == 0, done.stderr
    return {"db": db, "dir": d, "import": done.stdout, "status_before": before.stdout,
            "status_after": biodiv_cli("--db", str(db), "status").stdout}


@pytest.fixture(scope="module")
def truth(demo):
    """Every observation as stored (precise), with the level the referential gives it."""
    con = duckdb.connect(str(demo["db"]), read_only=True)
    try:
        df = con.execute(
            """SELECT o.id, o.scientific_name AS name, o.species_id, o.taxon_id, o.observed_on, o.lon, o.lat,
                      o.obscured, o.positional_accuracy, o.commune_code, o.in_territory, o.quality_grade
               FROM v_observations o""").df()
    finally:
        con.close()
    today = date.today()
    df["expected"] = [expected_level(n, None if pd.isna(d) else pd.Timestamp(d).date(), None, today)
                      for n, d in zip(df["name"], df["observed_on"])]
    return df


@pytest.fixture
def con(demo):
    c = duckdb.connect(str(demo["db"]), read_only=True)
    yield c
    c.close()


def precise_points(truth: pd.DataFrame, min_level: int = 1) -> np.ndarray:
    """The precise points (lon, lat) of the sensitive observations iNaturalist does not obscure,
    but for those a published observation shares (the demo's hotspots: no secret there)."""
    located = truth["lon"].notna()
    s = truth[(truth["expected"] >= min_level) & ~truth["obscured"] & located & truth["in_territory"].fillna(False)]
    open_ = truth[(truth["expected"] == 0) & located]
    pts = s[["lon", "lat"]].to_numpy(float)
    if len(open_):
        known = open_[["lon", "lat"]].to_numpy(float)
        near = (np.abs(pts[:, None, :] - known[None, :, :]) < 2e-5).all(axis=2).any(axis=1)
        pts = pts[~near]
    return pts


def leaked(points, secret: np.ndarray) -> int:
    """How many secret points appear (within 2e-5°, about 2 m) among ``points``."""
    pub = np.array([(float(x), float(y)) for x, y in points if x is not None and not pd.isna(x)], dtype=float)
    if not len(pub) or not len(secret):
        return 0
    return int((np.abs(secret[:, None, :] - pub[None, :, :]) < 2e-5).all(axis=2).any(axis=1).sum())


def test_import_reports_and_every_level_is_the_referentials(demo, truth, con):
    assert "sensitivity referential RefSensibilite_test: 7 rules for 6 taxa" in demo["import"]
    assert "no referential imported" in demo["status_before"]          # the cautious default, said
    assert "referential(s) RefSensibilite_test (7 rules)" in demo["status_after"]
    got = con.execute(f"SELECT observation_id, level FROM ({public.levels_sql(2)})").df().set_index("observation_id")
    live = truth.set_index("id")
    assert (got.loc[live.index, "level"] == live["expected"]).all()
    # each kind of rule really occurs in the demo (a test that cannot fail is no test)
    assert set(live["expected"]) == {0, 1, 2, 3, 4}
    bubo = live[live["name"] == "Bubo bubo"]
    assert set(bubo["expected"]) == {0, 2}                               # in and out of the breeding season
    bat = live[live["name"] == "Rhinolophus ferrumequinum"]
    assert set(bat["expected"]) == {0, 3}                                # the one-year rule, expired or not


def test_dashboard_public_pages_show_no_point_finer_than_the_level(con, truth):
    secret = precise_points(truth)
    f = data.Filters(public=True, quality=())
    points = data.map_points(con, f, 100_000)
    assert len(points) > 1000 and not leaked(zip(points["lon"], points["lat"]), secret)
    assert not set(points["id"]) & set(truth.loc[truth["expected"] >= 1, "id"])
    private = data.map_points(con, data.Filters(quality=()), 100_000)
    assert leaked(zip(private["lon"], private["lat"]), secret) == len(secret) > 0   # the officer's map keeps them
    # 1 km cells: no sensitive observation at all; 10 km cells: level 2 in its own cell only
    fine = data.grid_counts(con, f, 1000)
    fine_private = data.grid_counts(con, data.Filters(quality=()), 1000)
    placed_sensitive = truth[(truth["expected"] >= 1) & ~truth["obscured"] & truth["in_territory"].fillna(False)
                             & ~(truth["positional_accuracy"] > 1000)]
    assert fine["observations"].sum() == fine_private["observations"].sum() - len(placed_sensitive)
    bubo_key = int(truth.loc[truth["name"] == "Bubo bubo", "species_id"].iloc[0])
    season = truth[(truth["name"] == "Bubo bubo") & (truth["expected"] == 2) & ~truth["obscured"]
                   & truth["in_territory"].fillna(False) & ~(truth["positional_accuracy"] > 10_000)]
    coarse = data.grid_counts(con, f.with_(species=(bubo_key,)), 10_000)
    coarse_private = data.grid_counts(con, data.Filters(quality=(), species=(bubo_key,)), 10_000)
    assert coarse["observations"].sum() == coarse_private["observations"].sum() > len(season) > 0
    assert data.grid_counts(con, f.with_(species=(bubo_key,)), 1000)["observations"].sum() \
        == data.grid_counts(con, data.Filters(quality=(), species=(bubo_key,)), 1000)["observations"].sum() - len(season)


def test_the_narrowing_attack_learns_nothing(con, truth):
    """Filter commune by commune, site by site: a level-2 to 4 record is in no commune's or
    site's figures (no demo commune holds a whole 10 km cell), a level-1 record only in its commune."""
    f = data.Filters(public=True, quality=())
    communes = data.area_list(con, "commune")["area_id"].tolist()
    sites = data.area_list(con, ("n2000_zsc", "n2000_zps"))["area_id"].tolist()
    assert communes and sites
    live = truth[truth["in_territory"].fillna(False)]
    for name in ("Aquila fasciata", "Ophrys scolopax", "Bubo bubo", "Rhinolophus ferrumequinum"):
        rows = live[live["name"] == name]
        key = int(rows["species_id"].iloc[0])
        fs = f.with_(species=(key,))
        total = data.key_figures(con, fs)["observations"]
        assert total == int((rows["expected"] < 4).sum())             # in the territory's totals
        per_commune = sum(data.key_figures(con, fs.with_(communes=(c,)))["observations"] for c in communes)
        per_site = sum(data.key_figures(con, fs.with_(sites=(s,)))["observations"] for s in sites)
        precise = rows[rows["expected"] == 0]
        at_commune = rows[rows["expected"] == 1]
        private = data.Filters(quality=(), species=(key,))
        precise_communes = sum(data.key_figures(con, private.with_(communes=(c,)))["observations"]
                               for c in communes) if len(at_commune) else None
        if name == "Ophrys scolopax":
            # level 1 everywhere: counted in its commune, as the officer sees it, never in a site
            assert per_commune == precise_communes and per_commune > 0
        else:
            # only the observations of level 0 (off-season owls, old roosts) reach communes and sites
            assert per_commune <= len(precise) and per_site <= len(precise)
            by_area = data.species_areas(con, fs)
            n_area = int(by_area["observations"].sum()) if len(by_area) else 0
            assert n_area <= 2 * len(precise)           # each precise record: its commune and maybe a site
    # the area lists of a level-3 species are empty; its species sheet counts it in the territory only
    aquila = int(live.loc[live["name"] == "Aquila fasciata", "species_id"].iloc[0])
    assert data.species_areas(con, f.with_(species=(aquila,))).empty
    assert data.area_measures(con, f.with_(species=(aquila,)))["observations"].sum() == 0


def test_level_4_is_only_counted(con, truth, demo):
    f = data.Filters(public=True, quality=())
    options = data.species_options(con, public=True)
    names = set(options["sci_name"])
    assert "Pelobates cultripes" not in names and "Timon lepidus" not in names    # 4 in the demo (13 and 34)
    assert {"Pelobates cultripes", "Timon lepidus"} <= set(data.species_options(con)["sci_name"])
    info = data.sensitivity_info(con)
    hidden = int(((truth["expected"] == 4) & truth["in_territory"].fillna(False)).sum())
    assert info["hidden"] == hidden > 0 and f"{hidden} données sensibles non diffusées" in info["notice"]
    assert data.key_figures(con, f)["observations"] == int(
        ((truth["expected"] < 4) & truth["in_territory"].fillna(False)).sum())
    latest = data.latest_observations(con, 500, f)
    sensitive = latest[latest["sci_name"].isin(["Aquila fasciata", "Ophrys scolopax", "Bubo bubo"])]
    assert sensitive["uri"].isna().all() and sensitive["photo_url"].isna().all()


def _public_points(path, fmt: str) -> list[tuple]:
    if fmt in ("gpkg", "geojson", "parquet"):
        gdf = gpd.read_parquet(path) if fmt == "parquet" else gpd.read_file(path, layer="observations") \
            if fmt == "gpkg" else gpd.read_file(path)
        return [(g.x, g.y) for g in gdf.geometry if g is not None and not g.is_empty]
    if fmt == "csv":
        df = pd.read_csv(path)
        return list(zip(df["longitude"], df["latitude"]))
    with zipfile.ZipFile(path) as zf:
        occ = pd.read_csv(io.BytesIO(zf.read("occurrence.txt")), sep="\t", dtype=str, keep_default_na=False)
    return [(float(x), float(y)) for x, y in zip(occ["decimalLongitude"], occ["decimalLatitude"]) if x]


@pytest.mark.parametrize("fmt", ["csv", "gpkg", "geojson", "parquet", "dwca"])
def test_public_exports_carry_no_position_finer_than_the_level(demo, truth, fmt):
    secret = precise_points(truth)
    store = Store(demo["db"])
    with store.read() as con:
        pub = demo["dir"] / f"public.{fmt}"
        priv = demo["dir"] / f"private.{fmt}"
        res = export(con, fmt, pub, ExportFilter(quality="any"), public_mode=True)
        export(con, fmt, priv, ExportFilter(quality="any"), public_mode=False)
    assert not leaked(_public_points(pub, fmt), secret)
    assert leaked(_public_points(priv, fmt), secret) == len(secret) > 0   # private keeps full precision
    in_territory = truth[truth["in_territory"].fillna(False)]
    assert res.counts["observations"] == int((in_territory["expected"] < 4).sum())
    assert any("level 4" in n for n in res.notes) and any("blurred" in n for n in res.notes)


def test_public_csv_blurs_each_level_as_documented(demo, truth):
    store = Store(demo["db"])
    with store.read() as con:
        export(con, "csv", demo["dir"] / "levels.csv", ExportFilter(quality="any"), public_mode=True)
        export(con, "csv", demo["dir"] / "levels_private.csv", ExportFilter(quality="any"), public_mode=False)
    df = pd.read_csv(demo["dir"] / "levels.csv", dtype={"commune_code": str})
    private = pd.read_csv(demo["dir"] / "levels_private.csv")
    assert set(private["id"]) == set(truth.loc[truth["in_territory"].fillna(False), "id"])
    assert (private.set_index("id")["sensitivity_level"] == truth.set_index("id").loc[private["id"], "expected"]).all()
    blurred = df[df["sensitivity_level"] >= 1]
    assert (blurred["id"] < 0).all() and blurred["url"].isna().all() and blurred["image_url"].isna().all()
    assert not set(blurred["uuid"]) & set(truth["id"].map(lambda i: f"demo-{i}"))
    one, two, three = (df[df["sensitivity_level"] == k] for k in (1, 2, 3))
    assert one["latitude"].isna().all() and one["commune_code"].notna().all()
    assert three["latitude"].isna().all() and three["commune_code"].isna().all()
    assert (three["n2000_codes"].fillna("") == "").all()
    placed = two[~two["coordinates_obscured"]]
    assert placed["latitude"].notna().all() and (placed["coordinate_uncertainty_m"] == 7072).all()
    assert max(cell_centre_offsets(placed["longitude"], placed["latitude"])) < 1.0   # the cell's centre
    assert placed["commune_code"].isna().all()            # no demo commune holds a whole 10 km cell
    assert (df["diffusion"].str.startswith("Sensible") == (df["sensitivity_level"] > 0)).all()


def test_public_area_export_uses_the_blurred_place(demo, truth):
    """``--area`` of a public export filters on the blurred place: a level-3 record is in no
    commune's export, a level-1 record in its commune's."""
    store = Store(demo["db"])
    with store.read() as con:
        codes = [r[0] for r in con.execute("SELECT code FROM areas WHERE type = 'commune' AND in_territory").fetchall()]
        total, private_total = 0, 0
        for code in codes:
            out = demo["dir"] / f"area_{code}.csv"
            try:
                export(con, "csv", out, ExportFilter(area=code, quality="any"), public_mode=True)
            except Exception:
                continue
            df = pd.read_csv(out)
            assert not (df["sensitivity_level"] >= 2).any()
            total += int((df["sensitivity_level"] == 1).sum())
    at_commune = truth[(truth["expected"] == 1) & truth["in_territory"].fillna(False)]
    assert total == len(at_commune) > 0


def test_bad_referential_is_refused_in_one_line_and_changes_nothing(demo, tmp_path):
    import hashlib

    from helpers_sensitivity import BAD_REFERENTIALS

    before = hashlib.sha256(demo["db"].read_bytes()).hexdigest()
    for case in ("truncated row", "level 5", "comma-separated"):
        text, phrase = BAD_REFERENTIALS[case]
        bad = tmp_path / f"RefSensibilite_{case.replace(' ', '_')}.csv"
        bad.write_text(text, encoding="utf-8")
        done = biodiv_cli("--db", str(demo["db"]), "refs", "import", str(bad))
        assert done.returncode == 1 and phrase in done.stderr and len(done.stderr.strip().splitlines()) == 1, \
            (case, done.stderr)
    assert hashlib.sha256(demo["db"].read_bytes()).hexdigest() == before


def test_without_referential_a_cautious_default_applies_and_says_so(tmp_path):
    db = tmp_path / "demo.duckdb"
    build_demo(db, n_observations=600)
    con = duckdb.connect(str(db), read_only=True)
    try:
        info = data.sensitivity_info(con)
        assert "Aucun référentiel de sensibilité" in info["notice"] and "niveau 2" in info["notice"]
        protected = {r[0] for r in con.execute(
            "SELECT o.id FROM v_observations o WHERE (o.protected OR o.threatened) AND o.in_territory").fetchall()}
        pts = data.map_points(con, data.Filters(public=True, quality=()), 100_000)
        assert protected and not set(pts["id"]) & protected
        off = data.map_points(con, data.Filters(public=True, quality=(), sensitivity_default=0), 100_000)
        assert set(off["id"]) & protected              # switched off: iNaturalist's places
        assert "désactivé" in public.notice_fr(public.summary(con, 0))
    finally:
        con.close()
    out = tmp_path / "pub.csv"
    with Store(db).read() as c:
        res = export(c, "csv", out, ExportFilter(quality="any"), public_mode=True)
    assert any("no sensitivity referential imported" in n for n in res.notes)
    df = pd.read_csv(out)
    assert (df.loc[df["protected"] | df["threatened"], "sensitivity_level"] >= 2).all()
    assert df.loc[df["protected"] | df["threatened"], "latitude"].notna().sum() \
        == int(((df["protected"] | df["threatened"]) & (df["sensitivity_level"] == 2) & df["latitude"].notna()).sum())


def test_a_stale_level_is_withheld_until_the_next_refresh(tmp_path):
    """An observation changed after the levels were computed (here: moved) is not trusted."""
    from biodiv.sensitivity.levels import refresh

    db = tmp_path / "demo.duckdb"
    build_demo(db, n_observations=600)
    store = Store(db)
    with store.read() as c:
        row = c.execute("""SELECT s.observation_id FROM observation_sensitivity s JOIN observations o
                           ON o.id = s.observation_id WHERE s.cautious AND s.cell_ix IS NOT NULL
                           AND o.in_territory LIMIT 1""").fetchone()
    oid = row[0]
    with store.write() as c:
        c.execute("UPDATE observations SET lon = lon + 0.001 WHERE id = ?", [oid])
    with store.read() as c:
        lv = dict(c.execute(f"SELECT observation_id, level FROM ({public.levels_sql(2)})").fetchall())
        assert lv[oid] == 3                        # withheld to the territory until recomputed
    with store.write() as c:
        refresh(c)
    with store.read() as c:
        lv = dict(c.execute(f"SELECT observation_id, level FROM ({public.levels_sql(2)})").fetchall())
        assert lv[oid] == 2
    # a new area layer changes communes and the areas holding a cell: every stored level is stale
    with store.write() as c:
        c.execute("UPDATE areas SET loaded_at = loaded_at + INTERVAL 1 DAY WHERE type = 'commune'")
    with store.read() as c:
        lv = dict(c.execute(f"SELECT observation_id, level FROM ({public.levels_sql(2)})").fetchall())
        assert lv[oid] == 3


def test_the_referential_and_public_exports_on_the_ducklake_backend(tmp_path):
    """Migration 011, the import and the refresh through DuckLake (biodiv/store/lake_sql.py)."""
    pytest.importorskip("duckdb_extension_ducklake")
    from biodiv.sensitivity.levels import store_referential
    from biodiv.sensitivity.referential import read_referential

    from test_store_ducklake_suite import lake_copy_of

    db = tmp_path / "demo.duckdb"
    build_demo(db, n_observations=600)
    lake = lake_copy_of(db, tmp_path / "lake")
    with lake.write() as c:
        report = store_referential(c, read_referential(write_referential(tmp_path)), None)
    assert report.n_rules == 7 and report.levels
    with lake.read() as c:
        on_lake = dict(c.execute(f"SELECT observation_id, level FROM ({public.levels_sql(2)})").fetchall())
        export(c, "csv", tmp_path / "lake.csv", ExportFilter(quality="any"), public_mode=True)
    with Store(db).write() as c:
        store_referential(c, read_referential(write_referential(tmp_path)), None)
    with Store(db).read() as c:
        on_file = dict(c.execute(f"SELECT observation_id, level FROM ({public.levels_sql(2)})").fetchall())
    assert on_lake == on_file and set(on_lake.values()) >= {0, 1, 3, 4}
    df = pd.read_csv(tmp_path / "lake.csv")
    assert df.loc[df["sensitivity_level"] >= 1, "url"].isna().all()


def test_every_public_page_runs_shows_the_notice_and_draws_no_sensitive_point(demo, truth, tmp_path, monkeypatch):
    """AppTest (Streamlit, no browser): each page in public mode, on the store with the referential."""
    import re

    from test_dashboard_app import APP, PAGES, app_for
    from biodiv.dashboard import ui

    shown: dict[str, str] = {}
    original = ui.show_map

    def capture(m, key, height=560, clicks=False):
        shown[key] = m.get_root().render()
        return original(m, key, height, clicks)

    monkeypatch.setattr(ui, "show_map", capture)
    at = app_for(monkeypatch, tmp_path, demo["db"], public_mode=True, point_limit=4000).run()
    assert not at.exception
    for page in ("vue_ensemble.py", "carte.py", "fiche_commune.py", "fiche_site.py", "fiche_espece.py", "atelier.py"):
        at.switch_page(PAGES + page).run()
        assert not at.exception, (page, at.exception)
        notices = [i.value for i in at.info]
        assert any("données sensibles non diffusées" in n for n in notices), page
    assert APP and shown
    drawn = [(float(x), float(y)) for html in shown.values()
             for x, y in re.findall(r'"coordinates":\s*\[(-?\d+\.\d+),\s*(-?\d+\.\d+)\]', html)]
    secret = precise_points(truth)
    assert len(drawn) > 100 and leaked(drawn, secret) == 0
