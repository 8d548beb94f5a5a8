-- 003: analyst layer. Reference status lists (kept so that taxa harvested later are
-- matched too), the result of matching them to iNaturalist taxa, and views that make
-- ad-hoc SQL easy (v_observations, v_taxon_status, v_species, v_area_stats, ...).
-- Views only read tables of 001; statuses of a species also apply to its subspecies.

-- Normalised scientific name used to match iNaturalist names with TAXREF names:
-- lower case, no accents, no subgenus in parentheses, no rank markers (subsp., var.),
-- hybrid sign as 'x', single spaces. 'Quercus ilex subsp. ilex' -> 'quercus ilex ilex'.
CREATE OR REPLACE MACRO name_key(s) AS trim(regexp_replace(regexp_replace(regexp_replace(
    replace(lower(strip_accents(s)), '×', ' x '),
    '\([^)]*\)', ' ', 'g'),
    '(^|\s)(subsp|ssp|var|subvar|nothosubsp|f)\.(\s|$)', ' ', 'g'),
    '\s+', ' ', 'g'));

-- Quality-grade filter shared by the named queries: q is any, verifiable (research or
-- needs_id, iNaturalist's own term), research, needs_id or casual.
CREATE OR REPLACE MACRO quality_ok(grade, q) AS
    (q = 'any' OR (q = 'verifiable' AND grade IN ('research', 'needs_id')) OR grade = q);

-- Does observation obs_id fall in the area with this code (surely, if certain_only)?
CREATE OR REPLACE MACRO in_area(obs_id, area_code, certain_only) AS EXISTS (
    SELECT 1 FROM observation_areas oa JOIN areas a ON a.id = oa.area_id
    WHERE oa.observation_id = obs_id AND a.code = area_code
      AND (NOT certain_only OR oa.relation = 'certain'));

-- One row per imported reference file (the latest import of a source replaces the previous).
CREATE TABLE ref_imports (
    source       VARCHAR PRIMARY KEY,        -- inpn_protection, inpn_redlist
    file         VARCHAR,                    -- path or URL it came from
    format       VARCHAR,                    -- protection_list, bdc_statuts
    sha256       VARCHAR,
    n_taxa       INTEGER,                    -- distinct CD_REF
    n_statuses   INTEGER,
    imported_at  TIMESTAMP DEFAULT current_timestamp
);

-- Statuses of the reference list, per TAXREF taxon (CD_REF).
CREATE TABLE ref_statuses (
    source         VARCHAR NOT NULL,
    ref_id         VARCHAR NOT NULL,         -- TAXREF CD_REF
    kind           VARCHAR NOT NULL,         -- protected, threatened, other
    code           VARCHAR NOT NULL,         -- PN, PR, PD, POM, VU, EN, CR, NT, LC, ...
    label          VARCHAR,
    scope          VARCHAR NOT NULL DEFAULT '',  -- France, a region, a department
    PRIMARY KEY (source, ref_id, code, scope)
);

-- Every scientific name of a reference taxon: the accepted name and its synonyms.
CREATE TABLE ref_names (
    source         VARCHAR NOT NULL,
    ref_id         VARCHAR NOT NULL,
    name           VARCHAR NOT NULL,         -- as written in the list
    name_key       VARCHAR NOT NULL,         -- name_key(name)
    accepted       BOOLEAN NOT NULL,         -- true: valid name of ref_id; false: synonym
    vernacular_fr  VARCHAR,
    ref_group      VARCHAR                   -- classification of the list (oiseau, flore, ...)
);

-- How each iNaturalist taxon was matched to a reference taxon (one row per source).
--   status 'matched': one reference taxon (via its accepted name, else one synonym);
--   status 'ambiguous': several reference taxa share the name: listed, never guessed.
CREATE TABLE ref_matches (
    taxon_id     BIGINT NOT NULL,
    source       VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,           -- matched, ambiguous
    via          VARCHAR,                    -- accepted, synonym
    ref_id       VARCHAR,                    -- the CD_REF when matched
    candidates   VARCHAR[],                  -- the CD_REFs when ambiguous
    taxon_name   VARCHAR,
    matched_at   TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (taxon_id, source)
);

-- Statuses per taxon, iNaturalist's own and the official ones, inherited by subspecies.
CREATE VIEW v_taxon_statuses AS
SELECT t.id AS taxon_id, s.source, s.kind, s.code, s.label, s.scope, s.ref_id,
       (s.taxon_id <> t.id) AS inherited
FROM taxa t
JOIN taxon_statuses s ON s.taxon_id = t.id OR (s.taxon_id = t.species_id AND t.species_id <> t.id);

-- One row per taxon: is it protected / threatened, and by which codes.
CREATE VIEW v_taxon_status AS
SELECT t.id AS taxon_id,
       coalesce(bool_or(s.kind = 'protected'), false)                        AS protected,
       coalesce(bool_or(s.kind = 'protected' AND s.code = 'PN'), false)      AS protected_national,
       coalesce(bool_or(s.kind = 'threatened'), false) OR coalesce(any_value(t.threatened), false)
                                                                             AS threatened,
       string_agg(DISTINCT CASE WHEN s.kind = 'protected' THEN s.code END, ', '
                  ORDER BY CASE WHEN s.kind = 'protected' THEN s.code END)   AS protection_codes,
       string_agg(DISTINCT CASE WHEN s.kind IN ('threatened', 'other') AND s.source <> 'inaturalist'
                  THEN s.code || CASE WHEN s.scope <> '' THEN ' (' || s.scope || ')' ELSE '' END END, ', '
                  ORDER BY CASE WHEN s.kind IN ('threatened', 'other') AND s.source <> 'inaturalist'
                  THEN s.code || CASE WHEN s.scope <> '' THEN ' (' || s.scope || ')' ELSE '' END END)
                                                                             AS redlist_codes,
       coalesce(any_value(t.conservation_status),
                string_agg(DISTINCT CASE WHEN s.source = 'inaturalist' THEN s.code END, ', '))
                                                                             AS inat_status
FROM taxa t
LEFT JOIN v_taxon_statuses s ON s.taxon_id = t.id
GROUP BY t.id;

-- Observations as analysts want them: not removed, with names, group, commune, Natura 2000.
CREATE VIEW v_observations AS
WITH communes AS (
    SELECT oa.observation_id,
           arg_min(a.code, CASE oa.relation WHEN 'certain' THEN 0 ELSE 1 END) AS commune_code,
           arg_min(a.name, CASE oa.relation WHEN 'certain' THEN 0 ELSE 1 END) AS commune_name,
           min(oa.relation) AS commune_relation      -- 'certain' < 'edge'
    FROM observation_areas oa JOIN areas a ON a.id = oa.area_id AND a.type = 'commune'
    GROUP BY oa.observation_id
), n2000 AS (
    SELECT oa.observation_id,
           list(a.code ORDER BY a.code) AS n2000_codes,
           list(a.code ORDER BY a.code) FILTER (WHERE oa.relation = 'certain') AS n2000_certain_codes
    FROM observation_areas oa JOIN areas a ON a.id = oa.area_id AND a.type LIKE 'n2000_%'
    GROUP BY oa.observation_id
)
SELECT o.id, o.uuid, o.observed_on,
       year(o.observed_on) AS year, month(o.observed_on) AS month,
       o.observed_at, o.created_at, o.updated_at, o.quality_grade,
       o.taxon_id, t.name AS scientific_name, t.common_name_fr, t.rank, t.rank_level,
       coalesce(t.iconic_taxon_name, 'Unknown') AS group_name,
       t.kingdom_name, t.phylum_name, t.class_name, t.order_name, t.family_name, t.genus_name,
       t.species_id,
       o.lon, o.lat, o.geom, o.positional_accuracy, o.geoprivacy, o.taxon_geoprivacy,
       coalesce(o.obscured, false) AS obscured, o.captive, o.place_guess,
       o.user_id, o.user_login, o.license_code, o.photo_url, o.uri,
       o.in_territory,
       c.commune_code, c.commune_name, c.commune_relation,
       coalesce(n.n2000_codes, []::VARCHAR[]) AS n2000_codes,
       coalesce(n.n2000_certain_codes, []::VARCHAR[]) AS n2000_certain_codes,
       coalesce(s.protected, false) AS protected,
       coalesce(s.threatened, false) AS threatened,
       s.protection_codes, s.redlist_codes
FROM observations o
LEFT JOIN taxa t ON t.id = o.taxon_id
LEFT JOIN communes c ON c.observation_id = o.id
LEFT JOIN n2000 n ON n.observation_id = o.id
LEFT JOIN v_taxon_status s ON s.taxon_id = o.taxon_id
WHERE o.removed_at IS NULL;

-- One row per (observation, area it falls in), for per-area statistics of any zoning.
CREATE VIEW v_observation_areas AS
SELECT a.id AS area_id, a.type AS area_type, a.code AS area_code, a.name AS area_name,
       a.area_km2, oa.relation, o.*
FROM observation_areas oa
JOIN areas a ON a.id = oa.area_id
JOIN v_observations o ON o.id = oa.observation_id;

-- Species of the territory (observations identified to species or below, rolled up to
-- the species), with counts, dates and statuses.
CREATE VIEW v_species AS
SELECT coalesce(o.species_id, o.taxon_id) AS taxon_id,
       sp.name AS scientific_name, sp.common_name_fr,
       coalesce(sp.iconic_taxon_name, 'Unknown') AS group_name,
       sp.kingdom_name, sp.class_name, sp.order_name, sp.family_name,
       count(*) AS n_observations,
       count(*) FILTER (WHERE o.quality_grade = 'research') AS n_research,
       count(DISTINCT o.user_id) AS n_observers,
       min(o.observed_on) AS first_observed, max(o.observed_on) AS last_observed,
       coalesce(any_value(s.protected), false) AS protected,
       coalesce(any_value(s.threatened), false) AS threatened,
       any_value(s.protection_codes) AS protection_codes,
       any_value(s.redlist_codes) AS redlist_codes
FROM v_observations o
JOIN taxa sp ON sp.id = coalesce(o.species_id, o.taxon_id)
LEFT JOIN v_taxon_status s ON s.taxon_id = sp.id
WHERE o.in_territory AND o.rank_level <= 10
GROUP BY ALL;

-- One row per area (communes, Natura 2000 sites, ...): effort and richness.
CREATE VIEW v_area_stats AS
SELECT a.id AS area_id, a.type AS area_type, a.code AS area_code, a.name AS area_name,
       a.area_km2, a.in_territory,
       count(o.id) AS n_observations,
       count(DISTINCT CASE WHEN o.rank_level <= 10 THEN coalesce(o.species_id, o.taxon_id) END) AS n_species,
       count(DISTINCT o.user_id) AS n_observers,
       count(DISTINCT CASE WHEN o.id IS NOT NULL THEN o.user_id::VARCHAR || '/' || o.observed_on::VARCHAR END)
           AS n_observer_days,
       max(o.observed_on) AS last_observed
FROM areas a
LEFT JOIN observation_areas oa ON oa.area_id = a.id
LEFT JOIN v_observations o ON o.id = oa.observation_id
GROUP BY ALL;
