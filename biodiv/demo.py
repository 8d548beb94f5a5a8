"""A sample database the project generates itself, for offline demonstrations and benchmarks.

Why: a facilitator must be able to show the dashboard with no harvest and no network, and
the benchmark needs 100k–1M observations on demand. Everything is generated from a seed
(same seed, same database): a small fictional territory (Voronoi communes with fictional
names and codes ``ZZ…`` that are not INSEE codes, two fictional Natura 2000 sites) and
observations of real-looking taxa with seasons, hotspots, obscured and removed records.

The demo is always written to its own file (``data/demo.duckdb`` by default), never over a
real database: :func:`build_demo` refuses a target whose ``meta.demo`` is not ``true``.
The benchmark passes real commune polygons instead of the fictional ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

import duckdb
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point, box

from biodiv.errors import BiodivError
from biodiv.sensitivity.levels import refresh as refresh_sensitivity
from biodiv.store.database import Store, connect, transaction

DEMO_DB_NAME = "demo.duckdb"
DEFAULT_SEED = 20260401

# Fictional territory: centre of France, away from any real EPCI the project targets.
_DEMO_BBOX = (2.05, 46.10, 2.35, 46.30)
_DEMO_COMMUNES = [
    "Saint-Exemple", "Val-Fictif", "Bourg-la-Démo", "Les Essais-sur-Lez", "Montimaginaire",
    "Sainte-Maquette", "Le Prototype", "Fausse-Rivière", "Villefeinte", "Cazals-Pour-de-Faux",
    "Mont-Supposé", "La Simulée",
]
# (scientific name, French name, iconic group, protected code, threatened code)
_TAXA: list[tuple[str, str, str, str | None, str | None]] = [
    ("Merops apiaster", "Guêpier d'Europe", "Aves", "PN", None),
    ("Upupa epops", "Huppe fasciée", "Aves", "PN", None),
    ("Coracias garrulus", "Rollier d'Europe", "Aves", "PN", None),
    ("Bubo bubo", "Grand-duc d'Europe", "Aves", "PN", None),
    ("Aquila fasciata", "Aigle de Bonelli", "Aves", "PN", "EN"),
    ("Circaetus gallicus", "Circaète Jean-le-Blanc", "Aves", "PN", None),
    ("Parus major", "Mésange charbonnière", "Aves", "PN", None),
    ("Turdus merula", "Merle noir", "Aves", None, None),
    ("Erithacus rubecula", "Rougegorge familier", "Aves", "PN", None),
    ("Passer domesticus", "Moineau domestique", "Aves", "PN", None),
    ("Alcedo atthis", "Martin-pêcheur d'Europe", "Aves", "PN", None),
    ("Ardea cinerea", "Héron cendré", "Aves", "PN", None),
    ("Columba palumbus", "Pigeon ramier", "Aves", None, None),
    ("Falco tinnunculus", "Faucon crécerelle", "Aves", "PN", None),
    ("Quercus ilex", "Chêne vert", "Plantae", None, None),
    ("Quercus pubescens", "Chêne pubescent", "Plantae", None, None),
    ("Pistacia lentiscus", "Pistachier lentisque", "Plantae", None, None),
    ("Salvia rosmarinus", "Romarin", "Plantae", None, None),
    ("Thymus vulgaris", "Thym commun", "Plantae", None, None),
    ("Cistus albidus", "Ciste cotonneux", "Plantae", None, None),
    ("Ophrys scolopax", "Ophrys bécasse", "Plantae", None, None),
    ("Orchis purpurea", "Orchis pourpre", "Plantae", None, None),
    ("Olea europaea", "Olivier", "Plantae", None, None),
    ("Ailanthus altissima", "Ailante glanduleux", "Plantae", None, None),
    ("Juniperus oxycedrus", "Genévrier cade", "Plantae", None, None),
    ("Arbutus unedo", "Arbousier", "Plantae", None, None),
    ("Zerynthia polyxena", "Diane", "Insecta", "PN", None),
    ("Iphiclides podalirius", "Flambé", "Insecta", None, None),
    ("Papilio machaon", "Machaon", "Insecta", None, None),
    ("Mantis religiosa", "Mante religieuse", "Insecta", None, None),
    ("Saga pedo", "Magicienne dentelée", "Insecta", "PN", None),
    ("Oedipoda caerulescens", "Œdipode turquoise", "Insecta", None, None),
    ("Libelloides coccajus", "Ascalaphe soufré", "Insecta", None, None),
    ("Xylocopa violacea", "Xylocope violet", "Insecta", None, None),
    ("Apis mellifera", "Abeille domestique", "Insecta", None, None),
    ("Coccinella septempunctata", "Coccinelle à sept points", "Insecta", None, None),
    ("Cicada orni", "Cigale grise", "Insecta", None, None),
    ("Gomphus graslinii", "Gomphe de Graslin", "Insecta", "PN", "VU"),
    ("Timon lepidus", "Lézard ocellé", "Reptilia", "PN", "VU"),
    ("Podarcis muralis", "Lézard des murailles", "Reptilia", "PN", None),
    ("Malpolon monspessulanus", "Couleuvre de Montpellier", "Reptilia", "PN", None),
    ("Emys orbicularis", "Cistude d'Europe", "Reptilia", "PN", "VU"),
    ("Pelobates cultripes", "Pélobate cultripède", "Amphibia", "PN", "VU"),
    ("Bufo spinosus", "Crapaud épineux", "Amphibia", "PN", None),
    ("Pelophylax ridibundus", "Grenouille rieuse", "Amphibia", None, None),
    ("Sus scrofa", "Sanglier", "Mammalia", None, None),
    ("Vulpes vulpes", "Renard roux", "Mammalia", None, None),
    ("Sciurus vulgaris", "Écureuil roux", "Mammalia", "PN", None),
    ("Castor fiber", "Castor d'Europe", "Mammalia", "PN", None),
    ("Rhinolophus ferrumequinum", "Grand rhinolophe", "Mammalia", "PN", "VU"),
    ("Argiope bruennichi", "Argiope frelon", "Arachnida", None, None),
    ("Latrodectus tredecimguttatus", "Malmignatte", "Arachnida", None, None),
    ("Cornu aspersum", "Escargot petit-gris", "Mollusca", None, None),
    ("Amanita caesarea", "Oronge", "Fungi", None, None),
    ("Pleurotus eryngii", "Pleurote du panicaut", "Fungi", None, None),
    ("Barbus meridionalis", "Barbeau méridional", "Actinopterygii", None, "VU"),
]
# Species only seen in the last year of data ("nouvelles espèces").
_NEWCOMERS = ("Latrodectus tredecimguttatus", "Coracias garrulus", "Pleurotus eryngii")
_TAXON_ID0 = 9_000_001  # demo taxon ids (not iNaturalist ids)


@dataclass
class AreaInput:
    """A polygon to load as an area (WGS84 lon/lat)."""

    type: str
    code: str
    name: str
    geom: Any  # shapely geometry
    in_territory: bool | None = None


# ---------------------------------------------------------------------------
# Pure generation
# ---------------------------------------------------------------------------

def fictional_areas(seed: int = DEFAULT_SEED) -> list[AreaInput]:
    """Twelve Voronoi communes inside a rounded outline and two Natura 2000 sites."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = _DEMO_BBOX
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    outline = shapely.affinity.scale(Point(cx, cy).buffer(1.0, 32), (x1 - x0) / 2, (y1 - y0) / 2)
    pts = shapely.MultiPoint(np.column_stack([rng.uniform(x0, x1, 12), rng.uniform(y0, y1, 12)]))
    cells = shapely.voronoi_polygons(pts, extend_to=box(x0 - 1, y0 - 1, x1 + 1, y1 + 1))
    areas = []
    for i, cell in enumerate(sorted(cells.geoms, key=lambda g: (round(g.centroid.y, 4), g.centroid.x))):
        geom = shapely.make_valid(cell.intersection(outline))
        areas.append(AreaInput("commune", f"ZZ{i + 1:03d}", _DEMO_COMMUNES[i], geom, True))
    river = LineString([(x0 + 0.02, y0 + 0.05), (cx - 0.03, cy - 0.01), (cx + 0.04, cy + 0.03),
                        (x1 - 0.03, y1 - 0.04)])
    zsc = river.buffer(0.012, 8).intersection(outline)
    zps = shapely.affinity.scale(Point(cx - 0.07, cy + 0.04).buffer(1.0, 24), 0.06, 0.04)
    areas.append(AreaInput("n2000_zsc", "FRDEMO01", "Gorges fictives du Lez (démo)", zsc))
    areas.append(AreaInput("n2000_zps", "FRDEMO02", "Plateau imaginaire des Essais (démo)", zps))
    return areas


