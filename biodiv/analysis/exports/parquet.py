"""GeoParquet 1.1 for data science (geopandas, DuckDB, GDAL).

What makes it useful at scale: rows sorted along a Hilbert curve (nearby points in nearby
rows), several row groups, and the ``bbox`` covering column, so a reader asking for a small
window skips the row groups whose bounding boxes miss it. Compressed with zstd (read by
DuckDB, pyarrow, GDAL and geopandas alike; smaller than the default snappy). Column types are fixed
(:data:`~biodiv.analysis.exports.select.TABLE_COLUMNS`): an empty column is still a string
column, so every extract has the same schema.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from biodiv.analysis.exports.select import table_frame, to_geodataframe

ROW_GROUP_SIZE = 20_000


def write(obs: pd.DataFrame, tmp: Path, row_group_size: int = ROW_GROUP_SIZE) -> None:
    gdf = to_geodataframe(table_frame(obs), obs["wkb"])
    located = ~(gdf.geometry.isna() | gdf.geometry.is_empty)
    order = np.full(len(gdf), np.iinfo(np.int64).max, dtype=np.int64)   # points without place last
    if located.any():
        order[located.to_numpy()] = gdf[located].hilbert_distance().to_numpy()
    gdf = gdf.iloc[np.lexsort((gdf["id"].to_numpy(), order))]
    gdf.to_parquet(tmp, index=False, schema_version="1.1.0", write_covering_bbox=True,
                   row_group_size=row_group_size, compression="zstd")
