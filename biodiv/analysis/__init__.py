"""Step 4, query and exchange: named read-only queries (:mod:`biodiv.analysis.queries`,
``queries/*.sql``), protection and red-list statuses (:mod:`biodiv.analysis.refs`), exports
(:mod:`biodiv.analysis.exports`, one module per format, Darwin Core Archive included)."""
