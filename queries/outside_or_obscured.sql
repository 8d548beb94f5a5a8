-- title: Observations outside the territory or obscured
-- title_fr: Observations hors territoire ou floutées
-- description: Observations kept but flagged: outside the territory (harvested by place or
--   bounding box, attached outside) and/or with coordinates obscured by iNaturalist (randomised
--   within a 0.2° cell, so their commune is uncertain).
-- param: kind VARCHAR = both [both|outside|obscured] | Which flagged observations to list
-- column: id | iNaturalist observation id
-- column: observed_on | Date
-- column: scientific_name | Scientific name
-- column: reason | outside, obscured, or outside+obscured
-- column: in_territory | Attached inside the territory
-- column: obscured | Coordinates obscured by iNaturalist
-- column: positional_accuracy | Public positional accuracy (m)
-- column: commune_code | INSEE code of the commune it was attached to, if any
-- column: uri | Link to the observation on iNaturalist

SELECT o.id,
       o.observed_on,
       o.scientific_name,
       concat_ws('+', CASE WHEN o.in_territory = false THEN 'outside' END,
                      CASE WHEN o.obscured THEN 'obscured' END) AS reason,
       o.in_territory,
       o.obscured,
       o.positional_accuracy,
       o.commune_code,
       o.uri
FROM v_observations o
WHERE ($kind IN ('both', 'outside') AND o.in_territory = false)
   OR ($kind IN ('both', 'obscured') AND o.obscured)
ORDER BY o.observed_on DESC, o.id;
