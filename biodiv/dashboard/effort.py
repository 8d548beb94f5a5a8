"""Survey effort ("où aller observer ?"): which communes and grid cells of the territory
are the least surveyed, in observation days (distinct observer × day) and observers per
km², against the whole territory.

Why worded with care: few observations in a place says that few naturalists went there,
not that it is poor in species; the texts here say "peu prospecté" and never rank places
by biodiversity. Pure functions (pandas, shapely, pyproj) of what ``data`` returned.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from biodiv.dashboard.labels import format_int

NOTE_FR = ("Un faible effort signifie que peu de naturalistes y ont observé : ces lieux sont "
           "**peu prospectés**, pas forcément pauvres en biodiversité. Ce sont de bons endroits "
           "où aller observer.")


def _ratio(x: float | None) -> str:
    if x is None or pd.isna(x):
        return "—"
    return (f"{x:.1f}" if x >= 1 or x == 0 else f"{x:.2f}").replace(".", ",")


def under_surveyed_communes(measures: pd.DataFrame, totals: dict[str, int], territory_km2: float | None,
                            n: int = 10) -> pd.DataFrame:
    """The ``n`` communes with the fewest observation days per km², with their share of the
    territory's mean effort."""
    mean = totals["obs_days"] / territory_km2 if territory_km2 else None
    df = measures.assign(obs_per_km2=[o / a if a else None for o, a in zip(measures["observers"], measures["area_km2"])])
    df = df.sort_values(["effort", "obs_days", "name"], na_position="first").head(n)
    return pd.DataFrame({
        "Commune": df["name"],
        "Jours d'observation": [format_int(v) for v in df["obs_days"]],
        "Jours d'observation par km²": [_ratio(v) for v in df["effort"]],
        "Observateurs par km²": [_ratio(v) for v in df["obs_per_km2"]],
        "Par rapport au territoire": ["—" if not mean or pd.isna(v) else f"{v / mean * 100:.0f} % de la moyenne"
                                      for v in df["effort"]],
    })


def territory_cells(communes: dict[str, Any], size_m: int) -> pd.DataFrame:
    """Every cell of the national grid that meets the territory (its communes' union), with
    the share of its area inside (ix, iy, code, km2_in)."""
    import numpy as np
    import shapely
    from pyproj import Transformer
    from shapely import box
    from shapely.geometry import shape
    from shapely.ops import unary_union

    from biodiv.dashboard.grid import cell_code

    geoms = [shape(f["geometry"]) for f in communes["features"]]
    if not geoms:
        return pd.DataFrame(columns=["ix", "iy", "code", "km2_in"])
    t = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    area = shapely.transform(unary_union(geoms), lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    x0, y0, x1, y1 = area.bounds
    rows = []
    for ix in range(int(x0 // size_m), int(x1 // size_m) + 1):
        for iy in range(int(y0 // size_m), int(y1 // size_m) + 1):
            inside = area.intersection(box(ix * size_m, iy * size_m, (ix + 1) * size_m, (iy + 1) * size_m)).area
            if inside > 0:
                rows.append((ix, iy, cell_code(size_m, ix, iy), inside / 1e6))
    return pd.DataFrame(rows, columns=["ix", "iy", "code", "km2_in"])


def under_surveyed_cells(cells: pd.DataFrame, counts: pd.DataFrame, size_m: int, n: int = 10,
                         min_share: float = 0.5) -> tuple[pd.DataFrame, int, int]:
    """Cells of the territory (at least ``min_share`` of their area inside) with the fewest
    observation days; returns (table, cells with no observation, cells considered)."""
    full = (size_m / 1000) ** 2
    kept = cells[cells["km2_in"] >= min_share * full]
    merged = kept.merge(counts[["code", "obs_days", "observers", "observations"]], on="code", how="left").fillna(
        {"obs_days": 0, "observers": 0, "observations": 0})
    merged = merged.sort_values(["obs_days", "observations", "code"]).head(n)
    table = pd.DataFrame({
        "Maille": merged["code"],
        "Jours d'observation": [format_int(v) for v in merged["obs_days"]],
        "Observateurs": [format_int(v) for v in merged["observers"]],
        "Observations": [format_int(v) for v in merged["observations"]],
    })
    empty = int((~kept["code"].isin(counts["code"])).sum())
    return table, empty, len(kept)