def demo_taxa() -> pd.DataFrame:
    """Taxa rows (species, plus one genus, one order and one subspecies) and their statuses."""
    rows = []
    for i, (sci, fr, iconic, _, threat) in enumerate(_TAXA):
        tid = _TAXON_ID0 + i
        rows.append(dict(id=tid, name=sci, common_name_fr=fr, rank="species", rank_level=10.0,
                         iconic_taxon_name=iconic, species_id=tid, genus_name=sci.split()[0],
                         conservation_status=threat, threatened=threat is not None))
    base = _TAXON_ID0 + len(_TAXA)
    robin = next(r for r in rows if r["name"] == "Erithacus rubecula")
    rows.append(dict(id=base, name="Quercus", common_name_fr="Chênes", rank="genus", rank_level=20.0,
                     iconic_taxon_name="Plantae", species_id=None, genus_name="Quercus",
                     conservation_status=None, threatened=False))
    rows.append(dict(id=base + 1, name="Lepidoptera", common_name_fr="Papillons", rank="order",
                     rank_level=40.0, iconic_taxon_name="Insecta", species_id=None, genus_name=None,
                     conservation_status=None, threatened=False))
    rows.append(dict(id=base + 2, name="Erithacus rubecula rubecula", common_name_fr="Rougegorge familier",
                     rank="subspecies", rank_level=5.0, iconic_taxon_name="Aves",
                     species_id=robin["id"], genus_name="Erithacus", conservation_status=None,
                     threatened=False))
    return pd.DataFrame(rows)


