-- migrations/0005_leases.sql for PostgreSQL. Leases: work that gateway instances sharing this
-- database do once for all of them (a CRM collection's refresh per TTL, an OAuth token
-- refresh). `holder` is the instance doing it until `until_ms` (a crashed holder's lease
-- simply runs out); `done_ms` is when it was last done, so another instance within the TTL
-- reuses the stored result instead of redoing it. Times are epoch milliseconds.
CREATE TABLE IF NOT EXISTS leases (
    key TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT,
    until_ms BIGINT NOT NULL DEFAULT 0,
    done_ms BIGINT
);
