DROP TABLE idempotency_keys;
DROP TABLE audit_events;
DROP TABLE session_areas;
DROP TABLE sessions;
DROP TABLE screenings;
DROP TABLE courses;
DROP TABLE consents;
ALTER TABLE invitations DROP COLUMN patient_id;
DROP TABLE patients;
