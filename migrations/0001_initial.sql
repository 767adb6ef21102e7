-- The schema of crmdav 0.1.0. Every statement is IF NOT EXISTS, so a state file that release
-- wrote (these tables, no _sqlx_migrations) is adopted in place. sqlx records each applied
-- migration with its checksum: change the schema in a new file, never by editing this one.
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    components TEXT NOT NULL DEFAULT '',
    seq INTEGER NOT NULL DEFAULT 0,
    min_seq INTEGER NOT NULL DEFAULT 0,
    instance TEXT NOT NULL,
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    UNIQUE (tenant, path)
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    etag TEXT NOT NULL,
    uid TEXT,
    component TEXT,
    first_start INTEGER,
    last_end INTEGER,
    seq INTEGER NOT NULL,
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    UNIQUE (collection_id, name)
);
CREATE INDEX IF NOT EXISTS items_uid ON items (collection_id, uid);
CREATE INDEX IF NOT EXISTS items_seq ON items (collection_id, seq);
CREATE TABLE IF NOT EXISTS tombstones (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (collection_id, name)
);
CREATE TABLE IF NOT EXISTS card_fields (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    prop TEXT NOT NULL,
    key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS card_fields_item ON card_fields (item_id);
CREATE INDEX IF NOT EXISTS card_fields_prop ON card_fields (prop, item_id);
CREATE TABLE IF NOT EXISTS props (
    tenant TEXT NOT NULL,
    path TEXT NOT NULL,
    ns TEXT NOT NULL,
    name TEXT NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (tenant, path, ns, name)
);
CREATE TABLE IF NOT EXISTS kv (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- The identity map of CRM-backed collections.
CREATE TABLE IF NOT EXISTS crm_items (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    crm_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    client_copy BLOB,
    base_record TEXT,
    record_hash TEXT,
    version TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection_id, name),
    UNIQUE (collection_id, crm_id)
);
CREATE TABLE IF NOT EXISTS crm_collections (
    collection_id INTEGER PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
    watermark TEXT,
    full_scan_at INTEGER
);
