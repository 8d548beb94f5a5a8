-- title: Protected and threatened species
-- title_fr: Espèces protégées et menacées
-- description: Species with a protection status (France: national, regional, departmental)
--   or a threatened status (red list VU/EN/CR, iNaturalist), in the territory or one area.
-- param: area VARCHAR = NULL | Area code (INSEE or Natura 2000); empty = the whole territory
-- param: quality VARCHAR = verifiable [any|verifiable|research|needs_id|casual] | Quality grades kept (verifiable = research + needs_id)
-- column: taxon_id | iNaturalist id of the species
-- column: scientific_name | Scientific name
-- column: common_name_fr | French vernacular name
-- column: group_name | Taxonomic group
-- column: protected | Protected in France
-- column: threatened | Threatened
-- column: protection_codes | Protection codes (PN, PR, PD, POM)
-- column: redlist_codes | Red-list categories with their scope
-- column: n_observations | Observations
-- column: last_observed | Date of the last observation
-- column: communes | Communes where it was observed

SELECT sp.id AS taxon_id,
       sp.name AS scientific_name,
       sp.common_name_fr,
       coalesce(sp.iconic_taxon_name, 'Unknown') AS group_name,
       s.protected,
       s.threatened,
       s.protection_codes,
       s.redlist_codes,
       count(*) AS n_observations,
       max(o.observed_on) AS last_observed,
       string_agg(DISTINCT o.commune_name, ', ' ORDER BY o.commune_name) AS communes
FROM v_observations o
JOIN taxa sp ON sp.id = coalesce(o.species_id, o.taxon_id)
JOIN v_taxon_status s ON s.taxon_id = sp.id
WHERE (s.protected OR s.threatened)
  AND o.rank_level <= 10
  AND quality_ok(o.quality_grade, $quality)
  AND CASE WHEN $area IS NULL THEN coalesce(o.in_territory, false)
           ELSE in_area(o.id, $area, false) END
GROUP BY ALL
ORDER BY s.protected DESC, s.threatened DESC, group_name, scientific_name;
