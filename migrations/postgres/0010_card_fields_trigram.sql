-- Substring search on card fields through pg_trgm GIN indexes: addressbook-query's
-- text-matches of 3 characters or more add a LIKE/ILIKE condition the indexes answer
-- (`store/postgres/fields.rs`); the exact test stays, so the answers do not change.
-- Creating the extension needs a privilege the database's owner may lack: then there are no
-- indexes, the same queries scan the field rows, and the store says so once when it opens.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pg_trgm not available (%): card text search scans the field rows', SQLERRM;
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        -- `key` (the i;unicode-casemap fold) for that collation, `value` for the others.
        CREATE INDEX IF NOT EXISTS card_fields_key_trgm ON card_fields USING gin (key gin_trgm_ops);
        CREATE INDEX IF NOT EXISTS card_fields_value_trgm ON card_fields USING gin (value gin_trgm_ops);
    END IF;
END
$$;
