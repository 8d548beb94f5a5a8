-- title: Observer effort per commune
-- title_fr: Effort d'observation par commune
-- description: For each commune of the territory: distinct observers, observation-days (one
--   observer on one day) and observations, absolute and per km². Every quality grade counts:
--   effort is about people in the field, not identifications.
-- param: since DATE = NULL | Only observations made on or after this date (empty = all)
-- column: insee_code | INSEE code of the commune
-- column: commune | Commune name
-- column: area_km2 | Area (km²)
-- column: n_observers | Distinct observers
-- column: n_observer_days | Distinct (observer, day) pairs
-- column: n_observations | Observations
-- column: observer_days_per_km2 | Observation-days per km²

SELECT a.code AS insee_code,
       a.name AS commune,
       round(a.area_km2, 2) AS area_km2,
       count(DISTINCT o.user_id) AS n_observers,
       count(DISTINCT CASE WHEN o.id IS NOT NULL THEN o.user_id::VARCHAR || '/' || o.observed_on::VARCHAR END)
           AS n_observer_days,
       count(o.id) AS n_observations,
       round(count(DISTINCT CASE WHEN o.id IS NOT NULL THEN o.user_id::VARCHAR || '/' || o.observed_on::VARCHAR END)
             / nullif(a.area_km2, 0), 3) AS observer_days_per_km2
FROM areas a
LEFT JOIN v_observation_areas o ON o.area_id = a.id
     AND ($since IS NULL OR o.observed_on >= CAST($since AS DATE))
WHERE a.type = 'commune' AND a.in_territory
GROUP BY a.code, a.name, a.area_km2
ORDER BY n_observer_days DESC, insee_code;
