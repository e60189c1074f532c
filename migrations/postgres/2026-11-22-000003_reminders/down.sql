DROP TABLE alerts;
DROP TABLE serum_applications;
DROP TABLE checkins;
DROP TABLE reminders;
DROP TABLE protocols;
ALTER TABLE clinics DROP COLUMN reply_to;
