-- Listings read an index only. PROPFIND Depth 1 (name order) and the change log (sequence
-- order: sync-collection) want each member's name, media type, ETag, size and times; those
-- were in the table rows only, next to the bodies, so a listing looked every member's row up
-- and, at 100,000 members, read most of the table from the kernel. The body's length is now
-- stored (`size`, written with the body by `store/sqlite/items.rs::write_item_tx`), and two
-- indexes hold every column a listing reads, in the two orders.
ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
-- The octet length, whatever type an older release stored the body with.
UPDATE items SET size = length(CAST(body AS BLOB));
-- A calendar-query's candidates are tested on the index's bounds (SQLite defers the table
-- seek), so only the members whose bounds overlap the range have their row and body read.
CREATE INDEX items_listing ON items (collection_id, name, content_type, etag, size, modified, created,
    component, first_start, last_end);
-- Replaces the (collection_id, seq) index: same order, and the columns of a change.
DROP INDEX items_seq;
CREATE INDEX items_seq ON items (collection_id, seq, name, content_type, etag, size, modified, created);
