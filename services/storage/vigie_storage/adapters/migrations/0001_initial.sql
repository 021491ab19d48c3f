-- The first archive schema: events, alerts, verdicts and ended tracks.
--
-- Times are seconds since the Unix epoch (REAL), as in vigie_core.types. Lists and maps are JSON
-- text. No foreign keys: verdicts and alerts arrive on different topics in no guaranteed order,
-- so a verdict may be stored before the alert it is about.

CREATE TABLE events (
    event_id       TEXT PRIMARY KEY,
    camera_id      TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    zone           TEXT    NOT NULL,
    class_name     TEXT    NOT NULL,
    occurred_at    REAL    NOT NULL,
    frame_sequence INTEGER NOT NULL,
    frame_width    INTEGER NOT NULL DEFAULT 0,
    frame_height   INTEGER NOT NULL DEFAULT 0,
    track_ids      TEXT    NOT NULL DEFAULT '[]',
    details        TEXT    NOT NULL DEFAULT '{}'
);

CREATE INDEX events_by_camera_time ON events (camera_id, occurred_at);
-- Searches across every camera are ordered by time too.
CREATE INDEX events_by_time ON events (occurred_at);

CREATE TABLE alerts (
    alert_id          TEXT PRIMARY KEY,
    camera_id         TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    zone              TEXT    NOT NULL,
    severity          TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    first_event_id    TEXT    NOT NULL,
    first_seen        REAL    NOT NULL,
    last_seen         REAL    NOT NULL,
    count             INTEGER NOT NULL DEFAULT 1,
    class_name        TEXT    NOT NULL DEFAULT '',
    track_ids         TEXT    NOT NULL DEFAULT '[]',
    -- The frame that raised the alert; all NULL when the alert carries none.
    frame_camera_id   TEXT,
    frame_sequence    INTEGER,
    frame_captured_at REAL,
    frame_width       INTEGER,
    frame_height      INTEGER,
    reason            TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX alerts_by_camera_first_seen ON alerts (camera_id, first_seen);
CREATE INDEX alerts_by_camera_last_seen ON alerts (camera_id, last_seen);
CREATE INDEX alerts_by_first_seen ON alerts (first_seen);

CREATE TABLE verdicts (
    verdict_id TEXT PRIMARY KEY,
    alert_id   TEXT NOT NULL,
    action     TEXT NOT NULL,
    operator   TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    decided_at REAL NOT NULL
);

CREATE INDEX verdicts_by_alert ON verdicts (alert_id, decided_at);

CREATE TABLE track_summaries (
    track_id        TEXT PRIMARY KEY,
    camera_id       TEXT    NOT NULL,
    class_name      TEXT    NOT NULL,
    first_seen      REAL    NOT NULL,
    last_seen       REAL    NOT NULL,
    hits            INTEGER NOT NULL,
    mean_confidence REAL    NOT NULL DEFAULT 0,
    path            TEXT    NOT NULL DEFAULT '[]'
);

CREATE INDEX track_summaries_by_camera_first_seen ON track_summaries (camera_id, first_seen);
CREATE INDEX track_summaries_by_camera_last_seen ON track_summaries (camera_id, last_seen);
CREATE INDEX track_summaries_by_first_seen ON track_summaries (first_seen);
