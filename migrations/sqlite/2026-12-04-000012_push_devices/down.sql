DROP TABLE reminder_deliveries;
DROP TABLE devices;
DELETE FROM consents WHERE kind = 'push_reminders';
CREATE TABLE consents_old (
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
INSERT INTO consents_old SELECT id, clinic_id, patient_id, kind, granted, actor_account_id, actor_role, note, created_at FROM consents;
DROP TABLE consents;
ALTER TABLE consents_old RENAME TO consents;
CREATE INDEX consents_patient_idx ON consents (patient_id, kind, id);
