-- Staff emails about urgent alerts: one outbox row per (alert, staff member), written in the
-- transaction that raised the alert and sent by the dispatcher under a lease with retries, like
-- reminders (status 'sending' with due_at moved to the lease's end). 'skipped': the alert was
-- resolved before its email went; 'failed': the retries ran out (and the clinic's admins were
-- alerted that staff could not be reached).
CREATE TABLE alert_notifications (
    id TEXT PRIMARY KEY NOT NULL,
    alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'skipped', 'failed')),
    attempts INTEGER NOT NULL,
    due_at TIMESTAMP NOT NULL,
    last_error TEXT,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX alert_notifications_due_idx ON alert_notifications (status, due_at);
CREATE INDEX alert_notifications_alert_idx ON alert_notifications (alert_id);
