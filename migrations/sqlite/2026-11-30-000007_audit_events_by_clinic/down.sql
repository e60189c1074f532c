CREATE TABLE audit_events_by_id (
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
INSERT INTO audit_events_by_id
    (id, clinic_id, actor_account_id, actor_role, action, resource_type, resource_id, patient_id, request_id, created_at)
    SELECT id, clinic_id, actor_account_id, actor_role, action, resource_type, resource_id, patient_id, request_id,
           created_at
    FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_by_id RENAME TO audit_events;
CREATE INDEX audit_events_clinic_idx ON audit_events (clinic_id, id);
CREATE INDEX audit_events_patient_idx ON audit_events (clinic_id, patient_id, id);
