-- 012: in_area() immune to the caller's column names.
-- The macro of 003 joined observation_areas and areas inside its subquery, so a bare column
-- passed as its first argument bound to a column of that subquery, not to the caller's row:
-- `SELECT count(*) FROM v_observations WHERE in_area(id, '34001', false)` compared the area's
-- own id (areas.id) and counted every observation; `in_area(observation_id, …)` matched the
-- link itself. Here the subquery only sees columns named _in_area_*, which no table of the
-- store has: `id`, `observation_id`, `code`... reach the caller's row whatever they are.
CREATE OR REPLACE MACRO in_area(obs_id, area_code, certain_only) AS EXISTS (
    SELECT 1
    FROM (SELECT observation_id AS _in_area_obs, area_id AS _in_area_area, relation AS _in_area_rel
          FROM observation_areas) _in_area_l
    JOIN (SELECT id AS _in_area_id, code AS _in_area_code FROM areas) _in_area_a
      ON _in_area_a._in_area_id = _in_area_l._in_area_area
    WHERE _in_area_l._in_area_obs = obs_id AND _in_area_a._in_area_code = area_code
      AND (NOT certain_only OR _in_area_l._in_area_rel = 'certain'));
