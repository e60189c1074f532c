DROP INDEX invitations_patient_idx;
DROP INDEX invitations_open_idx;
ALTER TABLE invitations DROP COLUMN revoked_at;
