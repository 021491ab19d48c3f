-- What a track summary says beyond where and when: its speeds, a vehicle's colour, and the time
-- it spent in each zone of its camera's scene. Summaries stored before this migration keep the
-- defaults: speeds 0, no colour, no zone times (they were never measured).

ALTER TABLE track_summaries ADD COLUMN mean_speed REAL NOT NULL DEFAULT 0;
ALTER TABLE track_summaries ADD COLUMN max_speed  REAL NOT NULL DEFAULT 0;
ALTER TABLE track_summaries ADD COLUMN colour     TEXT NOT NULL DEFAULT '';

-- "Red vehicles last night": a colour picks out few rows, then time orders them.
CREATE INDEX track_summaries_by_colour_first_seen ON track_summaries (colour, first_seen);

-- One row per track and zone it was seen in, rather than a JSON map in the summary's row: "tracks
-- that spent more than 30 s in zone X" is then a range of the (zone, seconds) index instead of a
-- parse of every summary. Rewritten whole with its summary, so a replayed summary leaves the
-- same rows.
CREATE TABLE track_zone_times (
    track_id TEXT NOT NULL,
    zone     TEXT NOT NULL,
    seconds  REAL NOT NULL,
    PRIMARY KEY (track_id, zone)
) WITHOUT ROWID;

CREATE INDEX track_zone_times_by_zone_seconds ON track_zone_times (zone, seconds);
