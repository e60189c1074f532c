ALTER TABLE clinics ADD COLUMN reply_to TEXT;

CREATE TABLE protocols (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    version INTEGER NOT NULL,
    steps TEXT NOT NULL,
    created_by TEXT REFERENCES accounts(id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (clinic_id, version)
);

CREATE TABLE reminders (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    session_id TEXT NOT NULL REFERENCES sessions(id),
    protocol_id TEXT NOT NULL REFERENCES protocols(id),
    step_key TEXT NOT NULL,
    occurrence INTEGER NOT NULL,
    kind TEXT NOT NULL,
    planned_at TIMESTAMP NOT NULL,
    due_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'sending', 'sent', 'skipped', 'cancelled', 'failed')),
    attempts INTEGER NOT NULL,
    status_reason TEXT,
    last_error TEXT,
    sent_at TIMESTAMP,
    done_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (session_id, step_key, occurrence)
);
CREATE INDEX reminders_due_idx ON reminders (status, due_at);
CREATE INDEX reminders_patient_idx ON reminders (patient_id, planned_at);
CREATE INDEX reminders_patient_sent_idx ON reminders (patient_id, sent_at);

CREATE TABLE checkins (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    session_id TEXT REFERENCES sessions(id),
    redness INTEGER NOT NULL CHECK (redness BETWEEN 0 AND 4),
    swelling INTEGER NOT NULL CHECK (swelling BETWEEN 0 AND 3),
    pain INTEGER NOT NULL CHECK (pain BETWEEN 0 AND 10),
    itch INTEGER NOT NULL CHECK (itch BETWEEN 0 AND 3),
    red_flags TEXT NOT NULL,
    note TEXT,
    reported_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX checkins_patient_idx ON checkins (patient_id, reported_at);

CREATE TABLE serum_applications (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    session_id TEXT REFERENCES sessions(id),
    product TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX serum_applications_patient_idx ON serum_applications (patient_id, applied_at);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    session_id TEXT REFERENCES sessions(id),
    severity TEXT NOT NULL CHECK (severity IN ('review', 'urgent')),
    reason TEXT NOT NULL,
    details TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    created_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP,
    resolved_by TEXT REFERENCES accounts(id),
    resolution_note TEXT
);
CREATE INDEX alerts_clinic_idx ON alerts (clinic_id, status, id);
CREATE INDEX alerts_open_idx ON alerts (patient_id, reason, status);
