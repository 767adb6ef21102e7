-- Substring search on card fields through an FTS5 trigram index: addressbook-query's
-- text-matches of 3 characters or more read the index's candidates instead of every field row
-- of the collection (`store/sqlite/fields.rs`). The index is external content over
-- card_fields, kept current by the triggers below, so no write path changes.
--
-- card_fields gets an INTEGER PRIMARY KEY first: the index refers to its rows by rowid, and
-- VACUUM (and VACUUM INTO, the backup) may renumber the implicit rowid of a table without one.
CREATE TABLE card_fields_v10 (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    prop TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL DEFAULT ''
);
INSERT INTO card_fields_v10 (item_id, prop, key, value)
    SELECT item_id, prop, key, value FROM card_fields;
DROP TABLE card_fields;
ALTER TABLE card_fields_v10 RENAME TO card_fields;
CREATE INDEX card_fields_item ON card_fields (item_id);
CREATE INDEX card_fields_prop ON card_fields (prop, item_id);

-- Both columns: `key` (the i;unicode-casemap fold) answers that collation, `value` (as sent)
-- i;octet and i;ascii-casemap. The tokenizer folds case itself (per code point, the same on
-- both sides), so an index hit is a superset of each collation's matches: the exact test stays.
CREATE VIRTUAL TABLE card_fields_trgm USING fts5(
    key, value, content = 'card_fields', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER card_fields_trgm_insert AFTER INSERT ON card_fields BEGIN
    INSERT INTO card_fields_trgm (rowid, key, value) VALUES (new.id, new.key, new.value);
END;
CREATE TRIGGER card_fields_trgm_delete AFTER DELETE ON card_fields BEGIN
    INSERT INTO card_fields_trgm (card_fields_trgm, rowid, key, value)
        VALUES ('delete', old.id, old.key, old.value);
END;
CREATE TRIGGER card_fields_trgm_update AFTER UPDATE ON card_fields BEGIN
    INSERT INTO card_fields_trgm (card_fields_trgm, rowid, key, value)
        VALUES ('delete', old.id, old.key, old.value);
    INSERT INTO card_fields_trgm (rowid, key, value) VALUES (new.id, new.key, new.value);
END;
-- The rows already stored.
INSERT INTO card_fields_trgm (card_fields_trgm) VALUES ('rebuild');
