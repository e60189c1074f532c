DROP TABLE invitations;
DROP TABLE refresh_tokens;
DROP TABLE accounts;
DROP TABLE clinics;
