-- Issue 12: per CRM-backed collection, the hash of the connector entity definition and the
-- mapping it was last rendered with (a change re-renders every item once at the next
-- refresh), and how far the CRM's deleted-records feed has been read (deletions between full
-- scans).
ALTER TABLE crm_collections ADD COLUMN definition_hash TEXT;
ALTER TABLE crm_collections ADD COLUMN deletions_watermark TEXT;
