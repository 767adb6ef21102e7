-- Leases: work that gateway instances sharing one state do once for all of them (a CRM
-- collection's refresh per TTL, an OAuth token refresh). `holder` is the instance doing it
-- until `until_ms` (a crashed holder's lease simply runs out); `done_ms` is when it was last
-- done, so another instance within the TTL reuses the stored result instead of redoing it.
-- Times are epoch milliseconds. One process owns a SQLite file, so here the table only keeps
-- the two backends alike.
CREATE TABLE IF NOT EXISTS leases (
    key TEXT PRIMARY KEY NOT NULL,
    holder TEXT,
    until_ms INTEGER NOT NULL DEFAULT 0,
    done_ms INTEGER
);
