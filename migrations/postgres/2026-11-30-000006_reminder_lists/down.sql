DROP INDEX reminders_patient_idx;
CREATE INDEX reminders_patient_idx ON reminders (patient_id, planned_at);
DROP INDEX reminders_patient_status_idx;
