-- An invitation belongs to an address: it can be revoked (by an admin, or because the person's
-- email changed), and a revoked one can never be accepted.
ALTER TABLE invitations ADD COLUMN revoked_at TIMESTAMP;
-- The open invitations of a clinic, listed newest first; and a patient's, revoked on an email change.
CREATE INDEX invitations_open_idx ON invitations (clinic_id, id) WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_patient_idx ON invitations (patient_id) WHERE patient_id IS NOT NULL;
