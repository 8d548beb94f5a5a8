"""Step 0, the territory and its reference areas (GeoNature's ``ref_geo`` model: one ``areas``
table for every kind of zoning).

- :mod:`biodiv.areas.territory`: the configured territory (EPCI SIREN or INSEE codes), its outline;
- :mod:`biodiv.areas.layers`: pure checks and repairs of a layer (CRS, codes, geometries);
- :mod:`biodiv.areas.sources`: all HTTP to the geographic services (geo.api.gouv.fr, IGN WFS);
- :mod:`biodiv.areas.reference`: loading, storing, fetching and listing the areas in the store."""
