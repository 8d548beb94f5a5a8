-- 008: the observer's notes on an observation (iNaturalist `description`), harvested with
-- the field selection (biodiv.inat.fields) and exported as Darwin Core occurrenceRemarks.
-- Rows stored before hold no description (their raw record did not select it): the next
-- `biodiv harvest --full` fills it (a row whose record changed is rewritten); rows still
-- in the pre-006 whole-v1 format get it from biodiv.inat.reencode, without a harvest.
ALTER TABLE observations ADD COLUMN description VARCHAR;
