-- SQLite's 0012 fills its FTS5 trigram index once per write transaction instead of through a
-- per-row trigger. PostgreSQL's pg_trgm GIN indexes (0010) need no such change: a GIN index
-- keeps its own pending list (`fastupdate`, on by default) and merges it in bulk, so rows
-- inserted one by one do not each rewrite the index. This migration keeps the two backends'
-- schema versions equal.
SELECT 1;
