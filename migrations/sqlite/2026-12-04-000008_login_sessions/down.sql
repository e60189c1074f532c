ALTER TABLE idempotency_keys DROP COLUMN request_path;
DROP INDEX refresh_tokens_account_idx;
