-- title: Last observation per area
-- title_fr: Dernière observation par zone
-- description: For each area (communes of the territory, Natura 2000 sites), the date and
--   taxon of the latest observation and the days elapsed since (today's date).
-- param: area_type VARCHAR = all [all|commune|n2000] | Which zoning to list
-- column: area_type | commune, n2000_zsc or n2000_zps
-- column: area_code | INSEE code or Natura 2000 site code
-- column: area_name | Name
-- column: last_observed | Date of the last observation (empty = never)
-- column: days_since | Days between the last observation and today
-- column: last_taxon | Scientific name of the last observation's taxon
-- column: n_observations | Observations in the area

SELECT a.type AS area_type,
       a.code AS area_code,
       a.name AS area_name,
       max(o.observed_on) AS last_observed,
       CAST(current_date - max(o.observed_on) AS INTEGER) AS days_since,
       arg_max(o.scientific_name, (o.observed_on, o.id)) AS last_taxon,
       count(o.id) AS n_observations
FROM areas a
LEFT JOIN v_observation_areas o ON o.area_id = a.id
WHERE ((a.type = 'commune' AND a.in_territory) OR a.type LIKE 'n2000_%')
  AND ($area_type = 'all' OR ($area_type = 'commune' AND a.type = 'commune')
       OR ($area_type = 'n2000' AND a.type LIKE 'n2000_%'))
GROUP BY a.type, a.code, a.name
ORDER BY last_observed NULLS FIRST, area_type, area_code;
