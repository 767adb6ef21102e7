-- The sign-in page's server-side state, shared by every instance on the state: page sessions,
-- sign-ins under way (OIDC state, nonce, PKCE verifier) and Login Flow v2 grants. `id` and
-- `lookup` are hashes of the random keys the browser or app holds, never the keys; `body` is the
-- page's data with its secrets sealed under a key derived from those random keys, so a copy of
-- this table alone signs nobody in. Rows expire at `expires_ms` (epoch milliseconds).
CREATE TABLE IF NOT EXISTS setup_state (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    owner TEXT,
    client TEXT,
    lookup TEXT,
    body TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms INTEGER,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS setup_state_expiry ON setup_state (kind, expires_ms);
CREATE INDEX IF NOT EXISTS setup_state_client ON setup_state (kind, client);
CREATE INDEX IF NOT EXISTS setup_state_lookup ON setup_state (kind, tenant, lookup);
CREATE INDEX IF NOT EXISTS setup_state_owner ON setup_state (tenant, owner);
