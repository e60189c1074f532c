DROP TABLE password_resets;
ALTER TABLE accounts DROP COLUMN deactivated_at;
