-- A patient's reminder lists (upcoming: scheduled or sending, by due time; past: the rest) read
-- their own rows from this index without visiting the other list's rows.
CREATE INDEX reminders_patient_status_idx ON reminders (patient_id, status, due_at);
