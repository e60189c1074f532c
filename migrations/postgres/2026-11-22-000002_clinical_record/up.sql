CREATE TABLE patients (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    account_id TEXT UNIQUE REFERENCES accounts(id),
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    date_of_birth DATE,
    time_zone TEXT NOT NULL,
    fitzpatrick INTEGER CHECK (fitzpatrick BETWEEN 1 AND 6),
    quiet_start TEXT NOT NULL,
    quiet_end TEXT NOT NULL,
    language TEXT NOT NULL,
    clinical_notes TEXT,
    search_text TEXT NOT NULL,
    archived_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX patients_clinic_idx ON patients (clinic_id, id);
CREATE UNIQUE INDEX patients_clinic_email_idx ON patients (clinic_id, email);

ALTER TABLE invitations ADD COLUMN patient_id TEXT REFERENCES patients(id);

CREATE TABLE consents (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    kind TEXT NOT NULL CHECK (kind IN ('treatment', 'photos', 'email_reminders', 'marketing_photos')),
    granted BOOLEAN NOT NULL,
    actor_account_id TEXT REFERENCES accounts(id),
    actor_role TEXT NOT NULL,
    note TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX consents_patient_idx ON consents (patient_id, kind, id);

CREATE TABLE courses (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    concerns TEXT NOT NULL,
    planned_sessions INTEGER NOT NULL CHECK (planned_sessions BETWEEN 1 AND 12),
    interval_days INTEGER NOT NULL CHECK (interval_days BETWEEN 1 AND 365),
    status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'cancelled')),
    notes TEXT,
    created_by TEXT NOT NULL REFERENCES accounts(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX courses_patient_idx ON courses (patient_id, id);

CREATE TABLE screenings (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    answers TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('clear', 'needs_override', 'contraindicated')),
    findings TEXT NOT NULL,
    screened_by TEXT NOT NULL REFERENCES accounts(id),
    override_by TEXT REFERENCES accounts(id),
    override_reason TEXT,
    overridden_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX screenings_patient_idx ON screenings (patient_id, created_at);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    course_id TEXT NOT NULL REFERENCES courses(id),
    screening_id TEXT NOT NULL REFERENCES screenings(id),
    performed_at TIMESTAMP NOT NULL,
    clinician_id TEXT NOT NULL REFERENCES accounts(id),
    device_kind TEXT NOT NULL CHECK (device_kind IN ('pen', 'roller', 'rf_pen')),
    device_model TEXT NOT NULL,
    cartridge_lot TEXT,
    numbing TEXT,
    products_applied TEXT NOT NULL,
    erythema_grade INTEGER CHECK (erythema_grade BETWEEN 0 AND 4),
    pinpoint_bleeding BOOLEAN,
    notes TEXT,
    warnings TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed', 'cancelled')),
    cancel_reason TEXT,
    cancelled_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_course_idx ON sessions (course_id, performed_at);
CREATE INDEX sessions_patient_idx ON sessions (patient_id, performed_at);

CREATE TABLE session_areas (
    id TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    area TEXT NOT NULL,
    depth_mm DOUBLE PRECISION NOT NULL CHECK (depth_mm >= 0.25 AND depth_mm <= 3.0),
    passes INTEGER NOT NULL CHECK (passes BETWEEN 1 AND 20),
    UNIQUE (session_id, position)
);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL,
    actor_account_id TEXT,
    actor_role TEXT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT,
    patient_id TEXT,
    request_id TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_clinic_idx ON audit_events (clinic_id, id);
CREATE INDEX audit_events_patient_idx ON audit_events (clinic_id, patient_id, id);

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER,
    response_body TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
