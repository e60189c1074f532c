-- Ending every login session of an account (password change, deactivation) and erasing a patient
-- find the account's refresh tokens (its sessions) by account; they were read from every token.
CREATE INDEX refresh_tokens_account_idx ON refresh_tokens (account_id);
-- A stored idempotent answer about a patient does not always name them in its body (a staff
-- member's POST /api/v1/patients/{id}/consents); erasure finds it by the path it answered too.
ALTER TABLE idempotency_keys ADD COLUMN request_path TEXT NOT NULL DEFAULT '';
