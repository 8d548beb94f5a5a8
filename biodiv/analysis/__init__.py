"""Step 4, query and exchange: named read-only queries (:mod:`biodiv.analysis.queries`,
``queries/*.sql``), protection and red-list statuses (:mod:`biodiv.analysis.refs`), exports
(:mod:`biodiv.analysis.exports`) and the Darwin Core Archive (:mod:`biodiv.analysis.dwca`)."""
