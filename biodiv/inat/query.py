"""What a harvest asks iNaturalist: the box (widened to the obscuring grid) and its narrowing.

Pure: no I/O. Why a module of its own: the harvest, the no-change probe and the
reconciliation ask the same query, and a harvest cursor belongs to it (``query_key``,
``harvest_state.query``, migration 010): another territory's query is read in full.
"""

from __future__ import annotations

import json
import math
from typing import Any

# iNaturalist obscures a location by a random public point in the 0.2° cell of a grid aligned
# on multiples of 0.2° that holds the true point (Observation.random_neighbor_lat_lon and
# uncertainty_cell_southwest_latlon in inaturalist/inaturalist app/models/observation.rb),
# and its box filter (swlat…nelng) reads that public point.
OBSCURING_CELL = 0.2


def query_box(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The box asked of iNaturalist: the territory's box widened to the whole 0.2° grid cells
    it touches. An obscured observation truly inside the territory has its public point in
    the same cell as its true point, so in this box, even when that point is outside the
    territory's own box; the attach then keeps it by the existing rules (a cell that
    overlaps the territory, ``biodiv.attach``). Observations in the margin that are not the
    territory's are stored and flagged outside, never dropped."""
    xmin, ymin, xmax, ymax = bbox

    def down(v: float) -> float:
        return round(math.floor(round(v / OBSCURING_CELL, 9)) * OBSCURING_CELL, 6)

    def up(v: float) -> float:
        return round(math.ceil(round(v / OBSCURING_CELL, 9)) * OBSCURING_CELL, 6)

    return (max(down(xmin), -180.0), max(down(ymin), -90.0), min(up(xmax), 180.0), min(up(ymax), 90.0))


def query_params(cfg, bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    """The observation query shared by harvest and reconciliation: the widened box
    (:func:`query_box`), optionally narrowed by ``place_id``/``project_id``."""
    xmin, ymin, xmax, ymax = query_box(bbox)
    params: dict[str, Any] = {"swlng": xmin, "swlat": ymin, "nelng": xmax, "nelat": ymax}
    if cfg.inaturalist.place_id:
        params["place_id"] = cfg.inaturalist.place_id
    if cfg.inaturalist.project_id:
        params["project_id"] = cfg.inaturalist.project_id
    return params


def query_key(cfg, bbox: tuple[float, float, float, float]) -> str:
    """The query a harvest cursor belongs to, as canonical JSON (``harvest_state.query``):
    another territory (or place_id/project_id) is another query, whose first run is full."""
    return json.dumps(query_params(cfg, bbox), sort_keys=True)
