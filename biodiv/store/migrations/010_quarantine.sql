-- 010: the records iNaturalist sent that fail the checks of biodiv.inat.fields, kept aside
-- (quarantine) instead of stopping the harvest on their page forever; and the query each
-- harvest cursor belongs to.
-- Why a table and not a log line: the next run asks iNaturalist for these ids again (by id),
-- `biodiv status` and the dashboard count them, and an officer can read what was received
-- (`raw`, the record reduced to the selection) to report it. No key (DuckLake has none):
-- biodiv.inat.db writes each id once.
CREATE TABLE quarantine (
    id             BIGINT,                   -- observation id; NULL when the record has no usable id
    reason         VARCHAR NOT NULL,         -- the check that failed, naming the field
    raw            VARCHAR,                  -- the record as received, reduced to the selection (JSON)
    api            VARCHAR,                  -- v2, or v1 after a fallback
    first_seen_at  TIMESTAMPTZ NOT NULL,
    last_seen_at   TIMESTAMPTZ NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 1,
    run_id         INTEGER                   -- the harvest run that last saw it fail
);
-- The observation query a cursor and its last_success_at were computed for (bbox, place,
-- project, as canonical JSON): another territory's query makes the next run a full one
-- (biodiv.inat.harvest), not an `updated_since` run over a box it never read.
ALTER TABLE harvest_state ADD COLUMN query VARCHAR;
-- When a taxon's complete list of conservation statuses (with places) was last read from
-- /v2/taxa: an observation embeds at most one status, so each observed species is asked once
-- (batched with the missing ancestors, biodiv.inat.harvest._resolve_taxa).
ALTER TABLE taxa ADD COLUMN statuses_at TIMESTAMPTZ;
