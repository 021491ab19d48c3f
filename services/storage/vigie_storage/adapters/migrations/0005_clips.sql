-- Clips of alerts: a few seconds of the camera around each alert, redacted like its snapshot,
-- kept in the blob store as one blob (see vigie_storage/clips.py). The clip is recorded on its
-- alert's snapshot row, so retention deletes the two together; NULL until the clip is stored
-- (it waits for the frames after the alert), and for snapshots taken before clips existed.

ALTER TABLE snapshots ADD COLUMN clip_key TEXT;
ALTER TABLE snapshots ADD COLUMN clip_frames INTEGER;
ALTER TABLE snapshots ADD COLUMN clip_taken_at REAL;
ALTER TABLE snapshots ADD COLUMN clip_faces_blurred INTEGER;
ALTER TABLE snapshots ADD COLUMN clip_width INTEGER;
ALTER TABLE snapshots ADD COLUMN clip_height INTEGER;
