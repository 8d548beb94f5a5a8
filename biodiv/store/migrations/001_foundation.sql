-- 001: foundation schema, after GeoNature's ref_geo: one table for every kind of
-- zoning (areas), one link table between observations and areas.
-- Geometries are WGS84 longitude/latitude; areas in km² are computed in Lambert-93.

CREATE TABLE schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        VARCHAR NOT NULL,
    applied_at  TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE area_types (
    code   VARCHAR PRIMARY KEY,
    label  VARCHAR NOT NULL
);
INSERT INTO area_types VALUES
    ('commune',   'Commune'),
    ('n2000_zsc', 'Natura 2000 ZSC/SIC (directive Habitats)'),
    ('n2000_zps', 'Natura 2000 ZPS (directive Oiseaux)'),
    ('znieff1',   'ZNIEFF de type I'),
    ('znieff2',   'ZNIEFF de type II'),
    ('custom',    'Zonage personnalisé');

CREATE SEQUENCE areas_id_seq START 1;
CREATE TABLE areas (
    id            INTEGER PRIMARY KEY DEFAULT nextval('areas_id_seq'),
    type          VARCHAR NOT NULL,          -- area_types.code
    code          VARCHAR NOT NULL,          -- INSEE code, Natura 2000 site code, ...
    name          VARCHAR,
    geom          GEOMETRY NOT NULL,         -- WGS84 lon/lat
    area_km2      DOUBLE,                    -- computed in Lambert-93 (EPSG:2154)
    xmin DOUBLE, ymin DOUBLE, xmax DOUBLE, ymax DOUBLE,
    in_territory  BOOLEAN,                   -- communes: member of the configured territory
    source        VARCHAR,                   -- file path or URL of the layer
    source_date   DATE,                      -- date of the layer (download or file date)
    loaded_at     TIMESTAMP DEFAULT current_timestamp,
    UNIQUE (type, code)
);

-- The territory (one row): an EPCI or a list of communes.
CREATE TABLE territory (
    id           INTEGER PRIMARY KEY DEFAULT 1,
    name         VARCHAR NOT NULL,
    epci_siren   VARCHAR,
    insee_codes  VARCHAR[] NOT NULL,
    geom         GEOMETRY,                   -- union of the member communes, once loaded
    xmin DOUBLE, ymin DOUBLE, xmax DOUBLE, ymax DOUBLE,
    area_km2     DOUBLE,
    updated_at   TIMESTAMP DEFAULT current_timestamp,
    CHECK (id = 1)
);

CREATE TABLE taxa (
    id                   BIGINT PRIMARY KEY,
    name                 VARCHAR,            -- scientific name
    common_name_fr       VARCHAR,
    rank                 VARCHAR,
    rank_level           DOUBLE,
    iconic_taxon_name    VARCHAR,            -- Aves, Plantae, Insecta, ...
    ancestor_ids         BIGINT[],
    kingdom_name         VARCHAR,
    phylum_name          VARCHAR,
    class_name           VARCHAR,
    order_name           VARCHAR,
    family_name          VARCHAR,
    genus_name           VARCHAR,
    species_id           BIGINT,             -- the species-rank ancestor (or itself)
    conservation_status  VARCHAR,            -- iNaturalist status code (e.g. 'VU'), if any
    threatened           BOOLEAN,
    endemic              BOOLEAN,
    introduced           BOOLEAN,
    native               BOOLEAN,
    photo_url            VARCHAR,
    wikipedia_url        VARCHAR,
    ancestors_resolved   BOOLEAN DEFAULT false,
    fetched_at           TIMESTAMP
);

