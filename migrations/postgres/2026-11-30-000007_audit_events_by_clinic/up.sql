-- Read audit events arrive at the rate of reads, so each costs what its row and indexes cost to
-- write: the primary key is the order a clinic's events are listed in (clinic_id, id; ids are
-- time-ordered), which makes the separate (clinic_id, id) index redundant — three b-trees written
-- per event, now two. A patient's events are found by the patient alone (export, erasure, the
-- staff audit list filtered by patient): patient ids are unique across clinics, and the old
-- (clinic_id, patient_id, id) index could not serve a lookup without the clinic.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events ADD PRIMARY KEY (clinic_id, id);
DROP INDEX audit_events_clinic_idx;
DROP INDEX audit_events_patient_idx;
CREATE INDEX audit_events_patient_idx ON audit_events (patient_id, id);
