"""``biodiv publish stakes``: the map of biodiversity stakes for planning (PLU/PLUi), a
GeoPackage that opens styled in QGIS.

Per 1 km cell of the national Lambert-93 grid (INPN codes, ``biodiv.dashboard.grid``): the
species at stake observed there (protected, threatened, patrimonial: the flags of
:func:`biodiv.dashboard.data.territory_species`), the survey effort (observation days:
distinct observer × day; observers) and a **stakes class**, documented in
docs/publier.md and in the layer's description:

* ``fort``: at least one threatened species (CR, EN, VU) or at least 3 protected species;
* ``moyen``: at least one protected or patrimonial species;
* ``faible``: species observed, none at stake, with at least ``MIN_EFFORT_DAYS`` observation days;
* ``peu prospecté``: fewer than ``MIN_EFFORT_DAYS`` observation days and no species at stake
  (a low count is little surveyed, not little at stake).

Public: built from the public layer (:func:`biodiv.report.sheets.public_filters`); an
observation is placed in a cell only when located at least as precisely as the cell and not
obscured (the dashboard's grid rule).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from biodiv.analysis.exports import styles
from biodiv.dashboard import data
from biodiv.dashboard.grid import cell_code, cell_ring
from biodiv.errors import BiodivError
from biodiv.report.sheets import Options, public_filters

SIZE_M = 1_000
MIN_EFFORT_DAYS = 3
LAYER = "enjeux_biodiversite"
CLASSES = [  # value, label, colour
    ("fort", "Enjeu fort (espèce menacée ou ≥ 3 espèces protégées)", "#d73027"),
    ("moyen", "Enjeu moyen (espèce protégée ou patrimoniale)", "#fc8d59"),
    ("faible", "Enjeu faible connu (prospecté, sans espèce à enjeu)", "#91bfdb"),
    ("peu prospecté", "Peu prospecté : enjeu inconnu", "#e0e0e0"),
]


class StakesError(BiodivError):
    pass


def stake_class(threatened: int, protected: int, patrimonial: int, obs_days: int) -> str:
    if threatened > 0 or protected >= 3:
        return "fort"
    if protected > 0 or patrimonial > 0:
        return "moyen"
    if obs_days >= MIN_EFFORT_DAYS:
        return "faible"
    return "peu prospecté"


def stakes_cells(con: duckdb.DuckDBPyConnection, options: Options = Options()) -> list[dict]:
    """One dict per 1 km cell with at least one observation placed in it."""
    f = public_filters(options.filters(), True, options.sensitivity_default)
    flags = data.territory_species(con, f)
    keys = {flag: [int(k) for k in flags.loc[flags[flag], "species_key"]]
            for flag in ("protected", "threatened", "patrimonial")}
    ix, iy, cond = data._in_grid_sql(SIZE_M)
    sql, params = data.filtered_sql(f)
    rows = con.execute(
        f"""WITH f AS ({sql}), c AS (SELECT {ix} AS ix, {iy} AS iy, * FROM f WHERE {cond})
            SELECT ix, iy, count(*), count(DISTINCT species_key),
                   count(DISTINCT species_key) FILTER (WHERE list_contains(?::BIGINT[], species_key)),
                   count(DISTINCT species_key) FILTER (WHERE list_contains(?::BIGINT[], species_key)),
                   count(DISTINCT species_key) FILTER (WHERE list_contains(?::BIGINT[], species_key)),
                   count(DISTINCT (coalesce(user_id, hash(user_login)), observed_on)),
                   count(DISTINCT coalesce(user_id, hash(user_login))), max(observed_on)
            FROM c GROUP BY 1, 2 ORDER BY 1, 2""",
        params + [keys["protected"], keys["threatened"], keys["patrimonial"]]).fetchall()
    out = []
    for x, y, n, sp, prot, thr, pat, days, obs, last in rows:
        out.append({"code": cell_code(SIZE_M, x, y), "ix": int(x), "iy": int(y), "observations": int(n),
                    "especes": int(sp), "protegees": int(prot), "menacees": int(thr), "patrimoniales": int(pat),
                    "jours_obs": int(days), "observateurs": int(obs),
                    "derniere_obs": last.isoformat() if last else None,
                    "classe": stake_class(int(thr), int(prot), int(pat), int(days))})
    return out


NOTE = ("Carte des enjeux de biodiversité par maille de 1 km (grille nationale Lambert-93, codes INPN), "
        "à partir des observations citoyennes iNaturalist. Classes : fort = au moins une espèce menacée "
        "(listes rouges CR, EN, VU) ou au moins 3 espèces protégées ; moyen = au moins une espèce protégée "
        "ou patrimoniale ; faible = prospecté (au moins 3 journées d'observation) sans espèce à enjeu ; "
        "peu prospecté = enjeu inconnu. Un faible nombre d'observations signifie peu de prospection, pas "
        "peu d'enjeux. Les observations d'espèces sensibles ne sont pas placées dans une maille plus fine "
        "que leur niveau de sensibilité.")


def write_stakes(con: duckdb.DuckDBPyConnection, out: Path, options: Options = Options()) -> dict:
    """Write the stakes GeoPackage (GeoPackage 1.2, Lambert-93, QGIS style as the layer's
    default) at ``out``; returns a summary."""
    import geopandas as gpd
    from pyproj import Transformer
    from shapely.geometry import Polygon

    out = Path(out)
    if out.suffix.lower() != ".gpkg":
        raise StakesError(f"the stakes map is a GeoPackage: give a file ending in .gpkg, got {out.name}")
    cells = stakes_cells(con, options)
    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    geoms = []
    for c in cells:
        ring = cell_ring(SIZE_M, c["ix"], c["iy"])
        xs, ys = to_l93.transform([p[0] for p in ring], [p[1] for p in ring])
        geoms.append(Polygon([(round(x, 1), round(y, 1)) for x, y in zip(xs, ys)]))
    frame = gpd.GeoDataFrame([{k: v for k, v in c.items() if k not in ("ix", "iy")} for c in cells] or None,
                             geometry=geoms, crs="EPSG:2154")
    tmp = out.with_name(out.stem + ".part.gpkg")   # GDAL wants the extension: renamed when complete
    tmp.unlink(missing_ok=True)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_file(tmp, layer=LAYER, driver="GPKG", engine="pyogrio",
                      layer_options={"DESCRIPTION": NOTE}, dataset_options={"VERSION": "1.2"})
        styles.add_styles(tmp, {LAYER: (styles.categorized("classe", CLASSES), NOTE)})
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StakesError(f"cannot write {out}: {exc.strerror or exc}") from None
    classes = {v: sum(1 for c in cells if c["classe"] == v) for v, _, _ in CLASSES}
    return {"cells": len(cells), "size_km": SIZE_M // 1000, "classes": classes,
            "with_stakes": classes["fort"] + classes["moyen"]}
