"""Step 2, the spatial attach: every observation linked to the areas it falls in, with a certainty.

- :mod:`biodiv.attach.precision`: the pure rules (accuracy disk, obscured cell) and the per-area grid index;
- :mod:`biodiv.attach.area_cache`: that index kept in the database;
- :mod:`biodiv.attach.crs`: the territory's metric projection (Lambert-93 or the overseas UTM);
- :mod:`biodiv.attach.links`: the DuckDB I/O (read observations, write ``observation_areas``)."""
