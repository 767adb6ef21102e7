-- migrations/0002_app_passwords.sql for PostgreSQL. App passwords: one per person and device,
-- shown once, kept as an argon2 PHC hash. The id is the public part of the secret
-- (`<id>-<secret>`), unique within a tenant, so a login costs one argon2 verification.
-- Revoking deletes the row.
CREATE TABLE IF NOT EXISTS app_passwords (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    user_name TEXT COLLATE "C" NOT NULL,
    label TEXT NOT NULL,
    hash TEXT NOT NULL,
    created BIGINT NOT NULL,
    last_used BIGINT,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS app_passwords_user ON app_passwords (tenant, user_name);
