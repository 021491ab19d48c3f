-- Snapshots of alerts, the audit journal, and what retention needs.
--
-- snapshots: one JPEG per alert (boxes drawn, faces blurred), kept in the blob store; this row
-- says where. audit_journal: append-only, each record chained to the one before by hash, so a
-- modified, removed or reordered record is detected by `vigie audit verify`. audit_anchor: where
-- the chain starts once retention has removed its oldest records (their last hash), so the rest
-- still verifies.

CREATE TABLE snapshots (
    alert_id       TEXT PRIMARY KEY,
    camera_id      TEXT    NOT NULL,
    blob_key       TEXT    NOT NULL,
    frame_sequence INTEGER NOT NULL,
    captured_at    REAL    NOT NULL,
    taken_at       REAL    NOT NULL,
    faces_blurred  INTEGER NOT NULL DEFAULT 0,
    width          INTEGER NOT NULL DEFAULT 0,
    height         INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX snapshots_by_taken_at ON snapshots (taken_at);

CREATE TABLE audit_journal (
    seq        INTEGER PRIMARY KEY,  -- 1, 2, 3 ... in the order records were appended
    record_id  TEXT    NOT NULL UNIQUE,
    at         REAL    NOT NULL,
    actor      TEXT    NOT NULL,
    role       TEXT    NOT NULL DEFAULT '',
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL DEFAULT '',
    reason     TEXT    NOT NULL DEFAULT '',
    request_id TEXT    NOT NULL DEFAULT '',
    camera_id  TEXT    NOT NULL DEFAULT '',
    details    TEXT    NOT NULL DEFAULT '{}',
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);

CREATE INDEX audit_journal_by_at ON audit_journal (at);

CREATE TABLE audit_anchor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    after_seq INTEGER NOT NULL,   -- records up to this seq were removed by retention
    hash      TEXT    NOT NULL,   -- the hash of that last removed record
    removed_at REAL   NOT NULL
);

-- The policy that granted an alert and how long it may be kept (0: the archive's default).
ALTER TABLE alerts ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN policy_version   TEXT    NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN retention_days   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE verdicts ADD COLUMN role TEXT NOT NULL DEFAULT '';

-- Searches by event type.
CREATE INDEX events_by_kind_time ON events (kind, occurred_at);
CREATE INDEX alerts_by_kind_first_seen ON alerts (kind, first_seen);
