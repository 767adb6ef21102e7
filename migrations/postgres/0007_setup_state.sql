-- migrations/0007_setup_state.sql for PostgreSQL. The sign-in page's server-side state, shared
-- by every instance on this database: page sessions, sign-ins under way (OIDC state, nonce,
-- PKCE verifier) and Login Flow v2 grants. `id` and `lookup` are hashes of the random keys the
-- browser or app holds, never the keys; `body` is the page's data with its secrets sealed under
-- a key derived from those random keys, so a copy of this table alone signs nobody in. Rows
-- expire at `expires_ms` (epoch milliseconds).
CREATE TABLE IF NOT EXISTS setup_state (
    kind TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    tenant TEXT COLLATE "C" NOT NULL,
    owner TEXT COLLATE "C",
    client TEXT COLLATE "C",
    lookup TEXT COLLATE "C",
    body TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms BIGINT,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS setup_state_expiry ON setup_state (kind, expires_ms);
CREATE INDEX IF NOT EXISTS setup_state_client ON setup_state (kind, client);
CREATE INDEX IF NOT EXISTS setup_state_lookup ON setup_state (kind, tenant, lookup);
CREATE INDEX IF NOT EXISTS setup_state_owner ON setup_state (tenant, owner);
