-- ZITADEL setup step 12_auth_users_otp_columns: whether OTP via SMS / email is set up,
-- on the auth users view.
ALTER TABLE auth.users2 ADD COLUMN IF NOT EXISTS otp_sms_added BOOLEAN DEFAULT false;
ALTER TABLE auth.users2 ADD COLUMN IF NOT EXISTS otp_email_added BOOLEAN DEFAULT false;
