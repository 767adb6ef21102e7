-- migrations/0004_epoch.sql for PostgreSQL. Restore safety (RFC 6578 §3.2): a collection's sync
-- tokens carry its epoch once the state has been restored from a backup. `crmdav new-epoch`
-- (run after pg_restore) moves every collection to a new random epoch and remembers the one
-- before it with the sequence reached at the backup: tokens of that epoch up to that sequence
-- stay valid, later ones (handed out after the backup) are refused. The empty epoch is the
-- state's first timeline, whose tokens keep their pre-epoch format.
ALTER TABLE collections ADD COLUMN IF NOT EXISTS epoch TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE collections ADD COLUMN IF NOT EXISTS prev_epoch TEXT COLLATE "C";
ALTER TABLE collections ADD COLUMN IF NOT EXISTS prev_seq BIGINT;
