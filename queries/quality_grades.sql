-- title: Quality-grade share
-- title_fr: Part des niveaux de qualité
-- description: Observations per iNaturalist quality grade (research, needs_id, casual) and
--   their share, in the territory or one area.
-- param: area VARCHAR = NULL | Area code (INSEE or Natura 2000); empty = the whole territory
-- column: quality_grade | research, needs_id or casual
-- column: n_observations | Observations
-- column: pct_observations | Share of the observations (%)

SELECT coalesce(o.quality_grade, 'unknown') AS quality_grade,
       count(*) AS n_observations,
       round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct_observations
FROM v_observations o
WHERE CASE WHEN $area IS NULL THEN coalesce(o.in_territory, false)
           ELSE in_area(o.id, $area, false) END
GROUP BY 1
ORDER BY n_observations DESC, quality_grade;
