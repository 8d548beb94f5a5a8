-- title: Richness and observations per commune
-- title_fr: Richesse et observations par commune
-- description: For each commune of the territory: observations and species, in absolute
--   numbers and per km² (areas computed in Lambert-93).
-- param: quality VARCHAR = verifiable [any|verifiable|research|needs_id|casual] | Quality grades kept (verifiable = research + needs_id)
-- column: insee_code | INSEE code of the commune
-- column: commune | Commune name
-- column: area_km2 | Area of the commune (km²)
-- column: n_observations | Observations in the commune
-- column: n_species | Species observed in the commune
-- column: observations_per_km2 | Observations per km²
-- column: species_per_km2 | Species per km²

SELECT a.code AS insee_code,
       a.name AS commune,
       round(a.area_km2, 2) AS area_km2,
       count(o.id) AS n_observations,
       count(DISTINCT CASE WHEN o.rank_level <= 10 THEN coalesce(o.species_id, o.taxon_id) END) AS n_species,
       round(count(o.id) / nullif(a.area_km2, 0), 3) AS observations_per_km2,
       round(count(DISTINCT CASE WHEN o.rank_level <= 10 THEN coalesce(o.species_id, o.taxon_id) END)
             / nullif(a.area_km2, 0), 3) AS species_per_km2
FROM areas a
LEFT JOIN v_observation_areas o ON o.area_id = a.id AND quality_ok(o.quality_grade, $quality)
WHERE a.type = 'commune' AND a.in_territory
GROUP BY a.code, a.name, a.area_km2
ORDER BY n_species DESC, n_observations DESC, insee_code;
