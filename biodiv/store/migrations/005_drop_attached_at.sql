-- 005: observations.attached_at is dropped. Every attach stamped every row it examined,
-- which cost a 1M-row attach ~16 bytes per row in the write-ahead log and ~0.06 s (a
-- twentieth of the whole attach) for a date nothing read: `runs` records when each
-- attach ran (kind 'attach', with its statistics), and `needs_attach` says what is pending.
ALTER TABLE observations DROP COLUMN attached_at;
