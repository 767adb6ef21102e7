-- The trigram index (0010) is filled once per write transaction instead of once per field row.
-- An FTS5 table writes its pending terms out as a new segment at the end of every statement
-- that changed it (a statement savepoint), and the per-row insert trigger made that one
-- segment, and later merges, per field row: a first import of 10,000 contacts (about 90,000
-- field rows) spent most of its store time flushing and merging tiny segments. The writer
-- (`store/sqlite/fields.rs`, `Trigrams`) now inserts a transaction's new field rows into the
-- index with one statement per run of row ids, before the transaction commits and before
-- anything in it deletes field rows. Deletions and updates keep their triggers: the rows they
-- remove are always indexed by then.
DROP TRIGGER card_fields_trgm_insert;
