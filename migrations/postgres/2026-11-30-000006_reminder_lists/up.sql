-- A patient's reminder lists (upcoming: scheduled or sending, by due time; past: the rest, latest
-- first) in one statement. The upcoming half reads its own rows from this index without visiting
-- the past ones:
CREATE INDEX reminders_patient_status_idx ON reminders (patient_id, status, due_at);
-- and the past half takes its order (planned_at DESC, id DESC) from this one, so it needs no sort
-- and its LIMIT stops the scan (the id breaks ties between reminders planned for the same time).
DROP INDEX reminders_patient_idx;
CREATE INDEX reminders_patient_idx ON reminders (patient_id, planned_at, id);
