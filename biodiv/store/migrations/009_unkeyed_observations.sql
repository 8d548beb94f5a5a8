-- 009: observations and observation_raw without a PRIMARY KEY (id stays NOT NULL).
-- Why: DuckDB 1.5's checkpoint rewrites a table that carries an ART index as a whole,
-- in memory and outside memory_limit (duckdb/duckdb#24848). Measured on a store of
-- 200,000 real-shaped observations: one 200-row page then CHECKPOINT took +129 MB
-- (observations) and +120 MB (observation_raw) of RSS with the key, +17 MB and +4 MB
-- without it, and every harvest page ends in a commit that may checkpoint. The key was
-- only ever the target of the harvest's upsert, which knows from its own page read which
-- ids are stored (biodiv.inat.db.upsert_observations): it now updates those and inserts
-- the others, so an id is still written once. Views bind by name and follow the new tables.
CREATE TABLE observations_009 (
    id BIGINT NOT NULL,
    uuid VARCHAR,
    observed_on DATE,
    observed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    quality_grade VARCHAR,
    taxon_id BIGINT,
    lon DOUBLE,
    lat DOUBLE,
    geom GEOMETRY,
    positional_accuracy DOUBLE,
    geoprivacy VARCHAR,
    taxon_geoprivacy VARCHAR,
    obscured BOOLEAN DEFAULT false,
    captive BOOLEAN,
    place_guess VARCHAR,
    user_id BIGINT,
    user_login VARCHAR,
    license_code VARCHAR,
    photo_url VARCHAR,
    photo_license VARCHAR,
    uri VARCHAR,
    identifications_count INTEGER,
    identifications_agree INTEGER,
    identifications_disagree INTEGER,
    harvested_at TIMESTAMPTZ,
    removed_at TIMESTAMPTZ,
    needs_attach BOOLEAN DEFAULT true,
    in_territory BOOLEAN,
    user_name VARCHAR,
    time_zone VARCHAR,
    photo_attribution VARCHAR,
    identified_by VARCHAR,
    identified_at TIMESTAMPTZ,
    description VARCHAR
);
INSERT INTO observations_009 SELECT * FROM observations ORDER BY id;
DROP TABLE observations;
ALTER TABLE observations_009 RENAME TO observations;
CREATE TABLE observation_raw_009 (id BIGINT NOT NULL, raw BLOB NOT NULL);
INSERT INTO observation_raw_009 SELECT * FROM observation_raw ORDER BY id;
DROP TABLE observation_raw;
ALTER TABLE observation_raw_009 RENAME TO observation_raw;
