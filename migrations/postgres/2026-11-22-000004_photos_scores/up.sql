CREATE TABLE photos (
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
CREATE INDEX photos_patient_idx ON photos (patient_id, taken_at);
CREATE UNIQUE INDEX photos_patient_sha_idx ON photos (patient_id, sha256);

CREATE TABLE scales (
    code TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (code, version)
);

CREATE TABLE scores (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    scale_code TEXT NOT NULL,
    scale_version INTEGER NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    item_values TEXT,
    photo_ids TEXT NOT NULL,
    session_id TEXT REFERENCES sessions(id),
    time_point TEXT,
    rater TEXT NOT NULL CHECK (rater IN ('clinician', 'patient', 'automatic')),
    rater_account_id TEXT REFERENCES accounts(id),
    algorithm_version TEXT,
    roi TEXT,
    baseline_delta DOUBLE PRECISION,
    recorded_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    FOREIGN KEY (scale_code, scale_version) REFERENCES scales(code, version)
);
CREATE INDEX scores_patient_idx ON scores (patient_id, scale_code, recorded_at);