CREATE TABLE observations (
    id                       BIGINT PRIMARY KEY,
    uuid                     VARCHAR,
    observed_on              DATE,
    observed_at              TIMESTAMPTZ,
    created_at               TIMESTAMPTZ,
    updated_at               TIMESTAMPTZ,
    quality_grade            VARCHAR,        -- research, needs_id, casual
    taxon_id                 BIGINT,
    lon                      DOUBLE,
    lat                      DOUBLE,
    geom                     GEOMETRY,       -- POINT(lon lat), NULL without coordinates
    positional_accuracy      DOUBLE,         -- metres (public accuracy), NULL if unknown
    geoprivacy               VARCHAR,        -- NULL, obscured, private
    taxon_geoprivacy         VARCHAR,
    obscured                 BOOLEAN DEFAULT false,
    captive                  BOOLEAN,
    place_guess              VARCHAR,
    user_id                  BIGINT,
    user_login               VARCHAR,
    license_code             VARCHAR,
    photo_url                VARCHAR,
    photo_license            VARCHAR,
    uri                      VARCHAR,
    identifications_count    INTEGER,
    identifications_agree    INTEGER,
    identifications_disagree INTEGER,
    harvested_at             TIMESTAMPTZ,
    removed_at               TIMESTAMPTZ,    -- soft delete (reconciliation)
    needs_attach             BOOLEAN DEFAULT true,
    attached_at              TIMESTAMPTZ,
    in_territory             BOOLEAN         -- NULL until attached; false = outside, kept and flagged
);

-- The raw API record, zlib-compressed JSON, so that a new column never needs a re-harvest.
CREATE TABLE observation_raw (
    id    BIGINT PRIMARY KEY,
    raw   BLOB NOT NULL
);

-- Which observation falls in which area, and how sure that is:
--   certain: point and its accuracy disk (or, if obscured, its whole 0.2° cell) inside;
--   edge:    point inside but the disk crosses the border, or accuracy unknown.
-- No primary key on purpose: attach writes a million links at once and an ART index would
-- triple that cost; biodiv.attach guarantees one row per (observation, area).
CREATE TYPE link_relation AS ENUM ('certain', 'edge');
CREATE TABLE observation_areas (
    observation_id  BIGINT NOT NULL,
    area_id         INTEGER NOT NULL,
    relation        link_relation NOT NULL
);

CREATE SEQUENCE runs_id_seq START 1;
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY DEFAULT nextval('runs_id_seq'),
    kind         VARCHAR NOT NULL,           -- init, areas_import, areas_fetch, attach, harvest, reconcile, demo
    started_at   TIMESTAMPTZ DEFAULT current_timestamp,
    finished_at  TIMESTAMPTZ,
    status       VARCHAR NOT NULL DEFAULT 'running',  -- running, ok, failed, interrupted, budget
    params       JSON,
    stats        JSON,
    message      VARCHAR
);

-- Small key/value facts about the database (e.g. demo = true).
CREATE TABLE meta (
    key    VARCHAR PRIMARY KEY,
    value  VARCHAR
);

-- Protection and red-list statuses per taxon, from official lists (INPN/TAXREF) and
-- from iNaturalist. kind: 'protected' (code PN/PR/PD/POM) or 'threatened' (VU/EN/CR...).
CREATE TABLE taxon_statuses (
    taxon_id   BIGINT NOT NULL,
    source     VARCHAR NOT NULL,             -- e.g. inpn_protection, inaturalist
    kind       VARCHAR NOT NULL,             -- protected, threatened, other
    code       VARCHAR NOT NULL,             -- PN, PR, PD, POM, VU, EN, CR, ...
    label      VARCHAR,
    scope      VARCHAR NOT NULL DEFAULT '',  -- France, a region, a department, a place
    ref_id     VARCHAR,                      -- TAXREF CD_REF or source's own id
    PRIMARY KEY (taxon_id, source, code, scope)
);

-- Harvest cursors: one row per scope, committed with every page so a killed run resumes.
CREATE TABLE harvest_state (
    scope            VARCHAR PRIMARY KEY,    -- observations, reconcile
    mode             VARCHAR,                -- full, incremental
    id_above         BIGINT,                 -- last id stored in the run in progress
    updated_since    TIMESTAMPTZ,            -- lower bound of the run in progress
    run_id           INTEGER,
    started_at       TIMESTAMPTZ,
    in_progress      BOOLEAN DEFAULT false,
    last_success_at  TIMESTAMPTZ             -- start time of the last complete run
);
