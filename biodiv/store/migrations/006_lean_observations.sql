-- 006: what API v2's field selection brings that biodiv did not keep yet, and the lean
-- raw record (biodiv.inat.fields).
--   user_name          the observer's display name (iNaturalist profile "name"; NULL if unset)
--   time_zone          the observation's IANA time zone (observed_time_zone, e.g. Europe/Paris)
--   photo_attribution  the first photo's attribution line, e.g. "(c) someone, some rights reserved (CC BY)"
--   identified_by      Darwin Core identifiedBy: who made the earliest current identification
--                      of the observation's taxon (display name, else login)
--   identified_at      Darwin Core dateIdentified: when
-- observation_raw.raw now holds only the selected fields (zlib with a preset dictionary).
-- Rows stored before this migration hold whole v1 records: the meta key below says so,
-- and biodiv.inat.reencode (run by `biodiv migrate` and at the start of a harvest)
-- re-encodes them to the selection and fills the columns above, without a new harvest.
ALTER TABLE observations ADD COLUMN user_name VARCHAR;
ALTER TABLE observations ADD COLUMN time_zone VARCHAR;
ALTER TABLE observations ADD COLUMN photo_attribution VARCHAR;
ALTER TABLE observations ADD COLUMN identified_by VARCHAR;
ALTER TABLE observations ADD COLUMN identified_at TIMESTAMPTZ;
INSERT INTO meta (key, value)
SELECT 'observation_raw_format', CASE WHEN EXISTS (SELECT 1 FROM observation_raw) THEN 'v1-full' ELSE 'selection-1' END
ON CONFLICT (key) DO UPDATE SET value = excluded.value;
