-- Restore safety (RFC 6578 §3.2): a collection's sync tokens carry its epoch once the state has
-- been restored from a backup. `crmdav restore` (or `crmdav new-epoch` after a pg_restore)
-- moves every collection to a new random epoch and remembers the one before it with the
-- sequence reached at the backup: tokens of that epoch up to that sequence stay valid, later
-- ones (handed out after the backup, naming changes the restore discarded) are refused.
-- The empty epoch is the state's first timeline, whose tokens keep their pre-epoch format.
-- Numbered 0004 so that a concurrent 0003 on another branch cannot collide with it.
ALTER TABLE collections ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
ALTER TABLE collections ADD COLUMN prev_epoch TEXT;
ALTER TABLE collections ADD COLUMN prev_seq INTEGER;
