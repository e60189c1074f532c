-- Push notifications: the app's devices, one row per push token (a token moves to the login
-- that registered it last), and per-channel delivery records of reminders.
CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    platform TEXT NOT NULL CHECK (platform IN ('ios', 'android')),
    token TEXT NOT NULL UNIQUE CHECK (length(token) BETWEEN 8 AND 4096),
    app_id TEXT NOT NULL CHECK (length(app_id) BETWEEN 1 AND 255),
    language TEXT NOT NULL CHECK (length(language) BETWEEN 2 AND 35),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX devices_patient_idx ON devices (patient_id, id);

-- What each channel of a reminder did: one row per (reminder, channel, target), target being
-- the device for push and '' for email. The reminder row stays the outbox: its claim (status
-- 'sending', due_at = the lease's end, attempts) holds every channel, and a row here is written
-- in the same transaction that ends the claim, so a channel delivered on an earlier attempt is
-- not sent again when another one is retried.
CREATE TABLE reminder_deliveries (
    reminder_id TEXT NOT NULL REFERENCES reminders(id) ON DELETE CASCADE,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'push')),
    target TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sent', 'retrying', 'failed')),
    attempts INTEGER NOT NULL CHECK (attempts >= 1),
    last_error TEXT,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (reminder_id, channel, target)
);

-- Consent is per channel: `push_reminders` joins the kinds (SQLite cannot change a CHECK, so the
-- table is rebuilt; nothing references it).
CREATE TABLE consents_new (
    id TEXT PRIMARY KEY NOT NULL,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    kind TEXT NOT NULL CHECK (kind IN ('treatment', 'photos', 'email_reminders', 'push_reminders', 'marketing_photos')),
    granted BOOLEAN NOT NULL,
    actor_account_id TEXT REFERENCES accounts(id),
    actor_role TEXT NOT NULL,
    note TEXT,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO consents_new SELECT id, clinic_id, patient_id, kind, granted, actor_account_id, actor_role, note, created_at FROM consents;
DROP TABLE consents;
ALTER TABLE consents_new RENAME TO consents;
CREATE INDEX consents_patient_idx ON consents (patient_id, kind, id);

-- Reminders are planned whatever the channel consents (they stay in the app's list): the future
-- ones held back for want of email consent come back; each channel is checked when they are due.
UPDATE reminders SET status = 'scheduled', status_reason = NULL
WHERE status = 'cancelled' AND status_reason = 'no_consent' AND due_at > CURRENT_TIMESTAMP;
