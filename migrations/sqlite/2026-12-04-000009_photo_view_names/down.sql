CREATE TABLE photos_new (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    session_id TEXT REFERENCES sessions(id),
    time_point TEXT NOT NULL CHECK (time_point IN ('baseline', 'session', 'day', 'follow_up')),
    day_number INTEGER,
    view TEXT NOT NULL CHECK (view IN ('frontal', 'left_45', 'right_45', 'left_lateral', 'right_lateral', 'other')),
    area TEXT,
    taken_at TIMESTAMP NOT NULL,
    colour_card BOOLEAN NOT NULL,
    roi TEXT,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    full_bytes BIGINT NOT NULL,
    full_key TEXT NOT NULL,
    thumb_key TEXT NOT NULL,
    full_etag TEXT NOT NULL,
    thumb_etag TEXT NOT NULL,
    a_star DOUBLE PRECISION NOT NULL,
    algorithm_version TEXT NOT NULL,
    uploaded_by TEXT NOT NULL REFERENCES accounts(id),
    created_at TIMESTAMP NOT NULL
);
INSERT INTO photos_new
    (id, clinic_id, patient_id, session_id, time_point, day_number, view, area, taken_at, colour_card, roi,
     sha256, width, height, full_bytes, full_key, thumb_key, full_etag, thumb_etag, a_star, algorithm_version,
     uploaded_by, created_at)
    SELECT id, clinic_id, patient_id, session_id, time_point, day_number,
           CASE view WHEN 'left45' THEN 'left_45' WHEN 'right45' THEN 'right_45' ELSE view END,
           area, taken_at, colour_card, roi, sha256, width, height, full_bytes, full_key, thumb_key, full_etag,
           thumb_etag, a_star, algorithm_version, uploaded_by, created_at
    FROM photos;
DROP TABLE photos;
ALTER TABLE photos_new RENAME TO photos;
CREATE INDEX photos_patient_idx ON photos (patient_id, taken_at);
CREATE UNIQUE INDEX photos_patient_sha_idx ON photos (patient_id, sha256);
