-- Read audit events arrive at the rate of reads, so each costs what its row and indexes cost to
-- write. Stored in the order they are listed in (a clinic's events by id, which is time-ordered):
-- the table is that order itself (WITHOUT ROWID), where it was a rowid table plus an index on the
-- id plus one on (clinic_id, id) — four b-trees written per event, now two. A patient's events are
-- found by the patient alone (export, erasure, the staff audit list filtered by patient): patient
-- ids are unique across clinics, and the old (clinic_id, patient_id, id) index could not serve a
-- lookup without the clinic, so those scanned every event.
CREATE TABLE audit_events_by_clinic (
    id TEXT NOT NULL,
    clinic_id TEXT NOT NULL,
    actor_account_id TEXT,
    actor_role TEXT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT,
    patient_id TEXT,
    request_id TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id)
) WITHOUT ROWID;
INSERT INTO audit_events_by_clinic
    (id, clinic_id, actor_account_id, actor_role, action, resource_type, resource_id, patient_id, request_id, created_at)
    SELECT id, clinic_id, actor_account_id, actor_role, action, resource_type, resource_id, patient_id, request_id,
           created_at
    FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_by_clinic RENAME TO audit_events;
CREATE INDEX audit_events_patient_idx ON audit_events (patient_id, id);
