-- title: Species per area
-- title_fr: Espèces par zone
-- description: Every species observed in one area (a commune by INSEE code or a Natura 2000
--   site by site code), with French name, group, counts, first and last year and statuses.
--   Observations identified above species level are not counted; subspecies roll up.
-- param: area VARCHAR | Area code: INSEE code of a commune (34114) or Natura 2000 site code (FR9101388)
-- param: quality VARCHAR = verifiable [any|verifiable|research|needs_id|casual] | Quality grades kept (verifiable = research + needs_id)
-- param: certain_only BOOLEAN = false | Keep only observations surely inside the area (not on its edge)
-- column: taxon_id | iNaturalist id of the species
-- column: scientific_name | Scientific name
-- column: common_name_fr | French vernacular name
-- column: group_name | Taxonomic group (iNaturalist iconic taxon: Aves, Plantae, Insecta...)
-- column: n_observations | Observations of the species in the area
-- column: n_observers | Distinct observers
-- column: first_year | Year of the first observation
-- column: last_year | Year of the last observation
-- column: last_observed | Date of the last observation
-- column: protected | Protected in France (national, regional or departmental list)
-- column: threatened | Threatened (red list VU/EN/CR, or iNaturalist status)
-- column: protection_codes | Protection codes (PN, PR, PD, POM)
-- column: redlist_codes | Red-list categories with their scope

SELECT sp.id AS taxon_id,
       sp.name AS scientific_name,
       sp.common_name_fr,
       coalesce(sp.iconic_taxon_name, 'Unknown') AS group_name,
       count(*) AS n_observations,
       count(DISTINCT o.user_id) AS n_observers,
       min(o.year) AS first_year,
       max(o.year) AS last_year,
       max(o.observed_on) AS last_observed,
       coalesce(s.protected, false) AS protected,
       coalesce(s.threatened, false) AS threatened,
       s.protection_codes,
       s.redlist_codes
FROM v_observation_areas o
JOIN taxa sp ON sp.id = coalesce(o.species_id, o.taxon_id)
LEFT JOIN v_taxon_status s ON s.taxon_id = sp.id
WHERE o.area_code = $area
  AND (NOT $certain_only OR o.relation = 'certain')
  AND quality_ok(o.quality_grade, $quality)
  AND o.rank_level <= 10
GROUP BY ALL
ORDER BY group_name, scientific_name;
