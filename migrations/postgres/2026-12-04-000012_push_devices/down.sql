DROP TABLE reminder_deliveries;
DROP TABLE devices;
DELETE FROM consents WHERE kind = 'push_reminders';
ALTER TABLE consents DROP CONSTRAINT consents_kind_check;
ALTER TABLE consents ADD CONSTRAINT consents_kind_check
    CHECK (kind IN ('treatment', 'photos', 'email_reminders', 'marketing_photos'));
