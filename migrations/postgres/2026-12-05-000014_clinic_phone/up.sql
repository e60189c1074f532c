-- The clinic's phone number, told to a patient whose check-in from an email link needs them to
-- call the clinic now (issue 25).
ALTER TABLE clinics ADD COLUMN phone TEXT;
