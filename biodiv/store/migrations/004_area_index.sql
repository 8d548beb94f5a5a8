-- 004: cache of the per-area spatial index used by `biodiv attach` (biodiv/area_cache.py).
-- Derived data only: each row depends on the area's geometry alone, is checked against a
-- fingerprint of it (md5 of the WKB, the metric CRS, the index format) and rebuilt when it
-- differs, so deleting rows is always safe. Not meant for analysts.
CREATE TABLE area_index (
    area_id      INTEGER PRIMARY KEY,   -- areas.id
    fingerprint  VARCHAR NOT NULL,      -- md5 of the geometry's WKB; metric CRS; index format
    cells        BLOB NOT NULL,         -- int64 ids of the grid cells the area touches (metric CRS)
    depth        BLOB NOT NULL,         -- float64 per cell: depth (lower bound of the distance to the border), NaN if crossed
    near         BLOB NOT NULL          -- float64 (x, y) per cell: border point nearest its centre
);
CREATE TABLE area_index_cores (
    area_id      INTEGER NOT NULL,      -- area_index.area_id
    radius       DOUBLE NOT NULL,       -- accuracy bucket (metres) the core serves
    depth        DOUBLE,                -- certified least distance to the border; NULL: nothing left
    geom         BLOB                   -- the eroded area, WKB in the metric CRS; NULL: nothing left
);
