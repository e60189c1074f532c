DROP INDEX audit_events_patient_idx;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events ADD PRIMARY KEY (id);
CREATE INDEX audit_events_clinic_idx ON audit_events (clinic_id, id);
CREATE INDEX audit_events_patient_idx ON audit_events (clinic_id, patient_id, id);