def demo_statuses(taxa: pd.DataFrame) -> pd.DataFrame:
    by_name = dict(zip(taxa["name"], taxa["id"]))
    rows = []
    for sci, _, _, prot, threat in _TAXA:
        if prot:
            rows.append(dict(taxon_id=by_name[sci], source="demo", kind="protected", code=prot,
                             label="Protection nationale (démo)", scope="France"))
        if threat:
            rows.append(dict(taxon_id=by_name[sci], source="demo", kind="threatened", code=threat,
                             label="Liste rouge (démo)", scope="France"))
    return pd.DataFrame(rows)


def _points_in(polys: Sequence[Any], n: int, rng: np.random.Generator,
               hotspots: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points inside the union of ``polys``: half uniform, half around hotspots."""
    union = shapely.union_all(polys)
    shapely.prepare(union)
    x0, y0, x1, y1 = union.bounds
    centres = []
    while len(centres) < hotspots:
        c = (rng.uniform(x0, x1), rng.uniform(y0, y1))
        if shapely.contains_xy(union, *c):
            centres.append(c)
    centres = np.array(centres)
    xs, ys = [], []
    got = 0
    while got < n:
        m = max(1024, int((n - got) * 1.6))
        uniform = rng.random(m) < 0.5
        k = rng.integers(0, hotspots, m)
        sd = (x1 - x0) * 0.02
        x = np.where(uniform, rng.uniform(x0, x1, m), centres[k, 0] + rng.normal(0, sd, m))
        y = np.where(uniform, rng.uniform(y0, y1, m), centres[k, 1] + rng.normal(0, sd, m))
        inside = shapely.contains_xy(union, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
        got += int(inside.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _which_polygon(polys: Sequence[Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the polygon holding each point (-1 if none): bbox mask then contains_xy."""
    out = np.full(len(x), -1, dtype=np.int64)
    for i, poly in enumerate(polys):
        shapely.prepare(poly)
        a, b, c, d = poly.bounds
        cand = np.flatnonzero((out < 0) & (x >= a) & (x <= c) & (y >= b) & (y <= d))
        if len(cand):
            hit = shapely.contains_xy(poly, x[cand], y[cand])
            out[cand[hit]] = i
    return out


def generate_observations(n: int, polys: Sequence[Any], taxa: pd.DataFrame, *, seed: int,
                          end: date, years: int = 5) -> pd.DataFrame:
    """``n`` observation rows inside ``polys`` (lon/lat), deterministic for a seed and end date."""
    rng = np.random.default_rng(seed + 1)
    lon, lat = _points_in(polys, n, rng)
    # Taxa: Zipf-like popularity; newcomers only in the last year.
    species = taxa[taxa["rank"] == "species"].reset_index(drop=True)
    weights = 1.0 / np.arange(1, len(taxa) + 1) ** 0.8
    weights = rng.permutation(weights)
    weights /= weights.sum()
    taxon_idx = rng.choice(len(taxa), size=n, p=weights)
    taxon_id = taxa["id"].to_numpy()[taxon_idx]
    # Dates: seasonal (spring peak) and growing over the years.
    span = years * 365
    days_ago = np.arange(span)
    doy = np.array([(end - timedelta(days=int(d))).timetuple().tm_yday for d in days_ago])
    season = 1.0 + 0.8 * np.cos((doy - 135) / 365.0 * 2 * np.pi)
    growth = 1.0 + 1.5 * (1 - days_ago / span)
    p = season * growth
    ago = rng.choice(span, size=n, p=p / p.sum())
    start_of_year = (end - date(end.year, 1, 1)).days
    newcomer_ids = set(species.loc[species["name"].isin(_NEWCOMERS), "id"])
    is_new = np.isin(taxon_id, list(newcomer_ids))
    ago[is_new] = rng.integers(0, start_of_year + 1, int(is_new.sum()))
    observed_on = pd.to_datetime(np.datetime64(end) - ago.astype("timedelta64[D]"))
    grade = rng.choice(["research", "needs_id", "casual"], size=n, p=[0.62, 0.3, 0.08])
    above_species = ~np.isin(taxon_id, species["id"].to_numpy())
    grade = np.where(above_species & (grade == "research"), "needs_id", grade)
    accuracy = np.round(np.exp(rng.normal(3.2, 1.2, n)), 0)
    accuracy[rng.random(n) < 0.1] = np.nan
    obscured = rng.random(n) < 0.04
    # Obscured: published point anywhere in the true point's 0.2° cell (as iNaturalist does).
    cell = 0.2
    lon_pub = np.where(obscured, np.floor(lon / cell) * cell + rng.random(n) * cell, lon)
    lat_pub = np.where(obscured, np.floor(lat / cell) * cell + rng.random(n) * cell, lat)
    users = rng.integers(1, 31, n)
    removed = rng.random(n) < 0.01
    created = observed_on + pd.to_timedelta(rng.integers(0, 72, n), unit="h")
    end_ts = datetime.combine(end, time(12, 0), tzinfo=timezone.utc)
    ids = np.arange(1, n + 1, dtype=np.int64)
    return pd.DataFrame({
        "id": ids,
        "observed_on": observed_on,
        "created_at": created.tz_localize("UTC"),
        "quality_grade": grade,
        "taxon_id": taxon_id,
        "lon": np.round(lon_pub, 6),
        "lat": np.round(lat_pub, 6),
        "true_lon": lon,
        "true_lat": lat,
        "positional_accuracy": np.where(obscured, np.nan, accuracy),
        "geoprivacy": np.where(obscured, "obscured", None),
        "obscured": obscured,
        "user_id": users,
        "user_login": [f"naturaliste_demo_{u:02d}" for u in users],
        "removed_at": np.where(removed, end_ts, None),
        "harvested_at": end_ts,
    })


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def _insert_areas(con: duckdb.DuckDBPyConnection, areas: list[AreaInput], source: str) -> None:
    df = pd.DataFrame({
        "type": [a.type for a in areas],
        "code": [a.code for a in areas],
        "name": [a.name for a in areas],
        "wkb": [shapely.to_wkb(a.geom) for a in areas],
        "in_territory": [a.in_territory for a in areas],
    })
    con.register("demo_areas", df)
    con.execute(
        """INSERT INTO areas (type, code, name, geom, area_km2, xmin, ymin, xmax, ymax, in_territory,
                              source, source_date)
           SELECT type, code, name, g,
                  ST_Area(ST_Transform(g, 'EPSG:4326', 'EPSG:2154', always_xy := true)) / 1e6,
                  ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g), in_territory, ?, current_date
           FROM (SELECT *, ST_GeomFromWKB(wkb) AS g FROM demo_areas)""",
        [source],
    )
    con.unregister("demo_areas")


def _insert_territory(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute(
        """INSERT INTO territory (id, name, epci_siren, insee_codes, geom, xmin, ymin, xmax, ymax, area_km2)
           SELECT 1, ?, NULL, list(code ORDER BY code), u, ST_XMin(u), ST_YMin(u), ST_XMax(u), ST_YMax(u),
                  sum(area_km2)
           FROM (SELECT code, area_km2, ST_Union_Agg(geom) OVER () AS u FROM areas
                 WHERE type = 'commune' AND in_territory)
           GROUP BY u""",
        [name],
    )
    # the other layers are flagged as an import flags them (areas.territory.refresh_territory_outline):
    # in the territory when they meet its outline
    con.execute(
        """UPDATE areas SET in_territory = coalesce(
               (SELECT ST_Intersects(areas.geom, t.geom) FROM territory t WHERE t.id = 1), false)
           WHERE type <> 'commune'"""
    )


def _link_direct(con: duckdb.DuckDBPyConnection, obs: pd.DataFrame, areas: list[AreaInput]) -> None:
    """Links from the generated true points (fast path for the benchmark).

    Obscured observations get no link (their 0.2° cell is larger than any commune); an
    observation whose accuracy disk may cross a border (accuracy unknown or > 200 m) is 'edge'.
    """
    ids = dict(con.execute("SELECT type || '/' || code, id FROM areas").fetchall())
    x, y = obs["true_lon"].to_numpy(), obs["true_lat"].to_numpy()
    obscured = obs["obscured"].to_numpy()
    acc = obs["positional_accuracy"].to_numpy()
    relation = np.where(np.isnan(acc) | (acc > 200), "edge", "certain")
    territory_of = np.zeros(len(obs), dtype=bool)
    frames = []
    for area_type in sorted({a.type for a in areas}):
        group = [a for a in areas if a.type == area_type]
        idx = _which_polygon([a.geom for a in group], x, y)
        hit = np.flatnonzero((idx >= 0) & ~obscured)
        area_ids = np.array([ids[f"{area_type}/{a.code}"] for a in group], dtype=np.int64)
        frames.append(pd.DataFrame({"observation_id": obs["id"].to_numpy()[hit],
                                    "area_id": area_ids[idx[hit]], "relation": relation[hit]}))
        if area_type == "commune":
            member = np.array([bool(a.in_territory) for a in group])
            territory_of = (idx >= 0) & member[np.maximum(idx, 0)]
    links = pd.concat(frames, ignore_index=True)
    con.register("demo_links", links)
    con.execute("INSERT INTO observation_areas SELECT observation_id, area_id, relation FROM demo_links")
    con.unregister("demo_links")
    flags = pd.DataFrame({"id": obs["id"].to_numpy(), "in_territory": territory_of})
    con.register("demo_flags", flags)
    con.execute(
        """UPDATE observations o SET in_territory = f.in_territory, needs_attach = false
           FROM demo_flags f WHERE f.id = o.id"""
    )
    con.unregister("demo_flags")


def _attach_with_lead_rules(con: duckdb.DuckDBPyConnection) -> dict | None:
    """Link with the project's own attach step (biodiv.attach.links) when it is available."""
    try:
        from biodiv.attach.links import attach
    except ImportError:
        return None
    return attach(con, all_observations=True)


def generate_demo(con: duckdb.DuckDBPyConnection, *, n_observations: int = 4000,
                  seed: int = DEFAULT_SEED, end: date | None = None,
                  areas: list[AreaInput] | None = None, territory_name: str | None = None,
                  link: str = "attach") -> dict[str, Any]:
    """Fill an empty, migrated database with demo data; returns counts.

    ``areas`` defaults to the fictional territory; ``link='attach'`` uses the project's
    attach step (falls back to ``'direct'`` links computed from the generated points when
    that step is not installed); ``link='direct'`` is the fast path for big benchmarks.
    """
    end = end or date.today()
    areas = areas if areas is not None else fictional_areas(seed)
    communes = [a for a in areas if a.type == "commune"]
    if not communes:
        raise BiodivError("demo: no commune polygon to generate observations in")
    if con.execute("SELECT count(*) FROM observations").fetchone()[0]:
        raise BiodivError("demo: the target database already holds observations")
    taxa = demo_taxa()
    statuses = demo_statuses(taxa)
    # Observations fall in the territory (90 %) and in neighbouring communes (10 %).
    members = [a.geom for a in communes if a.in_territory]
    others = [a.geom for a in communes if not a.in_territory]
    n_out = int(n_observations * 0.1) if others else 0
    obs_in = generate_observations(n_observations - n_out, members, taxa, seed=seed, end=end)
    parts = [obs_in]
    if n_out:
        near = shapely.union_all(members).buffer(0.15)
        around = [g for g in others if g.intersects(near)] or others
        parts.append(generate_observations(n_out, around, taxa, seed=seed + 7, end=end))
    obs = pd.concat(parts, ignore_index=True)
    obs["id"] = np.arange(1, len(obs) + 1, dtype=np.int64)
    with transaction(con):
        _insert_areas(con, areas, source="biodiv demo (generated)")
        _insert_territory(con, territory_name or "Communauté de communes fictive (démo)")
        con.register("demo_taxa", taxa)
        con.execute(
            """INSERT INTO taxa (id, name, common_name_fr, rank, rank_level, iconic_taxon_name, species_id,
                                 genus_name, conservation_status, threatened, ancestors_resolved, fetched_at)
               SELECT id, name, common_name_fr, rank, rank_level, iconic_taxon_name, species_id, genus_name,
                      conservation_status, threatened, true, current_timestamp FROM demo_taxa"""
        )
        con.unregister("demo_taxa")
        if len(statuses):
            con.register("demo_statuses", statuses)
            con.execute("INSERT INTO taxon_statuses SELECT taxon_id, source, kind, code, label, scope, NULL"
                        " FROM demo_statuses")
            con.unregister("demo_statuses")
        con.register("demo_obs", obs.drop(columns=["true_lon", "true_lat"]))
        con.execute(
            """INSERT INTO observations (id, uuid, observed_on, created_at, updated_at, quality_grade, taxon_id,
                                         lon, lat, geom, positional_accuracy, geoprivacy, obscured, captive,
                                         user_id, user_login, license_code, harvested_at, removed_at,
                                         needs_attach)
               SELECT id, 'demo-' || id, CAST(observed_on AS DATE), created_at, created_at, quality_grade, taxon_id,
                      lon, lat, ST_Point(lon, lat), positional_accuracy, geoprivacy, obscured, false,
                      user_id, user_login, 'cc-by', harvested_at, removed_at, true
               FROM demo_obs"""
        )
        con.unregister("demo_obs")
        con.execute("INSERT OR REPLACE INTO meta VALUES ('demo', 'true'), ('demo_seed', ?)", [str(seed)])
    result = _attach_with_lead_rules(con) if link == "attach" else None
    if result is None:
        with transaction(con):
            _link_direct(con, obs, areas)
        link = "direct"
    refresh_sensitivity(con)   # the cautious default's levels (no referential in a demo)
    stats = {
        "observations": len(obs),
        "areas": len(areas),
        "taxa": len(taxa),
        "link": link,
        "in_territory": con.execute("SELECT count(*) FROM observations WHERE in_territory").fetchone()[0],
    }
    con.execute(
        "INSERT INTO runs (kind, finished_at, status, params, stats) VALUES "
        "('demo', current_timestamp, 'ok', ?, ?)",
        [json.dumps({"seed": seed, "n_observations": n_observations, "end": end.isoformat()}),
         json.dumps(stats)],
    )
    return stats


def is_demo_file(path: Path) -> bool:
    """True when ``path`` is a biodiv database whose ``meta.demo`` is ``true``."""
    try:
        con = connect(path, read_only=True)
    except BiodivError:
        return False
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'demo'").fetchone()
        return bool(row) and row[0] == "true"
    except duckdb.Error:
        return False
    finally:
        con.close()


def build_demo(path: Path | str, *, real_db: Path | str | None = None, **kwargs: Any) -> dict[str, Any]:
    """(Re)build the demo database at ``path``, published atomically; returns counts.

    Refuses to touch the real database (``real_db``) or any existing file that is not a demo.
    """
    path = Path(path)
    if real_db is not None and path.resolve() == Path(real_db).resolve():
        raise BiodivError(f"{path} is the real database: the demo needs its own file (e.g. data/{DEMO_DB_NAME})")
    if path.exists() and not is_demo_file(path):
        raise BiodivError(f"{path} exists and is not a demo database: choose another path")
    store = Store(path)
    store.discard_wip()
    if path.exists():
        tmp = path.with_name(path.name + ".old")
        os.replace(path, tmp)  # readers keep their snapshot; restored below if generation fails
    else:
        tmp = None
    try:
        with store.write(create=True) as con:
            stats = generate_demo(con, **kwargs)
    except BaseException:
        store.discard_wip()
        if tmp is not None:
            os.replace(tmp, path)
        raise
    if tmp is not None:
        tmp.unlink(missing_ok=True)
    return stats


def real_commune_areas(communes_geojson: Path, territory_codes: set[str]) -> list[AreaInput]:
    """Real commune polygons (e.g. Hérault) for benchmark databases."""
    import geopandas as gpd

    gdf = gpd.read_file(communes_geojson)
    return [AreaInput("commune", str(r.code), str(r.nom), r.geometry, str(r.code) in territory_codes)
            for r in gdf.itertuples()]
