-- ZITADEL 12_auth_users_otp_columns: auth.users2.otp_sms_added and otp_email_added
-- Source: cmd/setup/12.go, 12/12_add_otp_columns.sql @ 7c494fd2
-- IF NOT EXISTS added.

ALTER TABLE auth.users2 ADD COLUMN IF NOT EXISTS otp_sms_added BOOL DEFAULT false;
ALTER TABLE auth.users2 ADD COLUMN IF NOT EXISTS otp_email_added BOOL DEFAULT false;
