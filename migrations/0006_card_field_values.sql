-- addressbook-query answered from the field index for every collation and match type: each
-- field keeps the string a text-match tests (unfolded) beside its i;unicode-casemap key, and
-- structured properties (N, ORG) also their single values. The old rows lack both, so they go:
-- the gateway indexes every card without fields when it starts (app.rs).
ALTER TABLE card_fields ADD COLUMN value TEXT NOT NULL DEFAULT '';
DELETE FROM card_fields;
