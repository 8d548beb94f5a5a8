-- title: Taxonomic-group breakdown
-- title_fr: Répartition par groupe taxonomique
-- description: Observations and species per taxonomic group (iNaturalist iconic taxa: Aves,
--   Plantae, Insecta...), with the share of observations, in the territory or one area.
-- param: area VARCHAR = NULL | Area code (INSEE or Natura 2000); empty = the whole territory
-- param: quality VARCHAR = verifiable [any|verifiable|research|needs_id|casual] | Quality grades kept (verifiable = research + needs_id)
-- column: group_name | Taxonomic group
-- column: n_observations | Observations
-- column: n_species | Species
-- column: pct_observations | Share of the observations (%)

SELECT o.group_name,
       count(*) AS n_observations,
       count(DISTINCT CASE WHEN o.rank_level <= 10 THEN coalesce(o.species_id, o.taxon_id) END) AS n_species,
       round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct_observations
FROM v_observations o
WHERE quality_ok(o.quality_grade, $quality)
  AND CASE WHEN $area IS NULL THEN coalesce(o.in_territory, false)
           ELSE in_area(o.id, $area, false) END
GROUP BY o.group_name
ORDER BY n_observations DESC, group_name;
