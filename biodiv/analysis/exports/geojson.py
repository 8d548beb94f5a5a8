"""GeoJSON (RFC 7946) for web maps: WGS84 without a ``crs`` member, coordinates to 7
decimals (about a centimetre: iNaturalist's own precision), the collection named after the
file, instants as ISO text (the observation time in its own zone, with its offset)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from biodiv.analysis.exports.select import table_frame, text_times, to_geodataframe

COORDINATE_PRECISION = 7


def write(obs: pd.DataFrame, tmp: Path, name: str) -> None:
    table = text_times(table_frame(obs), obs)
    for col in ("latitude", "longitude"):      # the properties as precise as the geometry, no more
        if col in table:
            table[col] = table[col].round(COORDINATE_PRECISION)
    gdf = to_geodataframe(table, obs["wkb"])
    gdf.to_file(
        tmp, layer=name, driver="GeoJSON", engine="pyogrio", use_arrow=True,
        layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": str(COORDINATE_PRECISION)},
    )
