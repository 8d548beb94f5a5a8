-- title: Phenology of a taxon by month
-- title_fr: Phénologie d'un taxon par mois
-- description: Observations of a taxon and everything below it (species, subspecies...) per
--   month of the year, all years together, in the territory or one area. Twelve rows.
-- param: taxon_id BIGINT | iNaturalist taxon id (a species, genus, family...)
-- param: area VARCHAR = NULL | Area code (INSEE or Natura 2000); empty = the whole territory
-- param: quality VARCHAR = verifiable [any|verifiable|research|needs_id|casual] | Quality grades kept (verifiable = research + needs_id)
-- column: month | Month (1 = January)
-- column: n_observations | Observations that month
-- column: n_years | Distinct years with an observation that month
-- column: n_observers | Distinct observers that month

WITH obs AS (
    SELECT o.month, o.year, o.user_id
    FROM v_observations o
    JOIN taxa t ON t.id = o.taxon_id
    WHERE (o.taxon_id = $taxon_id OR list_contains(t.ancestor_ids, $taxon_id) OR o.species_id = $taxon_id)
      AND quality_ok(o.quality_grade, $quality)
      AND CASE WHEN $area IS NULL THEN coalesce(o.in_territory, false)
               ELSE in_area(o.id, $area, false) END
)
SELECT CAST(m.month AS INTEGER) AS month,
       count(obs.month) AS n_observations,
       count(DISTINCT obs.year) AS n_years,
       count(DISTINCT obs.user_id) AS n_observers
FROM range(1, 13) AS m(month)
LEFT JOIN obs ON obs.month = m.month
GROUP BY m.month
ORDER BY m.month;
