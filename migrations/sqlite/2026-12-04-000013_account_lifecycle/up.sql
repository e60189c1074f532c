-- Account lifecycle (issue 25). A staff account an admin deactivated keeps its row (its name on
-- audit events and alerts) but cannot log in; NULL means active.
ALTER TABLE accounts ADD COLUMN deactivated_at TIMESTAMP;

-- Password reset links: single use, expiring, only the SHA-256 of the token is kept. A reset,
-- a password change or a deactivation marks the account's open ones used.
CREATE TABLE password_resets (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX password_resets_account_idx ON password_resets (account_id, created_at);
