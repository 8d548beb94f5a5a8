-- title: Observations and species per Natura 2000 site
-- title_fr: Observations et espèces par site Natura 2000
-- description: For each Natura 2000 site loaded (ZSC and ZPS): observations (all and surely
--   inside), species, protected and threatened species, last observation.
-- param: quality VARCHAR = verifiable [any|verifiable|research|needs_id|casual] | Quality grades kept (verifiable = research + needs_id)
-- column: site_code | Natura 2000 site code (FR...)
-- column: site_name | Site name
-- column: site_type | n2000_zsc (Habitats directive) or n2000_zps (Birds directive)
-- column: area_km2 | Area of the site (km²)
-- column: n_observations | Observations in the site (certain or on the edge)
-- column: n_certain | Observations surely inside the site
-- column: n_species | Species observed
-- column: n_protected_species | Protected species observed
-- column: n_threatened_species | Threatened species observed
-- column: last_observed | Date of the last observation

SELECT a.code AS site_code,
       a.name AS site_name,
       a.type AS site_type,
       round(a.area_km2, 2) AS area_km2,
       count(o.id) AS n_observations,
       count(o.id) FILTER (WHERE o.relation = 'certain') AS n_certain,
       count(DISTINCT CASE WHEN o.rank_level <= 10 THEN coalesce(o.species_id, o.taxon_id) END) AS n_species,
       count(DISTINCT CASE WHEN o.rank_level <= 10 AND o.protected THEN coalesce(o.species_id, o.taxon_id) END)
           AS n_protected_species,
       count(DISTINCT CASE WHEN o.rank_level <= 10 AND o.threatened THEN coalesce(o.species_id, o.taxon_id) END)
           AS n_threatened_species,
       max(o.observed_on) AS last_observed
FROM areas a
LEFT JOIN v_observation_areas o ON o.area_id = a.id AND quality_ok(o.quality_grade, $quality)
WHERE a.type LIKE 'n2000_%'
GROUP BY a.code, a.name, a.type, a.area_km2
ORDER BY n_observations DESC, site_code;
