-- 011: SINP sensitivity levels (biodiv/sensitivity/, docs/sensibilite.md).
-- The referentials imported by `biodiv refs import RefSensibilite….csv` (one source per file,
-- the national one and regional ones side by side), and the level each observation gets
-- (recomputed after every write that can change it: biodiv.sensitivity.levels.refresh).
-- Levels: 0 precise, 1 commune, 2 10 km cell, 3 department, 4 not published.

CREATE TABLE sensitivity_imports (
    source       VARCHAR PRIMARY KEY,        -- the file's name without extension
    file         VARCHAR,
    sha256       VARCHAR,
    n_rules      INTEGER,
    imported_at  TIMESTAMP DEFAULT current_timestamp
);

-- One row per rule of a referential, as written in the file (validated on import).
CREATE TABLE sensitivity_rules (
    source             VARCHAR NOT NULL,
    line               INTEGER NOT NULL,     -- line of the file
    cd_nom             INTEGER NOT NULL,     -- TAXREF name the rule is written for (and all below it)
    nom_cite           VARCHAR,
    name_key           VARCHAR,              -- NOM_CITE without author, normalised (matching without TAXREF)
    level              INTEGER NOT NULL,     -- CD_SENSIBILITE, 0-4
    department         VARCHAR,              -- CD_DEP/CD_DEPT ('34', '2A', '973'); NULL = everywhere
    duration_years     INTEGER,              -- DUREE: years after the observation; NULL = always
    period_start       VARCHAR,              -- DATE_MIN as 'MM-DD'; NULL = all year
    period_end         VARCHAR,              -- DATE_MAX as 'MM-DD'
    statut_biologique  VARCHAR,              -- criteria iNaturalist does not tell: kept, treated as matching
    comportement       VARCHAR,
    meth_obs           VARCHAR,
    stade_vie          VARCHAR,
    autre              VARCHAR
);

-- Every taxon examined at the last refresh, with the highest level its rules can give and whether
-- the cautious default covers it: an observation of such a taxon without a current row below is withheld.
CREATE TABLE sensitivity_taxa (
    taxon_id   BIGINT NOT NULL,
    max_level  INTEGER NOT NULL,
    cautious   BOOLEAN NOT NULL              -- protected or threatened, and no referential imported
);

-- The level of each observation of a taxon whose max_level > 0 or that the cautious default
-- covers, with what it was computed from (taxon, date, coordinates: a row that no longer
-- matches its observation is stale). Readers apply [sensitivity] default_level to `cautious`.
CREATE TABLE observation_sensitivity (
    observation_id   BIGINT NOT NULL,
    taxon_id         BIGINT,
    observed_on      DATE,
    lon              DOUBLE,
    lat              DOUBLE,
    level            INTEGER NOT NULL,       -- from the referentials (0 when none applies)
    cautious         BOOLEAN NOT NULL,       -- the cautious default covers it (no referential imported)
    rule_source      VARCHAR,                -- the referential of the deciding rule; 'default': the cautious default
    rule_line        INTEGER,                -- its line in the file
    commune_area_id  INTEGER,                -- areas.id of the observation's commune (level 1)
    cell_ix          BIGINT,                 -- its 10 km Lambert-93 cell (floor(x / 10 km)) when known to 10 km
    cell_iy          BIGINT
);

-- The areas a public output may place such an observation in, as GeoNature filters blurred
-- data: at level 1 those holding its whole commune (kind 'commune'), at level 2 its whole
-- 10 km cell (kind 'cell'); an obscured observation's links already hold its whole 0.2° cell.
CREATE TABLE observation_public_areas (
    observation_id  BIGINT NOT NULL,
    kind            VARCHAR NOT NULL,        -- 'commune' (level 1) or 'cell' (level 2)
    area_id         INTEGER NOT NULL,
    relation        VARCHAR NOT NULL         -- 'certain' or 'edge', as observation_areas
);

-- A secret of this store, for the stand-in identifiers of blurred observations in public exports.
INSERT INTO meta (key, value)
SELECT 'sensitivity_salt', md5(CAST(random() AS VARCHAR) || CAST(now() AS VARCHAR)) || md5(CAST(random() AS VARCHAR))
WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = 'sensitivity_salt');
