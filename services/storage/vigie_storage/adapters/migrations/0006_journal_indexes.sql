-- The journal page filters by actor, subject or camera and reads newest first: without an index
-- each filtered page scanned the whole journal (every call, verdict and search of the retention
-- period). One index per filter, ending in seq, so a page is read in order from the index and
-- stops at its limit.

CREATE INDEX audit_journal_by_actor ON audit_journal (actor, seq);
CREATE INDEX audit_journal_by_subject ON audit_journal (subject, seq);
CREATE INDEX audit_journal_by_camera ON audit_journal (camera_id, seq);
