"""Public outputs built from the store: the static public atlas (:mod:`biodiv.publish.site`)
and the map of stakes for planning (:mod:`biodiv.publish.stakes`). Always public: they go
through the public layer of :mod:`biodiv.report.sheets`."""
