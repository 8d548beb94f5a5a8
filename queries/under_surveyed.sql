-- title: Under-surveyed areas (where to observe next)
-- title_fr: Zones sous-prospectées (où aller observer)
-- description: Areas ranked by observation effort relative to their size, lowest first:
--   observation-days per km², then fewest species. Communes of the territory or Natura 2000 sites.
-- param: area_type VARCHAR = commune [commune|n2000] | Which zoning to rank
-- param: limit INTEGER = 10 | How many areas to return
-- column: priority | Rank (1 = least surveyed)
-- column: area_code | INSEE code or Natura 2000 site code
-- column: area_name | Name
-- column: area_km2 | Area (km²)
-- column: n_observer_days | Distinct (observer, day) pairs
-- column: observer_days_per_km2 | Observation-days per km²
-- column: n_species | Species observed
-- column: last_observed | Date of the last observation (empty = never)

WITH effort AS (
    SELECT a.code AS area_code, a.name AS area_name, a.area_km2,
           count(DISTINCT CASE WHEN o.id IS NOT NULL THEN o.user_id::VARCHAR || '/' || o.observed_on::VARCHAR END)
               AS n_observer_days,
           count(DISTINCT CASE WHEN o.rank_level <= 10 THEN coalesce(o.species_id, o.taxon_id) END) AS n_species,
           max(o.observed_on) AS last_observed
    FROM areas a
    LEFT JOIN v_observation_areas o ON o.area_id = a.id
    WHERE ($area_type = 'commune' AND a.type = 'commune' AND a.in_territory)
       OR ($area_type = 'n2000' AND a.type LIKE 'n2000_%')
    GROUP BY a.code, a.name, a.area_km2
)
SELECT CAST(row_number() OVER (ORDER BY n_observer_days / nullif(area_km2, 0) NULLS FIRST,
                                        n_species, area_km2 DESC, area_code) AS INTEGER) AS priority,
       area_code, area_name, round(area_km2, 2) AS area_km2, n_observer_days,
       round(n_observer_days / nullif(area_km2, 0), 3) AS observer_days_per_km2,
       n_species, last_observed
FROM effort
ORDER BY priority
LIMIT $limit;
