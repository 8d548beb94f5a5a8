"""The iNaturalist harvester: ``client`` (all HTTP), ``parse`` (pure JSON -> rows),
``db`` (all SQL writes), ``harvest`` (orchestration), ``progress`` (rich display)."""
