-- title: Species new to the territory per year
-- title_fr: Nouvelles espèces du territoire par année
-- description: For each year, the species observed in the territory for the first time that
--   year (in this database), and the cumulative number of species.
-- param: quality VARCHAR = verifiable [any|verifiable|research|needs_id|casual] | Quality grades kept (verifiable = research + needs_id)
-- column: year | Year
-- column: n_new_species | Species first observed that year
-- column: n_species_cumulative | Species observed up to that year
-- column: new_species | Scientific names of the new species, comma-separated

WITH firsts AS (
    SELECT coalesce(species_id, taxon_id) AS species, min(year) AS first_year
    FROM v_observations
    WHERE coalesce(in_territory, false) AND rank_level <= 10 AND year IS NOT NULL
      AND quality_ok(quality_grade, $quality)
    GROUP BY 1
)
SELECT f.first_year AS year,
       count(*) AS n_new_species,
       CAST(sum(count(*)) OVER (ORDER BY f.first_year) AS BIGINT) AS n_species_cumulative,
       string_agg(t.name, ', ' ORDER BY t.name) AS new_species
FROM firsts f
JOIN taxa t ON t.id = f.species
GROUP BY f.first_year
ORDER BY year;
