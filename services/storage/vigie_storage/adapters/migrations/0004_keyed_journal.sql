-- The keyed audit journal.
--
-- audit_journal.key_id: the id of the key whose HMAC is in `hash` ('' for records chained by
-- plain SHA-256 before this version; they are vouched for by the first checkpoint).
-- audit_anchor.key_id/mac: retention MACs the anchor it moves, so it cannot be moved by hand.
-- audit_checkpoints: how many records the journal held and the MAC of the last, MACed; kept
-- apart from the records so removing the newest records, or rewriting the chain, shows.

ALTER TABLE audit_journal ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_anchor ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_anchor ADD COLUMN mac    TEXT NOT NULL DEFAULT '';

CREATE TABLE audit_checkpoints (
    record_count INTEGER PRIMARY KEY,  -- records in the journal, from the genesis
    head_hash    TEXT    NOT NULL,     -- the MAC of record `record_count`
    at           REAL    NOT NULL,
    key_id       TEXT    NOT NULL,
    mac          TEXT    NOT NULL
);
